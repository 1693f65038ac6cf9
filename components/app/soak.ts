/**
 * Soak: after the backend's switch, and only with `berth:frontend`, the web
 * host watches the new backend through the public path for
 * `berth:soakSeconds` (issue 19 item 2): every second one HTTPS request for
 * the health path (`appPath` + `healthPath` with the frontend at the root)
 * to nginx on 127.0.0.1 with the stack's domain (`curl --resolve`: nginx,
 * TLS, the socket, the app; the certificate chain is not checked, a staging
 * CA is not trusted), and the serving instance's unit must keep its
 * `NRestarts` and `InvocationID`. Every probe must answer 200.
 *
 * A failed probe or a restart rolls the backend back with the switch's own
 * rollback path: the previous release's instance, kept idle for the
 * rollback window (components/app/switch.ts; started again and
 * health-checked when the window is over), gets the traffic back with one
 * `mv -T` of the socket symlink; `current`, the state and the worker follow,
 * the failed instance drains. The `up` then fails naming the probe (number,
 * URL, status, time) or the restart; the frontend's publish depends on this
 * command, so it does not run: the previous frontend keeps serving.
 *
 * The command's script carries the switch's inputs (sha, env and units
 * hashes), so it runs exactly when the switch does: a frontend-only change
 * runs neither. A later `up` of the same release (the soak command failed,
 * so the engine runs it again) finds the backend rolled back and runs the
 * switch's script again before soaking.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, remoteScript } from "../../lib/remote";
import { drainUnitPrefix, frontendNames, HOST_LOCK } from "../../lib/names";
import { cmd, hostLock, Lines, quote, raw, script } from "../../lib/shell";
import { drainRunCommand } from "../../lib/units/drain";
import { processesOn } from "../../lib/units/process";
import { instancesFunction, processSwitchLines } from "./processes";
import { BUILT_MARKER } from "./release";
import { probeFunction, SWITCH_SCOPE, switchScript, type SwitchInputs } from "./switch";
import { publicHealthPath } from "../web/frontend";

/** What the builders read: the switch's scope (the soak re-runs its script), the soak length, the frontend's mount, maintenance. */
export const SOAK_SCOPE = [...SWITCH_SCOPE, "soakSeconds", "frontend", "maintenance"] as const;
export type SoakScope = Pick<BerthConfig, (typeof SOAK_SCOPE)[number]>;

export interface SoakArgs extends SoakScope {
    /** The web host's SSH connection. */
    connection: pulumi.Input<Connection>;
    /** The switch's inputs (Switch.inputs()): the soak runs when they change. */
    inputs: pulumi.Output<SwitchInputs>;
    /** The switch's command. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Soak extends pulumi.ComponentResource {
    public readonly command: command.remote.Command;

    constructor(name: string, args: SoakArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Soak", name, {}, opts);
        const cfg: SoakScope = args;
        this.command = remoteScript(
            `${name}-soak`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: args.inputs.apply((inp) => soakScript(cfg, inp)),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ command: this.command.id });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders
// ---------------------------------------------------------------------------

/** The URL the soak probes (on 127.0.0.1 through `--resolve`). */
export function soakUrl(cfg: Pick<BerthConfig, "domain" | "frontend" | "release">): string {
    return `https://${cfg.domain}${publicHealthPath(cfg)}`;
}

export function soakScript(cfg: SoakScope, inp: SwitchInputs): string {
    const n = cfg.names;
    const state = `${n.root}/state`;
    const fn = frontendNames(n);
    const skip = cfg.soakSeconds === 0 ? "berth:soakSeconds is 0" : cfg.maintenance ? "berth:maintenance is on (nginx answers 503)" : undefined;
    return script(
        `rev=${quote(inp.sha)}`,
        // An earlier soak of this release failed and rolled it back: the switch again first (it is idempotent).
        `if [ "$(cat ${quote(`${state}/revision`)} 2>/dev/null)" != "$rev" ]; then`,
        '  echo "berth: the backend does not serve $rev (an earlier soak rolled it back?): switching to it again"',
        "  switch_script=$(mktemp)",
        `  cat > "$switch_script" <<'${SWITCH_MARKER}'`,
        embeddedSwitch(cfg, inp),
        SWITCH_MARKER,
        '  rc=0; bash "$switch_script" || rc=$?',
        '  rm -f "$switch_script"',
        '  if [ "$rc" != 0 ]; then exit "$rc"; fi',
        "fi",
        skip
            ? [`echo "$(date +%s.%N) $rev skipped" > ${quote(fn.soakState)}`, `echo ${quote(`berth: no soak (${skip})`)}`]
            : [soakHelpers(cfg), rollbackFunction(cfg), soakLoop(cfg)],
    );
}

const SWITCH_MARKER = "BERTH_SWITCH_SCRIPT";

/** The switch's own script, as the soak runs it again (a here-document: its text verbatim). */
function embeddedSwitch(cfg: SoakScope, inp: SwitchInputs): string {
    const text = switchScript(cfg, inp).replace(/\n$/, "");
    if (text.split("\n").includes(SWITCH_MARKER)) throw new Error(`berth: the switch script contains the line ${SWITCH_MARKER}`);
    return text;
}

/** Variables and helpers: the serving colour and unit, the instance probe of the switch, the unit's restart fingerprint. */
function soakHelpers(cfg: SoakScope): Lines {
    const n = cfg.names;
    const state = `${n.root}/state`;
    return [
        `color=$(cat ${quote(`${state}/color`)})`,
        'if [ "$color" = blue ]; then prev=green; else prev=blue; fi',
        `web_unit() { echo ${quote(n.webUnit)}"$1".service; }`,
        `proxy_socket() { echo ${quote(n.proxyUnit)}"$1".socket; }`,
        `proxy_service() { echo ${quote(n.proxyUnit)}"$1".service; }`,
        `drain_unit() { echo ${quote(drainUnitPrefix(n))}"$1"; }`,
        probeFunction(cfg),
        'unit=$(web_unit "$color")',
        // The same two properties in the same order whatever systemctl prints first.
        'fingerprint() { systemctl show -p NRestarts -p InvocationID "$unit" | LC_ALL=C sort | paste -sd" " -; }',
    ];
}

/** The probe loop: one request a second for soakSeconds; the first non-200 or restart calls soak_failed. */
function soakLoop(cfg: SoakScope): Lines {
    const fn = frontendNames(cfg.names);
    const url = soakUrl(cfg);
    const curl = cmd("curl", "-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--resolve", `${cfg.domain}:443:127.0.0.1`, url);
    return [
        "before=$(fingerprint)",
        `echo ${quote(`berth: soaking release `)}"$rev"${quote(` for ${cfg.soakSeconds}s: ${url} through nginx every second, and no restart of `)}"$unit"`,
        `end=$((SECONDS + ${cfg.soakSeconds}))`,
        "probes=0",
        "while :; do",
        "  probes=$((probes + 1))",
        "  at=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
        `  code=$(${curl} || true)`,
        '  if [ "$code" != 200 ]; then',
        '    if [ -z "$code" ] || [ "$code" = 000 ]; then code="no answer"; fi',
        `    soak_failed "probe $probes: GET ${url} answered $code at $at"`,
        "  fi",
        '  now=$(fingerprint)',
        '  if [ "$now" != "$before" ]; then soak_failed "$unit restarted (probe $probes at $at: $before, now $now)"; fi',
        '  if [ "$SECONDS" -ge "$end" ]; then break; fi',
        "  sleep 1",
        "done",
        `echo "$(date +%s.%N) $rev passed $probes probes" > ${quote(fn.soakState)}`,
        `echo "berth: soak of $rev passed: $probes probes of ${url} answered 200 in ${cfg.soakSeconds}s; $unit did not restart"`,
    ];
}

/**
 * `soak_failed <reason>`: records the failure, takes the host lock and moves
 * traffic back to the previous release's instance (kept idle for the
 * rollback window; started and health-checked again when it is gone), then
 * exits 1. With no previous release (the first), the release keeps serving.
 */
function rollbackFunction(cfg: SoakScope): Lines {
    const n = cfg.names;
    const state = `${n.root}/state`;
    const fn = frontendNames(n);
    const worker = cfg.release.workerCommand ? `${n.workerUnit}.service` : undefined;
    return [
        "soak_failed() {",
        '  echo "berth: soak of release $rev failed: $1" >&2',
        `  echo "$(date +%s.%N) $rev failed: $1" > ${quote(fn.soakState)}`,
        ...hostLock(HOST_LOCK, `soak rollback of ${n.id}`).map((l) => `  ${l}`),
        `  prev_rel=$(readlink ${quote(`${n.root}/slots/`)}"$prev" 2>/dev/null || true)`,
        `  if [ -z "$prev_rel" ] || [ ! -f "$prev_rel/${BUILT_MARKER}" ]; then`,
        '    echo "berth: no previous release to roll back to (the first release on this host): $rev keeps serving; the frontend was not published" >&2',
        "    exit 1",
        "  fi",
        '  prev_rev=$(basename "$prev_rel")',
        '  systemctl stop "$(drain_unit "$prev").timer" 2>/dev/null || true',
        ...startPreviousLines(cfg).map((l) => `  ${l}`),
        '  systemctl enable --quiet --no-reload "$(web_unit "$prev")" "$(proxy_socket "$prev")"',
        `  ln -sfn ${quote(`${n.runDir}/`)}"$prev.sock" ${quote(`${n.webSocket}.berth-new`)}`,
        `  mv -T ${quote(`${n.webSocket}.berth-new`)} ${quote(n.webSocket)}`,
        `  ln -sfn "$prev_rel" ${quote(`${n.root}/current.berth-new`)} && mv -T ${quote(`${n.root}/current.berth-new`)} ${quote(`${n.root}/current`)}`,
        `  echo "$prev" > ${quote(`${state}/color`)}`,
        `  echo "$prev_rev" > ${quote(`${state}/revision`)}`,
        // The failed instance drains; its stamp goes, so the next switch starts it afresh.
        `  rm -f ${quote(`${state}/`)}"$color.stamp"`,
        '  systemctl disable --quiet --no-reload "$unit" "$(proxy_socket "$color")" || true',
        '  drain=$(drain_unit "$color")',
        '  systemctl stop "$drain.timer" 2>/dev/null || true',
        '  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true',
        `  ${drainRunCommand(raw('"$drain"'), cfg.release.drainSeconds, [raw('"$(proxy_socket "$color")"'), raw('"$unit"')])}`,
        ...(worker ? [`  ${cmd("systemctl", "restart", worker)}`] : []),
        ...(processesOn(cfg).length > 0 ? [instancesFunction(), ...processSwitchLinesFlat(cfg, "$prev_rev")] : []),
        '  echo "berth: rolled back: $prev_rev serves again on $prev; $rev is stopped after the drain; the frontend was not published" >&2',
        "  exit 1",
        "}",
    ];
}

/** The previous instance, unless it still runs healthy (rollback window): started on its slot and health-checked. */
function startPreviousLines(cfg: SoakScope): string[] {
    const r = cfg.release;
    return [
        'answer=$(probe "$prev")',
        'if systemctl is-active --quiet "$(web_unit "$prev")" && systemctl is-active --quiet "$(proxy_socket "$prev")" && [ "${answer%% *}" = 200 ]; then',
        '  echo "berth: $prev_rev still runs on $prev (rollback window): moving traffic back" >&2',
        "else",
        '  echo "berth: starting $prev_rev again on $prev (the rollback window is over)" >&2',
        '  systemctl reset-failed "$(web_unit "$prev")" "$(proxy_service "$prev")" 2>/dev/null || true',
        '  systemctl start "$(web_unit "$prev")" "$(proxy_socket "$prev")"',
        `  deadline=$((SECONDS + ${r.healthTimeout}))`,
        "  answer='000 '",
        '  until [ "${answer%% *}" = 200 ] || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.5; answer=$(probe "$prev"); done',
        '  if [ "${answer%% *}" != 200 ]; then',
        `    echo "berth: rollback failed: $prev_rev on $prev did not answer ${r.healthPath} 200 within ${r.healthTimeout}s; $rev keeps serving" >&2`,
        "    exit 1",
        "  fi",
        "fi",
    ];
}

/** processSwitchLines prints "$rev"; in the rollback the release is the previous one. */
function processSwitchLinesFlat(cfg: SoakScope, revVar: string): string[] {
    const out: string[] = [];
    const walk = (l: Lines) => l.forEach((x) => (Array.isArray(x) ? walk(x as Lines) : typeof x === "string" && out.push(`  ${x.split('"$rev"').join(`"${revVar}"`)}`)));
    walk(processSwitchLines(cfg));
    return out;
}

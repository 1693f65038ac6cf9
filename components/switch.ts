/**
 * Switch: zero-downtime release. Two instances of the web template unit,
 * `blue` and `green`, on two loopback ports. A new release (or a new env
 * file, or new unit files) starts on the idle instance; only when its health
 * path answers 200 does nginx's upstream move to it (validated with
 * `nginx -t`, graceful reload). The old instance is stopped after the drain
 * period by a transient systemd timer, and the worker restarts on the new
 * release. If the new instance never becomes healthy it is stopped, nginx and
 * the old instance are left untouched, and `pulumi up` fails with the
 * release's name and its last log lines.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { Connection, remoteScript } from "../lib/remote";
import { cmd, quote, raw, script, writeFile } from "../lib/shell";
import { upstreamFile } from "./nginxSite";
import { BUILT_MARKER, releasePath } from "./release";

export interface SwitchArgs {
    /** Validated stack configuration. */
    config: BerthConfig;
    connection: pulumi.Input<Connection>;
    /** Commit sha of the release to serve. */
    sha: string;
    /** sha256 of the env file: a change restarts the app on the idle instance. */
    envHash: pulumi.Input<string>;
    /** sha256 of the unit files: same. */
    unitsHash: pulumi.Input<string>;
    /** Everything that must be in place first: release command, units, the HTTPS site. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Switch extends pulumi.ComponentResource {
    public readonly command: command.remote.Command;

    constructor(name: string, args: SwitchArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Switch", name, {}, opts);
        const cfg = args.config;
        this.command = remoteScript(
            `${name}-switch`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: pulumi
                    .all([args.envHash, args.unitsHash])
                    .apply(([envHash, unitsHash]) => switchScript(cfg, { sha: args.sha, envHash, unitsHash })),
                delete: stopScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ sha: args.sha });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders
// ---------------------------------------------------------------------------

export interface SwitchInputs {
    sha: string;
    envHash: string;
    unitsHash: string;
}

function unit(cfg: BerthConfig, instance: string): string {
    return `${cfg.names.webUnit}${instance}.service`;
}

export function switchScript(cfg: BerthConfig, inp: SwitchInputs): string {
    const n = cfg.names;
    const r = cfg.release;
    const rel = releasePath(cfg, inp.sha);
    const state = `${n.root}/state`;
    const stamp = `${inp.sha} env:${inp.envHash.slice(0, 16)} units:${inp.unitsHash.slice(0, 16)}`;
    const worker = r.workerCommand ? `${n.workerUnit}.service` : undefined;
    const health = (port: string) =>
        `[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${raw(`"http://127.0.0.1:${port}"`).raw}${quote(r.healthPath)})" = 200 ]`;
    return script(
        `rev=${quote(inp.sha)}`,
        `rel=${quote(rel)}`,
        `stamp=${quote(stamp)}`,
        `if [ ! -f "$rel/${BUILT_MARKER}" ]; then echo "berth: release $rev is not built on this host" >&2; exit 1; fi`,
        cmd("install", "-d", "-m", "0755", state),
        `active=$(cat ${quote(`${state}/color`)} 2>/dev/null || true)`,
        `port_of() { if [ "$1" = blue ]; then echo ${cfg.ports.webBlue}; else echo ${cfg.ports.webGreen}; fi; }`,
        // Nothing to do when this release, env and units already serve and are healthy.
        `if [ -n "$active" ] && [ "$(cat ${quote(`${state}/stamp`)} 2>/dev/null)" = "$stamp" ] && systemctl is-active --quiet ${quote(cfg.names.webUnit)}"$active".service && ${health('$(port_of "$active")')}; then`,
        `  echo "berth: release $rev already serving on $active"`,
        "  exit 0",
        "fi",
        'if [ "$active" = blue ]; then idle=green; else idle=blue; fi',
        'port=$(port_of "$idle")',
        `idle_unit=${quote(cfg.names.webUnit)}"$idle".service`,
        // A drain timer left by an earlier switch must not stop what we start now.
        `systemctl stop ${quote(`berth-${n.id}-drain-`)}"$idle".timer 2>/dev/null || true`,
        'systemctl stop "$idle_unit" 2>/dev/null || true',
        `ln -sfn "$rel" ${quote(`${n.root}/slots/`)}"$idle"`,
        `printf '# Managed by berth (project %s, stack %s)\\nPORT=%s\\nREVISION=%s\\n' ${quote(cfg.project)} ${quote(cfg.stack)} "$port" "$rev" > ${quote(`${n.root}/slots/`)}"$idle.env"`,
        'systemctl reset-failed "$idle_unit" 2>/dev/null || true',
        'systemctl start "$idle_unit"',
        `echo "berth: started release $rev on $idle (127.0.0.1:$port), waiting for ${r.healthPath}"`,
        `deadline=$((SECONDS + ${r.healthTimeout}))`,
        "healthy=0",
        'while [ "$SECONDS" -lt "$deadline" ]; do',
        `  if ${health("$port")}; then healthy=1; break; fi`,
        '  if systemctl is-failed --quiet "$idle_unit"; then break; fi',
        "  sleep 1",
        "done",
        'if [ "$healthy" != 1 ]; then',
        `  echo "berth: release $rev is unhealthy: http://127.0.0.1:$port${r.healthPath} did not answer 200 within ${r.healthTimeout}s. Traffic stays on \${active:-nothing} (nginx untouched). Last log lines of $idle_unit:" >&2`,
        // Stop first: a graceful stop flushes what the app still buffers.
        '  systemctl stop "$idle_unit" || true',
        '  journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true',
        "  exit 1",
        "fi",
        // Move traffic: upstream file, nginx -t, graceful reload; restore on failure.
        `upstream=${quote(n.nginxUpstream)}`,
        'cp -p "$upstream" "$upstream.berth-prev" 2>/dev/null || true',
        "changed=0",
        'if [ "$idle" = blue ]; then',
        writeFile(n.nginxUpstream, upstreamFile(cfg, cfg.ports.webBlue), { mode: "0644" }),
        "else",
        writeFile(n.nginxUpstream, upstreamFile(cfg, cfg.ports.webGreen), { mode: "0644" }),
        "fi",
        'if ! nginx -t -q; then',
        '  if [ -f "$upstream.berth-prev" ]; then mv -f "$upstream.berth-prev" "$upstream"; fi',
        '  systemctl stop "$idle_unit" || true',
        `  echo "berth: nginx -t rejected the new upstream; release $rev not switched" >&2`,
        "  exit 1",
        "fi",
        'if [ "$changed" = 1 ]; then systemctl reload nginx; fi',
        'rm -f "$upstream.berth-prev"',
        `ln -sfn "$rel" ${quote(`${n.root}/current.berth-new`)} && mv -T ${quote(`${n.root}/current.berth-new`)} ${quote(`${n.root}/current`)}`,
        `echo "$idle" > ${quote(`${state}/color`)}`,
        `echo "$stamp" > ${quote(`${state}/stamp`)}`,
        `echo "$rev" > ${quote(`${state}/revision`)}`,
        'systemctl enable --quiet "$idle_unit"',
        'if [ -n "$active" ] && [ "$active" != "$idle" ]; then',
        `  old_unit=${quote(cfg.names.webUnit)}"$active".service`,
        '  systemctl disable --quiet "$old_unit" || true',
        `  drain=${quote(`berth-${n.id}-drain-`)}"$active"`,
        '  systemctl stop "$drain.timer" 2>/dev/null || true',
        '  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true',
        `  systemd-run --quiet --collect --unit="$drain" --on-active=${r.drainSeconds} systemctl stop "$old_unit"`,
        "fi",
        worker && [cmd("systemctl", "enable", "--quiet", worker), cmd("systemctl", "restart", worker)],
        `echo "berth: release $rev serving on $idle (127.0.0.1:$port)"`,
        pruneLines(cfg),
    );
}

/** Keeps the newest `keepReleases` releases plus whatever a slot or current points at. */
export function pruneLines(cfg: BerthConfig): string[] {
    const n = cfg.names;
    return [
        `keep=$( { readlink -f ${quote(`${n.root}/current`)}; readlink -f ${quote(`${n.root}/slots/blue`)}; readlink -f ${quote(`${n.root}/slots/green`)}; } 2>/dev/null || true)`,
        `find ${quote(`${n.root}/releases`)} -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\\n' | sort -rn | tail -n +${cfg.release.keepReleases + 1} | cut -d' ' -f2- | while read -r old; do`,
        '  if ! grep -qxF "$old" <<<"$keep"; then rm -rf --one-file-system "$old"; echo "berth: pruned $old"; fi',
        "done",
    ];
}

/** Destroy (non-production): stop and disable every instance and the worker. */
export function stopScript(cfg: BerthConfig): string {
    const units = [unit(cfg, "blue"), unit(cfg, "green"), ...(cfg.release.workerCommand ? [`${cfg.names.workerUnit}.service`] : [])];
    return script(
        // One at a time: systemctl refuses the whole list when one unit file is gone.
        `for u in ${units.map(quote).join(" ")}; do systemctl disable --now "$u" 2>/dev/null || true; done`,
        cmd("rm", "-rf", `${cfg.names.root}/state`, `${cfg.names.root}/slots/blue`, `${cfg.names.root}/slots/green`, `${cfg.names.root}/slots/blue.env`, `${cfg.names.root}/slots/green.env`),
    );
}

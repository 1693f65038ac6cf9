/**
 * The switch's scripts (components/app/switch.ts declares the commands that
 * run them): pure builders over the configuration, apart from the component
 * so that the CLI, which runs the rollback's move itself (`berth rollback`,
 * cli/commands/rollback.ts), builds them without loading the Pulumi SDK.
 * See switch.ts for what the switch does.
 */
import type { BerthConfig } from "../../lib/config";
import { BUILT_MARKER, drainUnitPrefix, HOST_LOCK, releasePath } from "../../lib/names";
import { cmd, hostLock, Lines, quote, raw, retireUnit, script, writeFile } from "../../lib/shell";
import { upstreamFile } from "../web/upstream";
import { probeHeaders } from "../../lib/proxy";
import { has } from "../../lib/topology";
import { instancesFunction, processHaltLines, processInstances, processSwitchLines } from "./processScripts";
import { processesOn } from "../../lib/units/process";
import { drainRunCommand } from "../../lib/units/drain";

/** What the builders read of the configuration: the stack, this app host, its ports, the domain the probe sends, the release settings. */
export const SWITCH_SCOPE = ["project", "stack", "production", "protect", "names", "ports", "domain", "host", "multiHost", "release", "processes", "env"] as const;
export type SwitchScope = Pick<BerthConfig, (typeof SWITCH_SCOPE)[number]>;

export interface SwitchInputs {
    sha: string;
    envHash: string;
    unitsHash: string;
}

function unit(cfg: SwitchScope, instance: string): string {
    return `${cfg.names.webUnit}${instance}.service`;
}

/**
 * How long the previous instance stays up after a switch: the drain (the
 * longest request it may still be serving) or the rollback window, whichever
 * is longer.
 */
export function holdSeconds(cfg: SwitchScope): number {
    return jobsInPuma(cfg) ? cfg.release.drainSeconds : Math.max(cfg.release.drainSeconds, cfg.release.rollbackWindow);
}

/**
 * Solid Queue runs inside Puma (`SOLID_QUEUE_IN_PUMA` in berth:env; Rails'
 * config/puma.rb loads the plugin when the variable is set at all, even
 * empty). Its supervisor is a child of Puma that Puma stops with it, and
 * Puma stops when the supervisor goes (the plugin watches both ways), so
 * jobs cannot be turned off in a running instance: an instance kept idle
 * for the rollback window would go on running jobs with the previous
 * release's code beside the new one. So the previous instance is kept for
 * the drain only (requests in flight), and a later rollback is a full,
 * health-checked switch (seconds, still no downtime) instead of a move of
 * traffic alone. The two releases' job runners overlap only while the new
 * instance starts and the old one drains, as in any rolling deploy.
 */
export function jobsInPuma(cfg: Pick<BerthConfig, "env">): boolean {
    return Object.prototype.hasOwnProperty.call(cfg.env, "SOLID_QUEUE_IN_PUMA");
}

/** What the switch says about the previous instance. */
function holdText(cfg: SwitchScope): string {
    return jobsInPuma(cfg)
        ? `the previous instance stays up for ${holdSeconds(cfg)}s (the drain only: Solid Queue runs in Puma, so no idle instance is kept for a rollback)`
        : `the previous instance stays up for ${holdSeconds(cfg)}s (drain or rollback window, the longer)`;
}

export function switchScript(cfg: SwitchScope, inp: SwitchInputs): string {
    if (!has(cfg.host, "web")) return workerSwitchScript(cfg, inp);
    return script(switchPrologue(cfg, inp.sha, stampOf(inp), "switch"), startIdleLines(cfg), moveLines(cfg));
}

/**
 * `berth rollback` inside the rollback window moves traffic with this script
 * before its converge (cli/commands/rollback.ts): the switch's own move,
 * only when the kept (idle) instance runs `sha` with the env and unit files
 * the serving instance was started with (their stamps say so) and answers
 * its health path. The converge that follows then finds that release
 * serving with its own stamp and only records it; when the converge's env
 * or units differ after all (main holds other changes), its switch starts
 * them on the other instance, as any release. Anything else exits 3 with
 * nothing changed but a cancelled stop timer (the caller converges instead):
 * the kept instance runs another release or another env, or it is unhealthy.
 */
export function rollbackMoveScript(cfg: SwitchScope, sha: string): string {
    const state = `${cfg.names.root}/state`;
    const notOnly = (why: string) => `{ echo "berth: not a traffic-only rollback: ${why}; the converge switches to $rev" >&2; exit ${NOT_TRAFFIC_ONLY}; }`;
    return script(
        switchPrologue(cfg, sha, "", "rollback", [
            'if [ "$active" = blue ]; then idle=green; else idle=blue; fi',
            `kept=$(cat ${quote(`${state}/`)}"$idle.stamp" 2>/dev/null || true)`,
            `now=$(cat ${quote(`${state}/`)}"$active.stamp" 2>/dev/null || true)`,
            `if [ -z "$active" ] || ! serving "$active"; then ${notOnly("no instance serves")}; fi`,
            `if [ "\${kept%% *}" != "$rev" ]; then ${notOnly("the kept instance $idle does not run it")}; fi`,
            `if [ "\${kept#* }" != "\${now#* }" ]; then ${notOnly("the kept instance $idle was started with other env or unit files than the serving one")}; fi`,
            'stamp=$kept',
        ]),
        'idle_unit=$(web_unit "$idle")',
        'port=$(port_of "$idle")',
        'systemctl stop "$(drain_unit "$idle").timer" 2>/dev/null || true',
        `if ! instance_ok "$idle"; then ${notOnly("the kept instance $idle is not healthy")}; fi`,
        'echo "berth: release $rev is still running on $idle (rollback window): moving traffic only"',
        moveLines(cfg),
    );
}

/** `rollbackMoveScript`'s exit code when the rollback is not a move of traffic alone (nothing moved). */
export const NOT_TRAFFIC_ONLY = 3;

/** From the healthy idle instance on: boot state, the traffic move, the upstream, current and state, the previous instance's hold, worker and processes, pruning. */
function moveLines(cfg: SwitchScope): Lines {
    const n = cfg.names;
    const r = cfg.release;
    const state = `${n.root}/state`;
    const worker = r.workerCommand ? `${n.workerUnit}.service` : undefined;
    return [
        // Boot state first, so a reboot at any point comes back serving one healthy instance.
        // (--no-reload: boot symlinks need no daemon reload, and a reload would delay the move.)
        'systemctl enable --quiet --no-reload "$idle_unit" "$(proxy_socket "$idle")"',
        // Move traffic: one atomic rename of the symlink nginx connects through.
        // New requests reach the new instance; requests in flight finish on the old.
        `ln -sfn ${quote(`${n.runDir}/`)}"$idle.sock" ${quote(`${n.webSocket}.berth-new`)}`,
        `mv -T ${quote(`${n.webSocket}.berth-new`)} ${quote(n.webSocket)}`,
        'echo "berth: traffic moved to $idle $(elapsed)s after the switch started"',
        // The upstream is one stable address (the socket symlink, in place now); written
        // once, reloaded only when it changed (a host last switched by a berth that
        // proxied to the ports: this one reload moves its traffic to the socket).
        upstreamLines(cfg),
        pointCurrent(cfg),
        `echo "$idle" > ${quote(`${state}/color`)}`,
        `echo "$rev" > ${quote(`${state}/revision`)}`,
        'if [ -n "$active" ] && [ "$active" != "$idle" ]; then',
        '  systemctl disable --quiet --no-reload "$(web_unit "$active")" "$(proxy_socket "$active")" || true',
        '  drain=$(drain_unit "$active")',
        '  systemctl stop "$drain.timer" 2>/dev/null || true',
        '  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true',
        // Kept up for the drain (requests in flight) and the rollback window, then stopped
        // by systemd: the sandboxed transient service conflicts with both (lib/units/drain.ts).
        `  ${drainRunCommand(raw('"$drain"'), holdSeconds(cfg), [raw('"$(proxy_socket "$active")"'), raw('"$(web_unit "$active")"')])}`,
        "fi",
        worker && [cmd("systemctl", "enable", "--quiet", worker), cmd("systemctl", "restart", worker)],
        processesOn(cfg).length > 0 && [instancesFunction(), processSwitchLines(cfg)],
        `echo "berth: release $rev serving on $idle (127.0.0.1:$port); ${holdText(cfg)}"`,
        pruneLines(cfg),
    ];
}

/**
 * Multi-host, first phase on every web host: start the release on the idle
 * instance and wait for its health path through its socket, without moving
 * traffic. The environment runs every web host's switch (which then finds
 * the instance healthy and only moves traffic) after every host's prepare,
 * so no host serves the new release unless all of them can.
 */
export function prepareScript(cfg: SwitchScope, inp: SwitchInputs): string {
    if (!has(cfg.host, "web")) {
        return script(
            `rel=${quote(releasePath(cfg, inp.sha))}`,
            `if [ ! -f "$rel/${BUILT_MARKER}" ]; then echo ${quote(`berth: release ${inp.sha} is not built on host ${cfg.host.name}`)} >&2; exit 1; fi`,
            `echo ${quote(`berth: release ${inp.sha} is built on host ${cfg.host.name}`)}`,
        );
    }
    return script(
        switchPrologue(cfg, inp.sha, stampOf(inp), "prepare"),
        startIdleLines(cfg),
        `echo "berth: release $rev is healthy on $idle on host ${cfg.host.name}; traffic moves when every web host is ready"`,
    );
}

/** A host with the worker role only: point `current` at the release and restart the worker. */
function workerSwitchScript(cfg: SwitchScope, inp: SwitchInputs): string {
    const n = cfg.names;
    const state = `${n.root}/state`;
    const worker = cfg.release.workerCommand ? `${n.workerUnit}.service` : undefined;
    const procs = processesOn(cfg).length > 0 ? processInstances(cfg) : undefined;
    const stamp = stampOf(inp);
    return script(
        hostLock(HOST_LOCK, `switch of ${n.id}`),
        `rev=${quote(inp.sha)}`,
        `rel=${quote(releasePath(cfg, inp.sha))}`,
        `stamp=${quote(stamp)}`,
        `if [ ! -f "$rel/${BUILT_MARKER}" ]; then echo "berth: release $rev is not built on host ${cfg.host.name}" >&2; exit 1; fi`,
        cmd("install", "-d", "-m", "0755", state),
        worker && `if [ "$(cat ${quote(`${state}/worker.stamp`)} 2>/dev/null)" = "$stamp" ] && systemctl is-active --quiet ${quote(worker)}; then echo "berth: release $rev already running"; exit 0; fi`,
        procs && [
            instancesFunction(),
            // Every instance active on this stamp: nothing to do (systemctl is-active of several units is true when any is).
            `if ${[`[ "$(cat ${quote(`${state}/processes.stamp`)} 2>/dev/null)" = "$stamp" ]`, ...procs.map((u) => `systemctl is-active --quiet ${quote(u)}`)].join(" && ")}; then echo "berth: release $rev already running"; exit 0; fi`,
        ],
        pointCurrent(cfg),
        `echo "$rev" > ${quote(`${state}/revision`)}`,
        worker && [cmd("systemctl", "enable", "--quiet", worker), cmd("systemctl", "restart", worker), `echo "$stamp" > ${quote(`${state}/worker.stamp`)}`],
        procs && [processSwitchLines(cfg), `echo "$stamp" > ${quote(`${state}/processes.stamp`)}`],
        `echo "berth: release $rev is current on host ${cfg.host.name}"`,
        pruneLines(cfg),
    );
}

/** What an instance runs: release, env file and unit files (a change of any restarts it). */
function stampOf(inp: SwitchInputs): string {
    return `${inp.sha} env:${inp.envHash.slice(0, 16)} units:${inp.unitsHash.slice(0, 16)}`;
}

/** Points `current` at "$rel" with one atomic rename. */
function pointCurrent(cfg: SwitchScope): string {
    const n = cfg.names;
    return `ln -sfn "$rel" ${quote(`${n.root}/current.berth-new`)} && mv -T ${quote(`${n.root}/current.berth-new`)} ${quote(`${n.root}/current`)}`;
}

/**
 * Lock, variables and helpers, and the exit when the release already serves
 * healthy. `stamp`: what the instance must run (`stampOf`); `stampLines` set
 * it from the host instead, after the helpers, before that exit.
 */
function switchPrologue(cfg: SwitchScope, sha: string, stamp: string, what: "switch" | "prepare" | "rollback", stampLines: Lines = []): Lines {
    const n = cfg.names;
    const rel = releasePath(cfg, sha);
    const state = `${n.root}/state`;
    return [
        "t0=$EPOCHREALTIME",
        `elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }`,
        hostLock(HOST_LOCK, `${what} of ${n.id}`),
        `rev=${quote(sha)}`,
        `rel=${quote(rel)}`,
        `stamp=${quote(stamp)}`,
        `if [ ! -f "$rel/${BUILT_MARKER}" ]; then echo "berth: release $rev is not built on ${cfg.multiHost ? `host ${cfg.host.name}` : "this host"}" >&2; exit 1; fi`,
        cmd("install", "-d", "-m", "0755", state),
        `active=$(cat ${quote(`${state}/color`)} 2>/dev/null || true)`,
        `port_of() { if [ "$1" = blue ]; then echo ${cfg.ports.webBlue}; else echo ${cfg.ports.webGreen}; fi; }`,
        `web_unit() { echo ${quote(n.webUnit)}"$1".service; }`,
        `proxy_socket() { echo ${quote(n.proxyUnit)}"$1".socket; }`,
        `proxy_service() { echo ${quote(n.proxyUnit)}"$1".service; }`,
        `drain_unit() { echo ${quote(drainUnitPrefix(n))}"$1"; }`,
        `serving() { [ "$(readlink ${quote(n.webSocket)} 2>/dev/null)" = ${quote(`${n.runDir}/`)}"$1.sock" ]; }`,
        probeFunction(cfg),
        `instance_ok() { [ "$(cat ${quote(`${state}/`)}"$1.stamp" 2>/dev/null)" = "$stamp" ] && systemctl is-active --quiet "$(web_unit "$1")" && systemctl is-active --quiet "$(proxy_socket "$1")" && answer=$(probe "$1") && [ "\${answer%% *}" = 200 ]; }`,
        stampLines,
        // Nothing to do when this release, env and units already serve and are healthy.
        'if [ -n "$active" ] && serving "$active" && instance_ok "$active"; then',
        '  echo "berth: release $rev already serving on $active"',
        "  exit 0",
        "fi",
    ];
}

/**
 * `probe <color>`: the health path through the instance's socket (the path
 * nginx uses: socket unit, proxy, app), with the headers nginx sends for
 * the primary domain (lib/proxy.ts), so an app that redirects plain HTTP
 * (`force_ssl`) or checks the host name answers as it would to real
 * traffic. Prints `<status> <redirect URL>` (`000 ` without an answer).
 */
export function probeFunction(cfg: SwitchScope): string {
    const n = cfg.names;
    const headers = probeHeaders(cfg.domain).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    const curl = cmd(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "--max-time",
        "5",
        "--unix-socket",
        raw(`${quote(`${n.runDir}/`)}"$1.sock"`),
        ...headers,
        `http://${cfg.domain}${cfg.release.healthPath}`,
    );
    return `probe() { ${curl} || true; }`;
}

/** The probe's headers as the failure message lists them: `Host: example.com, X-Forwarded-Proto: https, ...`. */
export function probeHeaderText(cfg: SwitchScope): string {
    return probeHeaders(cfg.domain)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");
}

/** Starts the release on the idle instance (unless it already runs there, healthy) and waits for its health path. */
function startIdleLines(cfg: SwitchScope): Lines {
    const n = cfg.names;
    const r = cfg.release;
    const state = `${n.root}/state`;
    const onHost = cfg.multiHost ? ` on host ${cfg.host.name}` : "";
    const stays = "Traffic stays on ${active:-nothing} (nginx untouched). Last log lines of $idle_unit:";
    return [
        'if [ "$active" = blue ]; then idle=green; else idle=blue; fi',
        'port=$(port_of "$idle")',
        'idle_unit=$(web_unit "$idle")',
        // A drain timer left by an earlier switch must not stop what we start or keep now.
        'systemctl stop "$(drain_unit "$idle").timer" 2>/dev/null || true',
        'if instance_ok "$idle"; then',
        // Inside the rollback window: the previous release still runs, idle and healthy.
        '  echo "berth: release $rev is still running on $idle (rollback window): moving traffic only"',
        "else",
        '  systemctl stop "$(proxy_socket "$idle")" "$idle_unit" 2>/dev/null || true',
        `  rm -f ${quote(`${state}/`)}"$idle.stamp"`,
        `  ln -sfn "$rel" ${quote(`${n.root}/slots/`)}"$idle"`,
        `  printf '# Managed by berth (project %s, stack %s)\\nPORT=%s\\nREVISION=%s\\n' ${quote(cfg.project)} ${quote(cfg.stack)} "$port" "$rev" > ${quote(`${n.root}/slots/`)}"$idle.env"`,
        '  systemctl reset-failed "$idle_unit" "$(proxy_service "$idle")" 2>/dev/null || true',
        '  systemctl start "$idle_unit" "$(proxy_socket "$idle")"',
        `  echo "berth: started release $rev on $idle (127.0.0.1:$port), waiting for ${r.healthPath}"`,
        `  deadline=$((SECONDS + ${r.healthTimeout}))`,
        "  healthy=0",
        "  answer='000 '",
        '  while [ "$SECONDS" -lt "$deadline" ]; do',
        '    answer=$(probe "$idle")',
        '    if [ "${answer%% *}" = 200 ]; then healthy=1; break; fi',
        '    if systemctl is-failed --quiet "$idle_unit"; then break; fi',
        "    sleep 0.5",
        "  done",
        '  if [ "$healthy" != 1 ]; then',
        '    code=${answer%% *}',
        '    location=${answer#* }',
        '    if [ -n "$location" ]; then',
        `      echo "berth: release $rev is unhealthy${onHost}: ${r.healthPath} answered $code to $location — the app redirects the probe (force_ssl without X-Forwarded-Proto? config.hosts?). The probe sends what nginx sends: ${probeHeaderText(cfg)}. ${stays}" >&2`,
        "    else",
        '      if [ "$code" = 000 ]; then last="no answer"; else last="last answer: $code"; fi',
        `      echo "berth: release $rev is unhealthy${onHost}: ${r.healthPath} on $idle (127.0.0.1:$port) did not answer 200 within ${r.healthTimeout}s ($last). ${stays}" >&2`,
        "    fi",
        // Stop first: a graceful stop flushes what the app still buffers.
        '    systemctl stop "$(proxy_socket "$idle")" "$idle_unit" || true',
        '    journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true',
        "    exit 1",
        "  fi",
        `  echo "$stamp" > ${quote(`${state}/`)}"$idle.stamp"`,
        "fi",
    ];
}

/** Writes the constant upstream file when it differs, then `nginx -t` and one reload (restored on rejection). */
function upstreamLines(cfg: SwitchScope): Lines {
    const n = cfg.names;
    return [
        `upstream=${quote(n.nginxUpstream)}`,
        cmd("install", "-d", "-m", "0755", "/etc/nginx/berth"),
        'cp -p "$upstream" "$upstream.berth-prev" 2>/dev/null || true',
        "changed=0",
        writeFile(n.nginxUpstream, upstreamFile(cfg), { mode: "0644" }),
        'if [ "$changed" = 1 ]; then',
        "  if ! nginx -t -q; then",
        '    if [ -f "$upstream.berth-prev" ]; then mv -f "$upstream.berth-prev" "$upstream"; fi',
        `    echo ${quote(`berth: nginx -t rejected the upstream of ${n.id}; nothing switched`)} >&2`,
        "    exit 1",
        "  fi",
        "  if systemctl is-active --quiet nginx; then systemctl reload nginx; fi",
        "fi",
        'rm -f "$upstream.berth-prev"',
    ];
}

/**
 * Keeps the newest `keepReleases` releases plus whatever a slot or current
 * points at, then prunes the assets union (shared/public/assets, which nginx
 * serves under /assets/): a file no kept release has in its own
 * public/assets is removed. A kept release built by an earlier berth has
 * public/assets as a symlink to the union and names nothing specific, so
 * while one is kept the union is kept whole (and nothing is ever removed
 * through the link). Names starting with a dot are not part of the union
 * (each release reads its own manifest): the manifests an earlier berth
 * wrote there go with the last such release. A failure to list any kept
 * release's assets removes nothing.
 */
export function pruneLines(cfg: SwitchScope): string[] {
    const n = cfg.names;
    const releases = `${n.root}/releases`;
    const union = n.assets;
    return [
        `keep=$( { readlink -f ${quote(`${n.root}/current`)}; readlink -f ${quote(`${n.root}/slots/blue`)}; readlink -f ${quote(`${n.root}/slots/green`)}; } 2>/dev/null || true)`,
        `find ${quote(releases)} -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\\n' | sort -rn | tail -n +${cfg.release.keepReleases + 1} | cut -d' ' -f2- | while read -r old; do`,
        '  if ! grep -qxF "$old" <<<"$keep"; then rm -rf --one-file-system "$old"; echo "berth: pruned $old"; fi',
        "done",
        "prune_assets() {",
        `  local union=${quote(union)} r kept have gone`,
        '  if [ ! -d "$union" ] || [ -L "$union" ]; then return 0; fi',
        `  for r in ${quote(`${releases}/`)}[0-9a-f]*/; do`,
        '    if [ -L "${r}public/assets" ]; then echo "berth: kept $union whole: release $(basename "$r") links it (built by an earlier berth)"; return 0; fi',
        "  done",
        "  kept=$(mktemp) || return 1",
        '  have=$(mktemp) || { rm -f "$kept"; return 1; }',
        '  gone=$(mktemp) || { rm -f "$kept" "$have"; return 1; }',
        `  for r in ${quote(`${releases}/`)}[0-9a-f]*/; do`,
        '    if [ -d "${r}public/assets" ]; then',
        `      (cd "\${r}public/assets" && find . -name '.?*' -prune -o ! -type d -printf '%P\\0') >>"$kept" || { rm -f "$kept" "$have" "$gone"; return 1; }`,
        "    fi",
        "  done",
        `  (cd "$union" && find . -mindepth 1 ! -type d -printf '%P\\0') >"$have" || { rm -f "$kept" "$have" "$gone"; return 1; }`,
        '  if ! { LC_ALL=C sort -zu -o "$kept" "$kept" && LC_ALL=C sort -zu -o "$have" "$have" && LC_ALL=C comm -z -23 "$have" "$kept" >"$gone"; }; then rm -f "$kept" "$have" "$gone"; return 1; fi',
        '  if [ -s "$gone" ]; then',
        '    (cd "$union" && xargs -0r rm -f -- <"$gone")',
        '    find "$union" -mindepth 1 -depth -type d -empty -delete',
        `    echo "berth: pruned $(tr -cd '\\0' <"$gone" | wc -c) files from $union that no kept release has"`,
        "  fi",
        '  rm -f "$kept" "$have" "$gone"',
        "}",
        `prune_assets || echo ${quote(`berth: could not list the kept releases' assets; ${union} left as it is`)} >&2`,
    ];
}

/** Destroy (non-production): stop and disable every instance and the worker. */
export function stopScript(cfg: SwitchScope): string {
    const n = cfg.names;
    const units = [
        `${n.proxyUnit}blue.socket`,
        `${n.proxyUnit}green.socket`,
        unit(cfg, "blue"),
        unit(cfg, "green"),
        ...(cfg.release.workerCommand ? [`${n.workerUnit}.service`] : []),
    ];
    return script(
        hostLock(HOST_LOCK, `stop of ${n.id}`),
        `for c in blue green; do systemctl stop ${quote(drainUnitPrefix(n))}"$c.timer" 2>/dev/null || true; done`,
        // One at a time: systemctl refuses the whole list when one unit file is gone.
        `for u in ${units.map(quote).join(" ")}; do ${retireUnit('"$u"')}; done`,
        processesOn(cfg).length > 0 && [instancesFunction(), processHaltLines(cfg)],
        cmd("rm", "-rf", `${n.root}/state`, `${n.root}/slots/blue`, `${n.root}/slots/green`, `${n.root}/slots/blue.env`, `${n.root}/slots/green.env`, n.webSocket),
    );
}

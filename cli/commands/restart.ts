/**
 * `berth restart | stop | start [process]`: the app's processes without SSH.
 *
 * The names: `web` (the blue/green web instances), `worker`
 * (`berth:workerCommand`) or a `berth:processes` type; without a name, all
 * of them. An unknown name is refused with the known ones.
 *
 * - **restart web** is a zero-downtime restart on the idle instance, the
 *   switch's own sequence (components/app/switch.ts) with the release that
 *   serves: the idle instance is stopped, pointed at the serving release's
 *   slot (its slot env copied from the serving one with the idle port),
 *   started, and only when its health path answers 200 through its socket
 *   (the headers nginx sends, lib/proxy.ts) does the socket symlink move to
 *   it (`mv -T`: connections are never closed); the previous instance then
 *   drains for `berth:drainSeconds` through the same transient drain unit
 *   (lib/units/drain.ts). The serving instance's stamp moves with it, so the
 *   next `pulumi up` with nothing changed still finds "already serving". A
 *   failing instance is stopped and traffic stays where it was (exit 1 with
 *   its last log lines). A plain `systemctl restart` of the serving
 *   instance is not used: nginx would answer 502 while Puma boots.
 *   The idle instance kept for the rollback window now runs the serving
 *   release: a rollback after a restart is a full, health-checked switch
 *   (seconds, still no downtime) instead of a move of traffic alone.
 * - **restart worker / <process>**: `systemctl restart` of its unit or of
 *   every instance of the type (stop before start: never two of one instance).
 * - **stop** (everything): the app stops taking writes. `berth:maintenance`
 *   is set to true the way `berth maintenance on` sets it (a commit on main,
 *   then the converge: cli/support/desired.ts, "what runs is what main says";
 *   nginx answers 503 with the maintenance page), then on each host the
 *   worker, every process instance and the schedules' timers stop (a
 *   schedule run already in progress finishes). **start** is the reverse:
 *   units and timers started, then maintenance off. `stop web` / `start web`
 *   are maintenance on / off alone; `stop <process>` stops only it.
 *   Stopped units are not a desired state: a reboot, a release (the switch
 *   restarts the worker and the processes) or `berth repair` start them
 *   again, and `berth verify` reports them as drift while they are stopped.
 *
 * Every script holds the host lock (lib/names.ts HOST_LOCK), as a switch does.
 */
import type { BerthConfig } from "../../lib/config";
import { drainUnitPrefix, HOST_LOCK, processUnitNames, scheduleUnitNames } from "../../lib/names";
import { probeHeaders } from "../../lib/proxy";
import { cmd, hostLock, Lines, quote, raw, script } from "../../lib/shell";
import { viewOf } from "../../lib/plan";
import { has } from "../../lib/topology";
import { drainRunCommand } from "../../lib/units/drain";
import { processesOn } from "../../lib/units/process";
import { OpOptions, OpOutput, Stack } from "../support/stack";
import { maintenance } from "./maintenance";
import { schedulesHere } from "../support/processes";
import { CommandContext, print, UsageError } from "../support/command";

export type Action = "restart" | "stop" | "start";
export const ACTIONS: readonly Action[] = ["restart", "stop", "start"];

/** What an action applies to: everything (`undefined`), the web, or one named process (`worker` or a berth:processes type). */
export type Target = undefined | "web" | { process: string };

/** The names `restart|stop|start` take on this stack: web, worker (berth:workerCommand) and the berth:processes types. */
export function knownTargets(cfg: Pick<BerthConfig, "processes" | "release">): string[] {
    const names = ["web", ...(cfg.release.workerCommand ? ["worker"] : Object.keys(cfg.processes))];
    return [...new Set(names)];
}

/** Resolves the optional name; refuses an unknown one, listing the known ones. */
export function resolveTarget(cfg: Pick<BerthConfig, "processes" | "release" | "stack">, name: string | undefined): Target {
    if (name === undefined) return undefined;
    const known = knownTargets(cfg);
    if (!known.includes(name)) throw new Error(`berth: stack ${cfg.stack} has no process ${JSON.stringify(name)}; known: ${known.join(", ")}`);
    return name === "web" ? "web" : { process: name };
}

/** The unit(s) of the worker and the process instances this host runs (of `target`; all without one). */
export function processUnitsOn(hcfg: BerthConfig, target: Target): string[] {
    if (target === "web") return [];
    const want = (name: string) => target === undefined || target.process === name;
    const worker = hcfg.release.workerCommand && want("worker") ? [`${hcfg.names.workerUnit}.service`] : [];
    const procs = processesOn(hcfg).filter((p) => want(p.name)).flatMap((p) => [...processUnitNames(hcfg.names, p.name, p.count).instances]);
    return [...worker, ...procs];
}

/** The schedules' timers (on the release host only), which `stop`/`start` without a name stop and start. */
export function scheduleTimersOn(hcfg: BerthConfig, target: Target): string[] {
    if (target !== undefined || !schedulesHere(hcfg)) return [];
    return Object.values(hcfg.schedules).map((s) => `${scheduleUnitNames(hcfg.names, s.name).unit}.timer`);
}

/** Whether the action touches the web instances of this host. */
function webHere(hcfg: BerthConfig, target: Target): boolean {
    return has(hcfg.host, "web") && (target === undefined || target === "web");
}

/**
 * Zero-downtime restart of the serving release on the idle instance (see the
 * header). Exit 1 without moving traffic when nothing serves yet or the
 * restarted instance does not become healthy.
 */
export function webRestartLines(hcfg: BerthConfig): Lines {
    const n = hcfg.names;
    const r = hcfg.release;
    const state = `${n.root}/state`;
    const headers = probeHeaders(hcfg.domain).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    const probe = cmd("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--unix-socket", raw(`${quote(`${n.runDir}/`)}"$idle.sock"`), ...headers, `http://${hcfg.domain}${r.healthPath}`);
    const onHost = hcfg.multiHost ? ` on host ${hcfg.host.name}` : "";
    return [
        `active=$(cat ${quote(`${state}/color`)} 2>/dev/null || true)`,
        'case "$active" in',
        `  blue) idle=green; port=${hcfg.ports.webGreen} ;;`,
        `  green) idle=blue; port=${hcfg.ports.webBlue} ;;`,
        `  *) echo ${quote(`berth: nothing serves${onHost} yet (no serving instance): deploy first`)} >&2; exit 1 ;;`,
        "esac",
        `if [ "$(readlink ${quote(n.webSocket)} 2>/dev/null)" != ${quote(`${n.runDir}/`)}"$active.sock" ]; then echo "berth: traffic${onHost} does not go to $active as the state says; run berth repair first" >&2; exit 1; fi`,
        `rel=$(readlink ${quote(`${n.root}/slots/`)}"$active")`,
        `rev=$(sed -n 's/^REVISION=//p' ${quote(`${n.root}/slots/`)}"$active.env")`,
        `stamp=$(cat ${quote(`${state}/`)}"$active.stamp" 2>/dev/null || true)`,
        `active_unit=${quote(n.webUnit)}"$active.service"`,
        `active_socket=${quote(n.proxyUnit)}"$active.socket"`,
        `idle_unit=${quote(n.webUnit)}"$idle.service"`,
        `idle_socket=${quote(n.proxyUnit)}"$idle.socket"`,
        // A drain timer left by the last switch must not stop what starts on the idle instance now.
        `systemctl stop ${quote(drainUnitPrefix(hcfg.names))}"$idle.timer" 2>/dev/null || true`,
        'systemctl stop "$idle_socket" "$idle_unit" 2>/dev/null || true',
        `rm -f ${quote(`${state}/`)}"$idle.stamp"`,
        `ln -sfn "$rel" ${quote(`${n.root}/slots/`)}"$idle"`,
        // The serving slot's env with the idle port: the same file the switch writes for that slot.
        `sed "s/^PORT=.*/PORT=$port/" ${quote(`${n.root}/slots/`)}"$active.env" > ${quote(`${n.root}/slots/`)}"$idle.env"`,
        `systemctl reset-failed "$idle_unit" ${quote(n.proxyUnit)}"$idle.service" 2>/dev/null || true`,
        'systemctl start "$idle_unit" "$idle_socket"',
        `echo "berth: restarting release $rev on $idle (127.0.0.1:$port)${onHost}, waiting for ${r.healthPath}"`,
        `deadline=$((SECONDS + ${r.healthTimeout}))`,
        "code=000",
        'while [ "$SECONDS" -lt "$deadline" ]; do',
        `  code=$(${probe} || true)`,
        '  if [ "$code" = 200 ]; then break; fi',
        '  if systemctl is-failed --quiet "$idle_unit"; then break; fi',
        "  sleep 0.5",
        "done",
        'if [ "$code" != 200 ]; then',
        `  echo "berth: the restarted release $rev${onHost} did not answer 200 on ${r.healthPath} within ${r.healthTimeout}s (last answer: $code); traffic stays on $active. Last log lines of $idle_unit:" >&2`,
        '  systemctl stop "$idle_socket" "$idle_unit" || true',
        '  journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true',
        "  exit 1",
        "fi",
        `if [ -n "$stamp" ]; then echo "$stamp" > ${quote(`${state}/`)}"$idle.stamp"; fi`,
        'systemctl enable --quiet --no-reload "$idle_unit" "$idle_socket"',
        `ln -sfn ${quote(`${n.runDir}/`)}"$idle.sock" ${quote(`${n.webSocket}.berth-new`)}`,
        `mv -T ${quote(`${n.webSocket}.berth-new`)} ${quote(n.webSocket)}`,
        `echo "$idle" > ${quote(`${state}/color`)}`,
        'systemctl disable --quiet --no-reload "$active_unit" "$active_socket" || true',
        `drain=${quote(drainUnitPrefix(hcfg.names))}"$active"`,
        'systemctl stop "$drain.timer" 2>/dev/null || true',
        'systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true',
        // The previous instance runs the same release: kept for the drain only (requests in flight).
        drainRunCommand(raw('"$drain"'), r.drainSeconds, [raw('"$active_socket"'), raw('"$active_unit"')]),
        `echo "berth: web restarted${onHost}: release $rev serving on $idle; the previous instance stops after ${r.drainSeconds}s"`,
    ];
}

/** `systemctl <action>` of units, with one line saying so (nothing when there are none). */
function unitLines(action: Action, units: readonly string[], what: string): Lines {
    if (units.length === 0) return [];
    const done = { restart: "restarted", stop: "stopped", start: "started" }[action];
    return [cmd("systemctl", action, ...units), `echo ${quote(`berth: ${done} ${what}: ${units.join(" ")}`)}`];
}

/** The script of one action on one host (undefined when the host runs nothing of the target). */
export function actionScript(hcfg: BerthConfig, action: Action, target: Target): string | undefined {
    const web = action === "restart" && webHere(hcfg, target);
    const units = processUnitsOn(hcfg, target);
    const timers = action === "restart" ? [] : scheduleTimersOn(hcfg, target);
    if (!web && units.length === 0 && timers.length === 0) return undefined;
    return script(
        hostLock(HOST_LOCK, `${action} of ${hcfg.names.id}`),
        web && webRestartLines(hcfg),
        // Timers first on stop (no new run starts while the workers stop), last on start.
        action === "stop" && unitLines(action, timers, "schedule timers"),
        unitLines(action, units, "processes"),
        action === "start" && unitLines(action, timers, "schedule timers"),
    );
}

interface HostResult {
    host: string;
    code: number;
    lines: string[];
}

/**
 * `restart|stop|start [name]` on the stack: every host that runs the target
 * (or `--host`'s alone); stop and start without a name, and with `web`, also
 * set `berth:maintenance` (cli/commands/maintenance.ts: commit, push, converge).
 */
export async function runAction(s: Stack, action: Action, name: string | undefined, opts: OpOptions): Promise<OpOutput> {
    const stackCfg = s.source.config;
    const target = resolveTarget(stackCfg, name);
    const hosts = opts.host !== undefined ? [s.cfg.host] : stackCfg.hosts;
    const plans = hosts.map((h) => ({ host: h.name, on: s.on(h.name), body: actionScript(viewOf(stackCfg, h.name)!, action, target) }));
    const withMaintenance = action !== "restart" && (target === undefined || target === "web");
    const text: string[] = [];
    const results: HostResult[] = [];
    let code = 0;
    const label = (h: string) => (stackCfg.multiHost ? `host ${h}: ` : "");
    const runHosts = () => {
        for (const p of plans) {
            if (!p.body) continue;
            if (opts.dryRun) {
                text.push(`${label(p.host)}would ${action} ${describe(viewOf(stackCfg, p.host)!, action, target)}`);
                continue;
            }
            const r = p.on.host.run(p.body, undefined, 900_000);
            const lines = [...r.stdout.split("\n"), ...(r.code === 0 ? [] : r.stderr.split("\n"))].filter(Boolean).map((l) => `${label(p.host)}${l}`);
            text.push(...lines);
            results.push({ host: p.host, code: r.code, lines });
            if (r.code !== 0) {
                code = 1;
                text.push(`${label(p.host)}${action} failed (exit ${r.code})`);
                return false;
            }
        }
        return true;
    };
    let maint: OpOutput | undefined;
    const setMaintenance = async (mode: "on" | "off") => {
        const want = mode === "on";
        if (stackCfg.maintenance === want && !opts.dryRun) {
            text.push(`maintenance already ${mode} (berth:maintenance ${want})`);
            return true;
        }
        maint = await maintenance(s, mode, opts);
        text.push(...maint.text);
        if (maint.code !== 0) code = 1;
        return maint.code === 0;
    };
    if (plans.every((p) => !p.body) && !withMaintenance) throw new Error(`berth: no host of stack ${stackCfg.stack} runs ${name ?? "anything to " + action}`);
    if (action === "stop" && withMaintenance) {
        // Writes stop first (nginx answers 503), then the jobs.
        if (await setMaintenance("on")) runHosts();
    } else if (action === "start" && withMaintenance) {
        if (runHosts()) await setMaintenance("off");
    } else runHosts();
    return {
        code,
        text: [...text, ...(opts.dryRun ? ["(dry run: nothing changed)"] : [])],
        data: { action, target: name ?? "all", hosts: results, ...(maint ? { maintenance: maint.data } : {}), ok: code === 0 },
    };
}

/** What an action does on a host, in words (the dry run). */
function describe(hcfg: BerthConfig, action: Action, target: Target): string {
    const parts = [
        action === "restart" && webHere(hcfg, target) ? "web (on the idle instance, zero downtime)" : "",
        ...processUnitsOn(hcfg, target),
        ...(action === "restart" ? [] : scheduleTimersOn(hcfg, target)),
    ].filter(Boolean);
    return parts.join(", ");
}

/** `berth restart|stop|start [process]` (cli/commands/index.ts: the three share this file). */
export async function run(c: CommandContext): Promise<number> {
    if (c.args.length > 1) throw new UsageError(`${c.op} takes at most one process name`);
    return print(c, await runAction(c.s, c.op as Action, c.args[0], c.opts));
}

/**
 * What `berth status` and `berth logs` show of `berth:processes` and
 * `berth:schedules`: the process instances among the status units, one
 * read-only script for the schedules (timer's next and last run, the last
 * run's result, the failure marker lib/units/schedule.ts's failure unit
 * writes), and the journal of a process type or schedule.
 */
import type { BerthConfig } from "../../lib/config";
import { processUnitNames, scheduleFailureUnit, scheduleUnitNames } from "../../lib/names";
import { cmd, quote, script } from "../../lib/shell";
import { releaseHost } from "../../lib/topology";
import { processesOn } from "../../lib/units/process";

type Scope = Pick<BerthConfig, "names" | "processes" | "schedules" | "host" | "release" | "hosts">;

/** The process instances this host runs (1..count of each process type placed on it). */
export function processStatusUnits(cfg: Scope): string[] {
    return processesOn(cfg).flatMap((p) => [...processUnitNames(cfg.names, p.name, p.count).instances]);
}

/** The schedules run on the release host only: this host's, or none. */
export function schedulesHere(cfg: Scope): boolean {
    return Object.keys(cfg.schedules).length > 0 && releaseHost(cfg as BerthConfig).name === cfg.host.name;
}

/** One tab-separated record per schedule: name, timer enabled, next run, last run, service state, result, exit status, failure marker. */
export function scheduleStatusScript(cfg: Scope): string {
    const rows = Object.values(cfg.schedules).map((s) => {
        const u = scheduleUnitNames(cfg.names, s.name);
        const show = (unit: string, prop: string) => `"$(systemctl show -P ${prop} ${quote(unit)} 2>/dev/null || true)"`;
        return [
            `r ${quote(s.name)} "$(systemctl is-enabled ${quote(`${u.unit}.timer`)} 2>/dev/null || true)"`,
            show(`${u.unit}.timer`, "NextElapseUSecRealtime"),
            show(`${u.unit}.timer`, "LastTriggerUSec"),
            show(`${u.unit}.service`, "ActiveState"),
            show(`${u.unit}.service`, "Result"),
            show(`${u.unit}.service`, "ExecMainStatus"),
            `"$(head -c 200 ${quote(u.failedMarker)} 2>/dev/null || true)"`,
        ].join(" ");
    });
    return script("r() { local IFS=$'\\t'; printf '%s\\n' \"$*\"; }", ...rows);
}

export interface ScheduleStatus {
    name: string;
    schedule: string;
    /** The timer's `is-enabled` (`enabled`; anything else: not installed or not yet enabled). */
    enabled: string;
    next: string | null;
    last: string | null;
    /** The service: `active`/`activating` while a run is in progress. */
    state: string;
    /** systemd's result of the last run (`success`, `exit-code`, `timeout`, ...); null before the first. */
    result: string | null;
    exitStatus: string | null;
    /** The failure marker: the last failed run (`<UTC time> <result> <exit status>`) since the last successful one. */
    failed: { at: string; result: string; exitStatus: string } | null;
}

const orNull = (v: string | undefined) => (v && v !== "n/a" && v !== "0" ? v : null);

export function parseScheduleStatus(cfg: Pick<BerthConfig, "schedules">, text: string): ScheduleStatus[] {
    const out: ScheduleStatus[] = [];
    for (const line of text.split("\n")) {
        if (!line) continue;
        const [name, enabled, next, last, state, result, exitStatus, marker] = line.split("\t");
        const s = cfg.schedules[name];
        if (!s) continue;
        const [at, failedResult, failedStatus] = (marker ?? "").trim().split(" ");
        const ran = orNull(last) !== null;
        out.push({
            name,
            schedule: s.schedule,
            enabled: enabled || "not installed",
            next: orNull(next),
            last: orNull(last),
            state: state || "unknown",
            result: ran ? orNull(result) : null,
            exitStatus: ran ? (exitStatus ?? null) : null,
            failed: at ? { at, result: failedResult ?? "failed", exitStatus: failedStatus ?? "-" } : null,
        });
    }
    return out;
}

/** The status lines of the schedules. */
export function scheduleStatusText(list: readonly ScheduleStatus[]): string[] {
    return [
        "schedules",
        ...list.map((s) => {
            const running = s.state === "activating" || s.state === "active" ? "  running now" : "";
            const last = s.last ? `last ${s.last} ${s.result === "success" ? "ok" : `${s.result ?? "?"} (status ${s.exitStatus ?? "?"})`}` : "never ran";
            const failed = s.failed ? `  FAILED ${s.failed.at} (${s.failed.result}, status ${s.failed.exitStatus})` : "";
            return `  ${s.name.padEnd(20)} ${s.schedule.padEnd(24)} ${s.enabled === "enabled" ? `next ${s.next ?? "-"}` : s.enabled}  ${last}${running}${failed}`;
        }),
    ];
}

/**
 * `berth logs <name>` of a process type (every instance) or a schedule (its
 * runs and its failure records); undefined for other names.
 */
export function namedLogsScript(cfg: Pick<BerthConfig, "names" | "processes" | "schedules" | "release">, name: string, lines: number, follow: boolean): string | undefined {
    const journal = (...units: string[]) => cmd("journalctl", "--no-pager", "-o", "short-iso", "-n", lines, ...(follow ? ["-f"] : []), ...units.flatMap((u) => ["-u", u]));
    const p = cfg.release.workerCommand ? undefined : cfg.processes[name];
    if (p) return script(journal(`${processUnitNames(cfg.names, p.name, p.count).unit}*.service`));
    const s = cfg.schedules[name];
    if (s) return script(journal(`${scheduleUnitNames(cfg.names, s.name).unit}.service`, `${scheduleFailureUnit(cfg.names).unit}${s.name}.service`));
    return undefined;
}

/** What `berth logs` names besides its own services (the message of an unknown name). */
export function namedLogs(cfg: Pick<BerthConfig, "processes" | "schedules" | "release">): string[] {
    return [...(cfg.release.workerCommand ? [] : Object.keys(cfg.processes)), ...Object.keys(cfg.schedules)];
}

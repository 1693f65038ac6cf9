/**
 * A schedule (`berth:schedules`): a timer and the oneshot service it starts,
 * `berth-<app>-<stack>-schedule-<name>.{timer,service}`, installed on the
 * release host only (once per stack). The service runs the command in the
 * current release with the app's environment and the worker's sandbox.
 *
 * Never overlapping itself: systemd's own rule, no lock file. A timer that
 * elapses while its service is still active does not start a second run:
 * "If the unit to activate is already active when the timer elapses, it is
 * not restarted, but simply left running. There is no concept of spawning
 * new service instances in this case." (systemd.timer(5), `Unit=`). A
 * oneshot service is active ("activating") for the whole run, and a
 * `systemctl start` of it meanwhile joins the running job instead of
 * starting another (systemctl(1), job merging).
 *
 * Missed runs are not caught up (`Persistent=false`: a host that was down at
 * 03:00 does not run the 03:00 job at boot); a run that outlives `timeout`
 * is stopped and recorded failed (`TimeoutStartSec=`, which bounds a oneshot
 * service's whole run). A failed run stays `failed` in `systemctl` and the
 * journal until the next run, and is recorded: `OnFailure=` starts the
 * failure unit (`scheduleFailureFile`), which writes the schedule's failure
 * marker (time, result, exit status; root's, under `scheduleStateDir`) that
 * `berth status` shows; the next successful run removes it
 * (`ExecStartPost=`, which runs only after a successful `ExecStart=`). Alerts
 * hook onto the failure unit later.
 */
import type { ScheduleConfig } from "../config";
import { type Names, PROTECT, scheduleFailureUnit, scheduleStateDir, scheduleUnitNames } from "../names";
import { managedBy } from "../managedBy";
import { appHardening, appServiceLines, sandboxTightening, shellExecStart, systemdQuote, timerUnitFile } from "./common";

export interface ScheduleUnitScope {
    readonly project: string;
    readonly stack: string;
    readonly names: Names;
}

/** The oneshot service a schedule's timer starts. */
export function scheduleServiceFile(cfg: ScheduleUnitScope, schedule: Pick<ScheduleConfig, "name" | "command" | "timeout">): string {
    const n = cfg.names;
    const u = scheduleUnitNames(n, schedule.name);
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} schedule ${schedule.name}`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        // A failed run (exit status, timeout, signal) writes its failure marker; alerts hook onto that unit.
        `OnFailure=${scheduleFailureUnit(n).unit}${schedule.name}.service`,
        "",
        "[Service]",
        "Type=oneshot",
        ...appServiceLines(n),
        `Environment=BERTH_SCHEDULE=${schedule.name}`,
        `ExecStart=${shellExecStart(schedule.command)}`,
        // Only after a successful run; `+`: as root (the marker is root's), outside the sandbox.
        `ExecStartPost=+/bin/rm -f ${u.failedMarker}`,
        `TimeoutStartSec=${schedule.timeout}`,
        "TimeoutStopSec=30",
        "KillMode=mixed",
        `SyslogIdentifier=${u.syslogIdentifier}`,
        ...appHardening(n),
        "",
    ].join("\n");
}

/** The timer: `OnCalendar=` the schedule, no catch-up of missed runs, to the second. */
export function scheduleTimerFile(cfg: ScheduleUnitScope, schedule: Pick<ScheduleConfig, "name" | "schedule">): string {
    const n = cfg.names;
    return timerUnitFile(cfg, `berth ${n.id} schedule ${schedule.name} (${schedule.schedule})`, [`OnCalendar=${schedule.schedule}`, "Persistent=false", "AccuracySec=1s"]);
}

/**
 * The failure unit (template; `%i` is the schedule's name), started by a
 * failed run's `OnFailure=`: writes `<scheduleStateDir>/<name>.failed` as
 * `<UTC time> <result> <exit status>` (systemd passes the failed unit's
 * `MONITOR_SERVICE_RESULT`, `MONITOR_EXIT_STATUS`), in one rename. Runs as
 * root (the marker must not be the app's to forge or clear) with nothing
 * but that directory writable and no network.
 */
export function scheduleFailureFile(cfg: ScheduleUnitScope): string {
    const n = cfg.names;
    const dir = scheduleStateDir(n);
    const body = [
        `d=${dir}`,
        `printf '%s %s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "\${MONITOR_SERVICE_RESULT:-failed}" "\${MONITOR_EXIT_STATUS:--}" > "$d/.$1.failed"`,
        `mv -f "$d/.$1.failed" "$d/$1.failed"`,
        `echo "berth: schedule $1 failed (\${MONITOR_SERVICE_RESULT:-failed}); recorded in $d/$1.failed"`,
    ].join("; ");
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} schedule %i failed: records it`,
        "",
        "[Service]",
        "Type=oneshot",
        `ExecStart=/bin/sh -c ${systemdQuote(body)} sh %i`,
        `SyslogIdentifier=${n.id}-schedule-failed`,
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        `ReadWritePaths=${dir}`,
        ...PROTECT,
        "PrivateNetwork=yes",
        "IPAddressDeny=any",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "UMask=0022",
        ...sandboxTightening().map((l) => (l.startsWith("RestrictAddressFamilies=") ? "RestrictAddressFamilies=AF_UNIX" : l)),
        "",
    ].join("\n");
}

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
 * journal until the next run: the hook point for alerts is `OnFailure=` in
 * the service's [Unit] section (none yet).
 */
import type { ScheduleConfig } from "../config";
import { type Names, scheduleUnitNames } from "../names";
import { managedBy } from "../remote";
import { appHardening, appServiceLines, shellExecStart } from "./common";

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
        "# Alerts hook here: OnFailure=<unit> (not set yet).",
        "",
        "[Service]",
        "Type=oneshot",
        ...appServiceLines(n),
        `Environment=BERTH_SCHEDULE=${schedule.name}`,
        `ExecStart=${shellExecStart(schedule.command)}`,
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
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} schedule ${schedule.name} (${schedule.schedule})`,
        "",
        "[Timer]",
        `OnCalendar=${schedule.schedule}`,
        "Persistent=false",
        "AccuracySec=1s",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ].join("\n");
}

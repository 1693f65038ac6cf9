/**
 * Schedules: `berth:schedules` as systemd timers (lib/units/schedule.ts),
 * on the release host only (once per stack, however many app hosts), in
 * the app's environment and the current release.
 *
 * The command runs after the release host's switch, so a timer is enabled
 * only once a release is current (on a first `pulumi up`, after it); it
 * writes the service and timer of each schedule and the failure unit that
 * records a failed run (`berth status` shows it), enables and starts each
 * timer, and stops and removes the schedules no longer configured (a berth
 * schedule of this stack: the managed-by line and `BERTH_SCHEDULE=`). A
 * changed command needs no restart: the next run reads the new unit.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { scheduleFailureUnit, scheduleStateDir, scheduleUnitNames } from "../../lib/names";
import { cmd, quote, retireUnit, script, writeFile } from "../../lib/shell";
import { scheduleFailureFile, scheduleServiceFile, scheduleTimerFile } from "../../lib/units/schedule";

/** What the builders read of the configuration: the stack, the release host, the schedules. */
export const SCHEDULES_SCOPE = ["project", "stack", "production", "protect", "names", "host", "schedules"] as const;
export type SchedulesScope = Pick<BerthConfig, (typeof SCHEDULES_SCOPE)[number]>;

/** The scope's settings (`host` is the release host), then the resources. */
export interface SchedulesArgs extends SchedulesScope {
    /** The release host's SSH connection. */
    connection: pulumi.Input<Connection>;
    /** The release host's switch (a release is current), and its units (the env file the services read). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Schedules extends pulumi.ComponentResource {
    /** Writes the units, enables the timers, removes schedules no longer configured. */
    public readonly timers: command.remote.Command;

    constructor(name: string, args: SchedulesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Schedules", name, {}, opts);
        const cfg: SchedulesScope = args;
        this.timers = remoteScript(
            `${name}-timers`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: schedulesScript(cfg),
                delete: schedulesDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ timers: this.timers.id });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested, shellchecked, run with bash against fixtures)
// ---------------------------------------------------------------------------

type ScheduleScope = Pick<BerthConfig, "project" | "stack" | "names" | "schedules">;

/**
 * Writes every schedule's service and timer and the failure unit (only when
 * they differ), removes the schedules no longer configured (timer stopped
 * and disabled first), reloads systemd when something changed, then
 * enables and starts every timer. Not before a release is current.
 */
export function schedulesScript(cfg: ScheduleScope): string {
    const n = cfg.names;
    const list = Object.values(cfg.schedules);
    const units = list.map((s) => scheduleUnitNames(n, s.name));
    const failure = scheduleFailureUnit(n);
    const timers = units.map((u) => quote(`${u.unit}.timer`)).join(" ");
    return script(
        `if [ ! -e ${quote(`${n.root}/current`)} ]; then echo ${quote(`berth: no release is current on this host (${n.root}/current): the schedules wait for the first one`)} >&2; exit 1; fi`,
        "changed=0",
        cmd("install", "-d", "-m", "0755", scheduleStateDir(n)),
        writeFile(failure.unitPath, scheduleFailureFile(cfg), { mode: "0644" }),
        ...list.map((s, i) => [writeFile(units[i].servicePath, scheduleServiceFile(cfg, s), { mode: "0644" }), writeFile(units[i].timerPath, scheduleTimerFile(cfg, s), { mode: "0644" })]),
        `for f in ${quote(`/etc/systemd/system/berth-${n.id}-schedule-`)}*.service; do`,
        '  [ -f "$f" ] || continue',
        `  case "$f" in ${units.map((u) => quote(u.servicePath)).join("|")}) continue ;; esac`,
        `  if [ "$(head -n 1 "$f")" = ${quote(managedBy(cfg))} ] && grep -q '^Environment=BERTH_SCHEDULE=' "$f"; then`,
        '    u=$(basename "$f" .service)',
        `    ${retireUnit('"$u.timer"')}; systemctl reset-failed "$u.service" 2>/dev/null || true`,
        '    rm -f "${f%.service}.timer" "$f"',
        `    rm -f ${quote(`${scheduleStateDir(n)}/`)}"\${u#${quote(`berth-${n.id}-schedule-`)}}.failed"`,
        "    changed=1",
        '    echo "berth: removed the schedule ${u#berth-*-schedule-} (no longer in berth:schedules)"',
        "  fi",
        "done",
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
        `systemctl enable --now --quiet ${timers}`,
        `echo ${quote(`berth: ${list.length} schedule${list.length === 1 ? "" : "s"} enabled: ${list.map((s) => `${s.name} (${s.schedule})`).join(", ")}`)}`,
    );
}

/** Destroy (non-production): stop and disable the timers, stop a run in progress, remove the units and markers. */
export function schedulesDeleteScript(cfg: ScheduleScope): string {
    const n = cfg.names;
    const units = Object.values(cfg.schedules).map((s) => scheduleUnitNames(n, s.name));
    return script(
        // One at a time: systemctl refuses the whole list when one unit file is missing.
        `for u in ${units.flatMap((u) => [`${u.unit}.timer`, `${u.unit}.service`]).map(quote).join(" ")}; do ${retireUnit('"$u"')}; done`,
        cmd("rm", "-f", ...units.flatMap((u) => [u.timerPath, u.servicePath, u.failedMarker]), scheduleFailureUnit(n).unitPath),
        "systemctl daemon-reload",
    );
}

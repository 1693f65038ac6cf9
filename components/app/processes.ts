/**
 * Processes: the process types of `berth:processes` on one app host, each a
 * systemd template unit `berth-<app>-<stack>-<process>@.service`
 * (lib/units/process.ts) whose instances `1`..`count` run the current
 * release, sandboxed like the web instances.
 *
 * This component only writes the template units (and removes those of
 * process types no longer configured on the host, stopping their
 * instances). Every app host has one, with or without process types, so
 * removing the last type is done by its script too (on production a
 * Processes dropped from the program would only be forgotten:
 * retainOnDelete). An upgrade of berth adds it to a host that had none: one
 * command that finds nothing to remove; the switch's hash is the units'
 * alone while the host has no type, so no switch follows. Which instances run is the switch's job, as for today's
 * worker: after each release it enables and restarts instances 1..count and
 * stops and disables any instance above the count (`processSwitchLines`);
 * `unitsHash` joins the switch's units hash, so a changed command or count
 * is a new switch.
 *
 * `berth:workerCommand` is the process `worker` too (lib/config.ts), but
 * keeps today's single unit `berth-<app>-<stack>-worker.service`
 * (components/app/appUnits.ts): an existing stack's units and switch
 * stay byte for byte what they were (its URNs only gain this component),
 * and its worker is never restarted by an upgrade of berth. Moving to `berth:processes.worker`
 * is the user's step (README "Processes and schedules"): the units script
 * removes the old unit (appUnits.ts, worker no longer configured) and the
 * switch starts `worker@1..count`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { processUnitNames } from "../../lib/names";
import { quote, retireUnit, script, writeFile } from "../../lib/shell";
import { processesOn, processUnitFile } from "../../lib/units/process";
import { sha256 } from "./appUnits";
import { instancesFunction, processHaltLines, processInstances, processStopLines, processSwitchLines, type ProcessScope } from "./processScripts";

export { instancesFunction, processHaltLines, processInstances, processStopLines, processSwitchLines };

/** What the builders read of the configuration: the stack, this host (its processes) and its release settings. */
export const PROCESSES_SCOPE = ["project", "stack", "production", "protect", "names", "host", "release", "processes"] as const;
export type ProcessesScope = Pick<BerthConfig, (typeof PROCESSES_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts), then the resources. */
export interface ProcessesArgs extends ProcessesScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** Host steps that must be done first (app user, /etc/berth/<id>). */
    hostReady: pulumi.Input<pulumi.Resource>[];
}

export class Processes extends pulumi.ComponentResource {
    /** Writes the template units and reloads systemd when they changed. */
    public readonly units: command.remote.Command;
    /** sha256 of the units and counts: the switch restarts the processes when it changes. */
    public readonly unitsHash: pulumi.Output<string>;

    constructor(name: string, args: ProcessesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Processes", name, {}, opts);
        const cfg: ProcessesScope = args;
        this.units = remoteScript(
            `${name}-units`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: processUnitsScript(cfg),
                delete: processUnitsDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.hostReady },
        );
        this.unitsHash = pulumi.output(processUnitsHash(cfg));
        this.registerOutputs({ units: this.units.id, unitsHash: this.unitsHash });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested, shellchecked, run with bash against fixtures)
// ---------------------------------------------------------------------------


/** sha256 over this host's process units and their counts. */
export function processUnitsHash(cfg: ProcessScope): string {
    return sha256(processesOn(cfg).map((p) => `${p.name}\0${p.count}\0${processUnitFile(cfg, p)}`).join("\0"));
}


/**
 * Writes this host's template units (only when they differ), removes the
 * units of process types no longer configured here (a berth process unit of
 * this stack: the managed-by line and `BERTH_PROCESS=`), stopping and
 * disabling their instances first, and reloads systemd when something
 * changed. Starting instances is the switch's job.
 */
export function processUnitsScript(cfg: ProcessScope): string {
    const procs = processesOn(cfg);
    const paths = procs.map((p) => processUnitNames(cfg.names, p.name, p.count).unitPath);
    return script(
        "changed=0",
        instancesFunction(),
        ...procs.map((p, i) => writeFile(paths[i], processUnitFile(cfg, p), { mode: "0644" })),
        `for f in ${quote(`/etc/systemd/system/berth-${cfg.names.id}-`)}*@.service; do`,
        '  [ -f "$f" ] || continue',
        ...(paths.length > 0 ? [`  case "$f" in ${paths.map(quote).join("|")}) continue ;; esac`] : []),
        `  if [ "$(head -n 1 "$f")" = ${quote(managedBy(cfg))} ] && grep -q '^Environment=BERTH_PROCESS=' "$f"; then`,
        '    t=$(basename "$f" .service)',
        `    for u in $(instances "$t"); do ${retireUnit('"$u"')}; done`,
        '    rm -f "$f"',
        "    changed=1",
        '    echo "berth: removed the process type ${t%@} (no longer in berth:processes on this host)"',
        "  fi",
        "done",
        'if [ "$changed" = 1 ]; then',
        "  systemctl daemon-reload",
        "  echo 'berth: process units updated'",
        "else",
        "  echo 'berth: process units unchanged'",
        "fi",
    );
}

/** Destroy (non-production): stop and disable every instance of this host's process types, remove the units. */
export function processUnitsDeleteScript(cfg: ProcessScope): string {
    return script(instancesFunction(), processStopLines(cfg), "systemctl daemon-reload");
}





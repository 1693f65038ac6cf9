/**
 * A process type (`berth:processes`): one systemd template unit,
 * `berth-<app>-<stack>-<process>@.service`, whose instances `1`..`count` run
 * the same command in the current release with the app's environment and
 * the worker's sandbox. Which instances run is the switch's job (it enables
 * and restarts `processUnitNames(...).instances`, and stops the ones above
 * the count).
 */
import type { ProcessConfig } from "../config";
import { type Names, processUnitNames } from "../names";
import { managedBy } from "../managedBy";
import { appHardening, appServiceLines, shellExecStart } from "./common";

export interface ProcessUnitScope {
    readonly project: string;
    readonly stack: string;
    readonly names: Names;
}

/** The template unit of a process type; `%i` is the instance number. */
export function processUnitFile(cfg: ProcessUnitScope, process: Pick<ProcessConfig, "name" | "command">): string {
    const n = cfg.names;
    const u = processUnitNames(n, process.name, 0);
    return [
        managedBy(cfg),
        "[Unit]",
        `Description=berth ${n.id} ${process.name} (%i)`,
        "Wants=network-online.target",
        "After=network-online.target docker.service",
        "",
        "[Service]",
        "Type=simple",
        ...appServiceLines(n),
        `Environment=BERTH_PROCESS=${process.name} BERTH_PROCESS_INSTANCE=%i`,
        `ExecStart=${shellExecStart(process.command)}`,
        `SyslogIdentifier=${u.syslogIdentifier}-%i`,
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=30",
        "KillMode=mixed",
        ...appHardening(n),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
}

/**
 * The process types a host runs as template units: those whose `hosts` name
 * it. None on a stack with `berth:workerCommand`: that is the process
 * `worker` too (lib/config.ts), and keeps running as today's single worker
 * unit (components/app/appUnits.ts workerUnitFile), byte for byte.
 */
export function processesOn(cfg: { readonly processes: Readonly<Record<string, ProcessConfig>>; readonly host: { readonly name: string }; readonly release: { readonly workerCommand?: string } }): ProcessConfig[] {
    // (A host's release settings carry berth:workerCommand exactly where the worker runs: lib/plan.ts.)
    if (cfg.release.workerCommand) return [];
    return Object.values(cfg.processes).filter((p) => p.hosts.includes(cfg.host.name));
}

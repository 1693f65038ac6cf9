/**
 * `berth logs [-f] [-n N] [service]`: the journal of the web instances, the
 * worker, a process type or schedule, nginx's site logs, or a data
 * container's logs, streamed from the host.
 */
import { BerthConfig } from "../../lib/config";
import { cmd, script } from "../../lib/shell";
import { namedLogs, namedLogsScript } from "../support/processes";
import { OpOptions, Stack } from "../support/stack";
import { CommandContext } from "../support/command";

export const LOG_SERVICES = ["web", "worker", "nginx", "postgres", "redis"] as const;
export type LogService = (typeof LOG_SERVICES)[number];

export function logsScript(cfg: BerthConfig, service: LogService, lines: number, follow: boolean): string {
    const n = cfg.names;
    const journal = (unit: string) => cmd("journalctl", "--no-pager", "-o", "short-iso", "-n", lines, ...(follow ? ["-f"] : []), "-u", unit);
    switch (service) {
        case "web":
            return script(journal(`${n.webUnit}*.service`));
        case "worker":
            if (!cfg.release.workerCommand) throw new Error("berth: this stack has no worker (berth:workerCommand is empty)");
            return script(journal(`${n.workerUnit}.service`));
        case "nginx":
            // The site's own logs (components/web/nginxSite.ts access_log/error_log).
            return script(cmd("tail", "-n", lines, ...(follow ? ["-F"] : []), `/var/log/nginx/${n.nginxSite}.access.log`, `/var/log/nginx/${n.nginxSite}.error.log`));
        case "postgres":
        case "redis":
            return script(cmd("docker", "logs", "--timestamps", "--tail", lines, ...(follow ? ["-f"] : []), service === "postgres" ? n.postgresContainer : n.redisContainer));
    }
}

export async function logs(s: Stack, service: string | undefined, opts: OpOptions): Promise<number> {
    const svc = (service ?? "web") as LogService;
    // A process type or schedule by its name (berth:processes, berth:schedules); `worker` is berth:workerCommand's when set.
    const stackCfg = s.source.config;
    const builtIn = LOG_SERVICES.includes(svc) && (svc !== "worker" || stackCfg.release.workerCommand !== undefined);
    const named = builtIn ? undefined : namedLogsScript(stackCfg, svc, opts.lines ?? 100, opts.follow === true);
    if (!named && !LOG_SERVICES.includes(svc)) throw new Error(`berth: logs of ${JSON.stringify(service)}? one of ${[...LOG_SERVICES, ...namedLogs(stackCfg)].join(", ")}`);
    // Following on a terminal: a remote terminal too, so Ctrl-C ends the remote tail with ssh.
    const tty = opts.follow === true && process.stdout.isTTY === true && process.stdin.isTTY === true;
    return s.host.stream(named ?? logsScript(s.cfg, svc, opts.lines ?? 100, opts.follow === true), { tty });
}

export function run(c: CommandContext): Promise<number> {
    return logs(c.s, c.args[0], c.opts);
}

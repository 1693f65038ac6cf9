/**
 * What every unit running the app's code shares: the systemd quoting of a
 * command line, the sandbox, the environment. The web and worker units of
 * components/app/appUnits.ts, the process types and the schedules all take
 * them from here.
 */
import type { Names } from "../names";
import { PROTECT } from "../names";
import type { BerthConfig } from "../config";
import { managedBy } from "../managedBy";

/**
 * One word for a systemd command line (ExecStart=, systemd.service(5)):
 * single-quoted, with `\` and `'` backslash-escaped (systemd unescapes C
 * escapes inside quotes too), `%` doubled (unit specifiers), `$` doubled
 * (systemd's own ${VAR} substitution), tab/newline/other control characters
 * as C escapes. NUL cannot be represented and is rejected.
 */
export function systemdQuote(word: string): string {
    if (word.includes("\0")) throw new Error("berth: a systemd command line cannot contain NUL");
    const escaped = word.replace(/[\\'%$\x01-\x1f\x7f]/g, (c) => {
        switch (c) {
            case "\\":
                return "\\\\";
            case "'":
                return "\\'";
            case "%":
                return "%%";
            case "$":
                return "$$";
            case "\n":
                return "\\n";
            case "\t":
                return "\\t";
            default:
                return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
        }
    });
    return `'${escaped}'`;
}

/** `ExecStart=` value running a shell command line as the service's main process. */
export function shellExecStart(commandLine: string): string {
    return `/bin/sh -c ${systemdQuote(`exec ${commandLine}`)}`;
}

/**
 * What brings a unit to `systemd-analyze security` ≤ 2.0 without getting in
 * an app's way: no view of other processes, only the IP and unix socket
 * families, the `@system-service` syscall set minus privileged/obsolete
 * calls, no device nodes, private IPC.
 */
export function sandboxTightening(): string[] {
    return [
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "PrivateUsers=yes",
        "PrivateIPC=yes",
        "RemoveIPC=yes",
        "DevicePolicy=closed",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap",
        "SystemCallErrorNumber=EPERM",
    ];
}

/** The sandbox of a unit running the app's code (systemd.exec(5)): only `shared/` is writable. */
export function appHardening(names: Pick<Names, "root">): string[] {
    return [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        `ReadWritePaths=${names.root}/shared`,
        ...PROTECT,
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "UMask=0027",
        ...sandboxTightening(),
    ];
}

/**
 * The app user, the release it runs (`current`, or a web instance's slot),
 * the app's environment (the env file overrides the unit's own lines).
 * RAILS_LOG_TO_STDOUT is in the env file (components/environment.ts appEnv),
 * which the build and the release command read too; nginx serves public/ so
 * RAILS_SERVE_STATIC_FILES stays unset.
 */
export function appServiceLines(names: Pick<Names, "user" | "root" | "envFile">, workingDirectory = `${names.root}/current`): string[] {
    return [
        `User=${names.user}`,
        `Group=${names.user}`,
        `WorkingDirectory=${workingDirectory}`,
        `Environment=HOME=${names.root}/shared`,
        "Environment=LANG=C.UTF-8",
        `EnvironmentFile=${names.envFile}`,
    ];
}

/**
 * A timer unit starting the service of the same name: the managed-by line,
 * its description, the `[Timer]` lines (when it fires, whether a missed run
 * is caught up) and the `timers.target` install. Used by the schedules, the
 * alerts' check and the backups.
 */
export function timerUnitFile(cfg: Pick<BerthConfig, "project" | "stack">, description: string, timer: readonly string[]): string {
    return [managedBy(cfg), "[Unit]", `Description=${description}`, "", "[Timer]", ...timer, "", "[Install]", "WantedBy=timers.target", ""].join("\n");
}

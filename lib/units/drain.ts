/**
 * The drain: after a switch, the previous instance (its web unit and proxy
 * socket) stays up for the drain or the rollback window, then stops. A
 * transient timer (`systemd-run --on-active`) starts a transient service
 * that runs nothing privileged: it `Conflicts=` with the two units, so
 * systemd itself stops them when the timer starts it, and its own process
 * is `/bin/true` under a dynamic user in the tightest sandbox systemd has
 * (no capabilities, no sockets, no writable file system, no syscalls
 * beyond `@system-service`). It used to run `systemctl stop` as
 * unsandboxed root (exposure 9.6); `drainUnitFile` holds the same
 * properties as a unit file so `systemd-analyze security --offline` scores
 * them (1.0, the target is ≤ 2.0 like the other units: test/unit/hardening.test.ts).
 * The stops are jobs of the start's own transaction: they happen even if
 * the sandbox cannot be set up and `/bin/true` never runs.
 */
import { PROTECT } from "../names";
import { type Raw, cmd, raw } from "../shell";

/** The drain service's sandbox (systemd.exec(5)), one `-p` of systemd-run each. */
export function drainSandbox(): string[] {
    return [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        ...PROTECT,
        "PrivateUsers=yes",
        "PrivateIPC=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        // No socket family at all. Not `RestrictAddressFamilies=none`: that keyword is the unit-file
        // parser's; systemd-run sends each -p over D-Bus, where every word is a family name, and the
        // start fails ("Failed to set unit properties: Invalid argument", systemd 257). An allow-list
        // of AF_UNIX, then AF_UNIX taken out of it, is the empty allow-list in both forms.
        "RestrictAddressFamilies=AF_UNIX",
        "RestrictAddressFamilies=~AF_UNIX",
        "IPAddressDeny=any",
        "DevicePolicy=closed",
        "MemoryDenyWriteExecute=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
    ];
}

/** What the drain service runs: nothing (the stops come from its Conflicts=). */
export const DRAIN_EXEC = "/bin/true";

/**
 * The systemd-run command: the transient timer `<unit>.timer` firing after
 * `seconds`, its service `<unit>.service` conflicting with `conflicts`.
 * `unit` and `conflicts` are shell text (`raw`: "$drain", "$(web_unit ...)").
 */
export function drainRunCommand(unit: Raw, seconds: number, conflicts: readonly Raw[]): string {
    return cmd(
        "systemd-run",
        "--quiet",
        "--collect",
        raw(`--unit=${unit.raw}`),
        `--on-active=${seconds}`,
        ...conflicts.flatMap((c) => ["-p", raw(`Conflicts=${c.raw}`)]),
        ...drainSandbox().flatMap((p) => ["-p", p]),
        DRAIN_EXEC,
    );
}

/** The same service as a unit file (for `systemd-analyze security --offline` and `verify`; never written on a host). */
export function drainUnitFile(conflicts: readonly string[]): string {
    return [
        "[Unit]",
        "Description=berth drain (test copy of the transient unit)",
        ...conflicts.map((c) => `Conflicts=${c}`),
        "",
        "[Service]",
        `ExecStart=${DRAIN_EXEC}`,
        ...drainSandbox(),
        "",
    ].join("\n");
}

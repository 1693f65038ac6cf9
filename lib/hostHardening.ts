/**
 * System hardening every berth host gets at provision (the Host's packages
 * step runs `hostHardeningLines`): what the lynis audit checks that berth
 * can set without getting in the way of what it runs (Docker on the data
 * host, the WireGuard mesh, nginx, the app's builds). Each section names the
 * lynis test it satisfies (CISOfy/lynis include/tests_*, 2026-01). Every
 * file is host-wide: the same text from every stack (HOST_WIDE header), so
 * two stacks on one host never rewrite each other's files. Idempotent: a
 * re-run rewrites nothing and applies nothing.
 *
 * Deliberately not set: `kernel.modules_disabled` (WireGuard and Docker load
 * modules after boot), `net.ipv4.conf.all.forwarding=0` (Docker routes its
 * bridge on the data host), `rp_filter=1` (systemd's loose `2` is kept:
 * strict filtering drops replies on multi-homed VPSs), a non-22 SSH port
 * (`berth:sshPort`), `MaxAuthTries 3` (agent users run out of tries), and
 * compiler permissions (the app's native gems build as the app user).
 */
import { HOST_HARDENING } from "./names";
import { Lines, cmd, quote, writeFile } from "./shell";

/** Header of host-wide files: every stack on the host writes the same text, so they never flip between stacks. */
export const HOST_WIDE = "# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.";

/**
 * Kernel settings (lynis KRNL-6000 compares each with its default profile;
 * one hardening point each). Values where Debian's or systemd's defaults
 * differ from lynis's expectation, plus the defaults lynis checks, pinned.
 */
export const HARDENING_SYSCTL: readonly (readonly [string, string])[] = [
    // Core dumps of setuid programs off (KRNL-5820 / KRNL-6000 fs.suid_dumpable).
    ["fs.suid_dumpable", "0"],
    ["kernel.core_uses_pid", "1"],
    // Links, FIFOs and files in world-writable sticky directories.
    ["fs.protected_fifos", "2"],
    ["fs.protected_regular", "2"],
    ["fs.protected_hardlinks", "1"],
    ["fs.protected_symlinks", "1"],
    // Kernel pointers and the kernel log hidden from unprivileged users.
    ["kernel.kptr_restrict", "2"],
    ["kernel.dmesg_restrict", "1"],
    // No magic SysRq keys, no unprivileged BPF (1: until reboot), hardened BPF JIT.
    ["kernel.sysrq", "0"],
    ["kernel.unprivileged_bpf_disabled", "1"],
    ["net.core.bpf_jit_harden", "2"],
    // ptrace only of one's own descendants (root keeps CAP_SYS_PTRACE).
    ["kernel.yama.ptrace_scope", "1"],
    ["kernel.randomize_va_space", "2"],
    // TTY line disciplines are not loaded on demand.
    ["dev.tty.ldisc_autoload", "0"],
    // No ICMP redirects or source routing accepted, none sent; martians logged.
    ["net.ipv4.conf.all.accept_redirects", "0"],
    ["net.ipv4.conf.default.accept_redirects", "0"],
    ["net.ipv4.conf.all.send_redirects", "0"],
    ["net.ipv4.conf.default.send_redirects", "0"],
    ["net.ipv4.conf.all.accept_source_route", "0"],
    ["net.ipv4.conf.default.accept_source_route", "0"],
    ["net.ipv4.conf.all.log_martians", "1"],
    ["net.ipv4.conf.default.log_martians", "1"],
    ["net.ipv6.conf.all.accept_redirects", "0"],
    ["net.ipv6.conf.default.accept_redirects", "0"],
    ["net.ipv6.conf.all.accept_source_route", "0"],
    ["net.ipv6.conf.default.accept_source_route", "0"],
    ["net.ipv4.icmp_echo_ignore_broadcasts", "1"],
    ["net.ipv4.icmp_ignore_bogus_error_responses", "1"],
    ["net.ipv4.tcp_syncookies", "1"],
];

export function sysctlHardeningFile(): string {
    return [
        HOST_WIDE,
        "# Kernel hardening (lynis KRNL-6000). Not set here: modules_disabled (WireGuard, Docker),",
        "# ip forwarding (Docker's bridge), rp_filter (systemd's loose filtering is kept).",
        ...HARDENING_SYSCTL.map(([k, v]) => `${k} = ${v}`),
        "",
    ].join("\n");
}

/** Drivers and protocols a VPS serving a web app never needs (lynis USB-1000, STRG-1846, NETW-3200). */
export const DISABLED_MODULES = ["usb-storage", "firewire-core", "firewire-ohci", "dccp", "sctp", "rds", "tipc"] as const;

export function modprobeHardeningFile(): string {
    return [
        HOST_WIDE,
        "# Not loaded, even on request (lynis USB-1000, STRG-1846, NETW-3200).",
        ...DISABLED_MODULES.flatMap((m) => [`install ${m} /bin/false`, `blacklist ${m}`]),
        "",
    ].join("\n");
}

/** No core dumps (lynis KRNL-5820: systemd-coredump, login shells, PAM limits). */
export function coredumpHardeningFile(): string {
    return [HOST_WIDE, "[Coredump]", "Storage=none", "ProcessSizeMax=0", ""].join("\n");
}

export function limitsHardeningFile(): string {
    return [HOST_WIDE, "*    soft    core    0", "*    hard    core    0", ""].join("\n");
}

export function profileHardeningFile(): string {
    return [HOST_WIDE, "ulimit -c 0", ""].join("\n");
}

/**
 * The login banner of /etc/issue and /etc/issue.net (lynis BANN-7126,
 * BANN-7130: at least five of its legal key words). sshd does not show it
 * (no `Banner`): berth's clients read nothing before authenticating.
 */
export const LOGIN_BANNER =
    "Authorized access only. This is a private system; connections are monitored and logged, and unauthorized use is prohibited and may be reported to law enforcement.";

export function bannerFile(): string {
    return `${LOGIN_BANNER}\n`;
}

/**
 * The default umask of new login sessions and new home directories (lynis
 * AUTH-9328): 027 instead of Debian's 022 in login.defs, edited in place
 * (the file is the distribution's). Only a line that is exactly `UMASK 022`
 * changes; berth's own scripts set their umask themselves.
 */
function loginDefsLines(): Lines {
    const f = quote(HOST_HARDENING.loginDefs);
    return [
        `if [ -f ${f} ] && grep -Eq '^UMASK[[:space:]]+022[[:space:]]*$' ${f}; then`,
        `  sed -i -E 's/^UMASK([[:space:]]+)022[[:space:]]*$/UMASK\\1027/' ${f}`,
        `  echo ${quote(`berth: ${HOST_HARDENING.loginDefs} UMASK 027`)}`,
        "fi",
    ];
}

/**
 * Security updates now, not at the first unattended-upgrades run (lynis
 * PKGS-7392 warns on any pending `-security` upgrade): `unattended-upgrade`
 * installs exactly what its origins allow (Debian's and Ubuntu's security
 * pockets by default) and keeps changed conffiles. Then the configuration
 * files of removed packages are purged (lynis PKGS-7346).
 */
function packageUpgradeLines(): Lines {
    return [
        "if command -v unattended-upgrade >/dev/null 2>&1; then",
        "  if ! { apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null && unattended-upgrade; }; then",
        "    echo 'berth: security updates at provision failed; unattended-upgrades installs them at its daily run' >&2",
        "  fi",
        "fi",
        `mapfile -t leftover < <(dpkg-query -W -f='\${db:Status-Abbrev} \${Package}\\n' | awk '$1 == "rc" { print $2 }')`,
        'if [ "${#leftover[@]}" -gt 0 ]; then',
        '  dpkg --purge "${leftover[@]}" >/dev/null',
        '  echo "berth: purged the configuration files of removed packages: ${leftover[*]}"',
        "fi",
    ];
}

/**
 * The host's hardening as lines of the packages script (after the
 * packages): files first, then the kernel settings applied (a key the
 * kernel refuses, in a container say, is reported, not fatal; systemd-sysctl
 * applies the file at every boot), then login.defs and updates.
 */
export function hostHardeningLines(): Lines {
    const h = HOST_HARDENING;
    return [
        "# System hardening (lib/hostHardening.ts; lynis test ids in each file).",
        cmd("install", "-d", "-m", "0755", "/etc/sysctl.d", "/etc/modprobe.d", "/etc/systemd/coredump.conf.d", "/etc/security/limits.d", "/etc/profile.d"),
        "changed=0",
        writeFile(h.sysctl, sysctlHardeningFile(), { mode: "0644" }),
        'if [ "$changed" = 1 ]; then',
        `  if ! out=$(sysctl -e -q -p ${quote(h.sysctl)} 2>&1); then printf '%s\\n' "$out" >&2; echo ${quote(`berth: some kernel settings of ${h.sysctl} were refused (applied at the next boot where the kernel allows them)`)} >&2; fi`,
        `  echo ${quote(`berth: updated ${h.sysctl}`)}`,
        "fi",
        "changed=0",
        writeFile(h.modprobe, modprobeHardeningFile(), { mode: "0644" }),
        writeFile(h.coredump, coredumpHardeningFile(), { mode: "0644" }),
        writeFile(h.limits, limitsHardeningFile(), { mode: "0644" }),
        writeFile(h.profile, profileHardeningFile(), { mode: "0644" }),
        writeFile(h.issue, bannerFile(), { mode: "0644" }),
        writeFile(h.issueNet, bannerFile(), { mode: "0644" }),
        `if [ "$changed" = 1 ]; then echo 'berth: updated the host hardening files (modprobe, core dumps, login banners)'; fi`,
        loginDefsLines(),
        packageUpgradeLines(),
    ];
}

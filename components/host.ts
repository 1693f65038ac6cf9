/**
 * Host: turns a plain Debian/Ubuntu VPS into a berth host. Each concern is its
 * own remote command so that a change re-runs only that step, and every
 * script is idempotent: re-running it on a provisioned host changes nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { Connection, connectionFor, managedBy, remoteScript } from "../lib/remote";
import { cmd, quote, raw, script, writeFile } from "../lib/shell";

export interface HostArgs {
    /** Validated stack configuration. */
    config: BerthConfig;
}

export class Host extends pulumi.ComponentResource {
    /** The SSH connection (pinned host key) every other remote command reuses. */
    public readonly connection: Connection;
    /** Base packages, unattended upgrades and the preset's toolchain. */
    public readonly packages: command.remote.Command;
    public readonly sshHardening: command.remote.Command;
    public readonly firewall: command.remote.Command;
    /** Unprivileged app user and the app's directories. */
    public readonly appUser: command.remote.Command;
    public readonly dockerEngine: command.remote.Command;
    /** Resources that must exist before anything runs on the host. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:host:Host", name, {}, opts);
        const cfg = args.config;
        const sudo = cfg.host.sudo;
        this.connection = connectionFor(cfg);
        const connection = this.connection;
        const child = { parent: this };
        const keep = lifecycle(cfg, "command");

        this.packages = remoteScript(
            `${name}-packages`,
            { connection, sudo, create: packagesScript(cfg), lifecycle: keep },
            child,
        );
        const afterPackages = { parent: this, dependsOn: [this.packages] };
        this.sshHardening = remoteScript(
            `${name}-ssh-hardening`,
            { connection, sudo, create: sshHardeningScript(cfg), delete: sshHardeningDeleteScript(cfg), lifecycle: keep },
            afterPackages,
        );
        this.firewall = remoteScript(
            `${name}-firewall`,
            { connection, sudo, create: firewallScript(cfg), lifecycle: keep },
            afterPackages,
        );
        this.appUser = remoteScript(
            `${name}-app-user`,
            {
                connection,
                sudo,
                create: appUserScript(cfg),
                delete: appUserDeleteScript(cfg),
                lifecycle: keep,
            },
            afterPackages,
        );
        this.dockerEngine = remoteScript(
            `${name}-docker-engine`,
            { connection, sudo, create: dockerEngineScript(cfg), lifecycle: keep },
            afterPackages,
        );
        this.ready = [this.packages, this.sshHardening, this.firewall, this.appUser, this.dockerEngine];

        this.registerOutputs({
            address: cfg.host.address,
            packages: this.packages.id,
            dockerEngine: this.dockerEngine.id,
        });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders (golden-tested, shellchecked)
// ---------------------------------------------------------------------------

/** Packages every berth host gets. */
export const BASE_PACKAGES = [
    "ca-certificates",
    "curl",
    "git",
    "rsync",
    "ufw",
    "unattended-upgrades",
    "apt-listchanges",
    "nginx",
    "certbot",
    "openssl",
];

/** Toolchain the Rails preset builds releases with. */
export const RAILS_PACKAGES = ["ruby", "ruby-dev", "bundler", "build-essential", "libpq-dev", "libyaml-dev", "pkg-config", "tzdata"];

export function hostPackages(cfg: BerthConfig): string[] {
    const preset = cfg.release.preset === "rails" ? RAILS_PACKAGES : [];
    return [...new Set([...BASE_PACKAGES, ...preset, ...cfg.packages])].sort();
}

export function packagesScript(cfg: BerthConfig): string {
    const pkgs = hostPackages(cfg);
    return script(
        "export DEBIAN_FRONTEND=noninteractive",
        `wanted=(${pkgs.map(quote).join(" ")})`,
        "missing=()",
        `for p in "\${wanted[@]}"; do`,
        `  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")`,
        "done",
        `if [ "\${#missing[@]}" -gt 0 ]; then`,
        "  apt-get update -q",
        `  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "\${missing[@]}"`,
        `  echo "installed: \${missing[*]}"`,
        "fi",
        "changed=0",
        writeFile(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            [
                managedBy(cfg, "//"),
                'APT::Periodic::Update-Package-Lists "1";',
                'APT::Periodic::Unattended-Upgrade "1";',
                'APT::Periodic::AutocleanInterval "7";',
                "",
            ].join("\n"),
            { mode: "0644" },
        ),
        'if [ "$changed" = 1 ]; then echo "updated /etc/apt/apt.conf.d/20auto-upgrades"; fi',
        "systemctl enable --quiet apt-daily.timer apt-daily-upgrade.timer || true",
        "systemctl enable --quiet unattended-upgrades.service || true",
    );
}

function sshDropIn(cfg: BerthConfig): string {
    return `/etc/ssh/sshd_config.d/10-${cfg.names.dropIn}.conf`;
}

export function sshHardeningScript(cfg: BerthConfig): string {
    const file = sshDropIn(cfg);
    return script(
        "install -d -m 0755 /etc/ssh/sshd_config.d",
        "changed=0",
        writeFile(
            file,
            [
                managedBy(cfg),
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitEmptyPasswords no",
                "PermitRootLogin prohibit-password",
                "X11Forwarding no",
                "MaxAuthTries 4",
                "",
            ].join("\n"),
            { mode: "0644" },
        ),
        'if [ "$changed" = 1 ]; then',
        `  if ! sshd -t; then rm -f ${quote(file)}; echo 'berth: sshd -t rejected the hardening drop-in; removed it' >&2; exit 1; fi`,
        "  systemctl reload ssh 2>/dev/null || systemctl reload sshd",
        "fi",
    );
}

export function sshHardeningDeleteScript(cfg: BerthConfig): string {
    return script(
        cmd("rm", "-f", sshDropIn(cfg)),
        "sshd -t && { systemctl reload ssh 2>/dev/null || systemctl reload sshd; }",
    );
}

export function firewallScript(cfg: BerthConfig): string {
    return script(
        "ufw default deny incoming >/dev/null",
        "ufw default allow outgoing >/dev/null",
        cmd("ufw", "allow", `${cfg.host.sshPort}/tcp`, "comment", "berth ssh", raw(">/dev/null")),
        cmd("ufw", "allow", "80/tcp", "comment", "berth http", raw(">/dev/null")),
        cmd("ufw", "allow", "443/tcp", "comment", "berth https", raw(">/dev/null")),
        "ufw --force enable >/dev/null",
        "ufw status | head -n 1",
    );
}

export function appUserScript(cfg: BerthConfig): string {
    const n = cfg.names;
    return script(
        `if ! id -u ${quote(n.user)} >/dev/null 2>&1; then`,
        `  ${cmd("useradd", "--system", "--user-group", "--home-dir", n.root, "--no-create-home", "--shell", "/usr/sbin/nologin", n.user)}`,
        "fi",
        cmd("install", "-d", "-m", "0755", "-o", "root", "-g", "root", "/srv/berth"),
        // Code and public assets are readable by nginx (www-data); state under
        // shared/ is the app user's; secrets live in root-only n.etc.
        cmd("install", "-d", "-m", "0755", "-o", "root", "-g", "root", n.root, `${n.root}/releases`, `${n.root}/slots`),
        cmd("install", "-d", "-m", "0751", "-o", n.user, "-g", n.user, `${n.root}/shared`),
        cmd("install", "-d", "-m", "0750", "-o", n.user, "-g", n.user, ...SHARED_DIRS.map((d) => `${n.root}/shared/${d}`)),
        cmd("install", "-d", "-m", "0755", "-o", n.user, "-g", n.user, `${n.root}/shared/public`, `${n.root}/shared/public/assets`),
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", "/etc/berth", n.etc),
    );
}

/** Directories under shared/ linked into every release (Capistrano's linked_dirs). */
export const SHARED_DIRS = ["log", "tmp", "storage", "bundle"];

export function appUserDeleteScript(cfg: BerthConfig): string {
    const n = cfg.names;
    return script(
        cmd("rm", "-rf", "--one-file-system", n.root, n.etc),
        `if id -u ${quote(n.user)} >/dev/null 2>&1; then ${cmd("userdel", n.user)}; fi`,
    );
}

export function dockerEngineScript(cfg: BerthConfig): string {
    return script(
        "export DEBIAN_FRONTEND=noninteractive",
        "if ! command -v docker >/dev/null 2>&1; then",
        "  apt-get update -q",
        "  apt-get install -y -q --no-install-recommends docker.io",
        "fi",
        "systemctl enable --now --quiet docker",
        cfg.host.sudo ? cmd("usermod", "-aG", "docker", cfg.host.sshUser) : false,
        "for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done",
        "docker version --format 'docker {{.Server.Version}}'",
    );
}

/**
 * Host: turns a plain Debian/Ubuntu VPS into a berth host. Each concern is its
 * own remote command so that a change re-runs only that step, and every
 * script is idempotent: re-running it on a provisioned host changes nothing.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, connectionFor, managedBy, managedByHost, remoteScript } from "../../lib/remote";
import { presetOf } from "../../lib/presets";
import { RAILS_PACKAGES } from "../../lib/presets/rails";
import { HOST_LOCK, NGINX_HARDENING_CONF, NGINX_HARDENING_DROPIN, NGINX_MAIN_CONF, PROTECT } from "../../lib/names";
import { osDetectLines, osPackagesCase } from "../../lib/os";
import { HOST_WIDE, hostHardeningLines } from "../../lib/hostHardening";
import { aptInstallWanted, cmd, hostLock, indent, quote, raw, script, writeFile } from "../../lib/shell";
import { has } from "../../lib/topology";

export { RAILS_PACKAGES };

/** What the builders read of the configuration: the stack, this host (its roles decide Docker and nginx), the packages and the preset. */
export const HOST_SCOPE = ["project", "stack", "production", "protect", "names", "host", "packages", "release"] as const;
export type HostScope = Pick<BerthConfig, (typeof HOST_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface HostArgs extends HostScope {
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
    /** Docker engine: on the host with the data role only. */
    public readonly dockerEngine?: command.remote.Command;
    /** nginx's systemd sandbox drop-in and `server_tokens off` (host-wide, the same from every stack): web hosts only. */
    public readonly nginxHardening?: command.remote.Command;
    /** Resources that must exist before anything runs on the host. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:host:Host", name, {}, opts);
        const cfg: HostScope = args;
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
        if (has(cfg.host, "data")) {
            this.dockerEngine = remoteScript(
                `${name}-docker-engine`,
                { connection, sudo, create: dockerEngineScript(cfg), lifecycle: keep },
                afterPackages,
            );
        }
        if (has(cfg.host, "web")) {
            this.nginxHardening = remoteScript(
                `${name}-nginx-hardening`,
                { connection, sudo, create: nginxHardeningScript(cfg), lifecycle: keep },
                afterPackages,
            );
        }
        this.ready = [this.packages, this.sshHardening, this.firewall, this.appUser, ...(this.dockerEngine ? [this.dockerEngine] : []), ...(this.nginxHardening ? [this.nginxHardening] : [])];

        this.registerOutputs({
            address: cfg.host.address,
            packages: this.packages.id,
            dockerEngine: this.dockerEngine?.id,
        });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders (golden-tested, shellchecked)
// ---------------------------------------------------------------------------

/** Packages every berth host gets (logical names: lib/os.ts names them per release). */
export const BASE_PACKAGES = [
    "ca-certificates",
    "curl",
    "git",
    "rsync",
    "ufw",
    "unattended-upgrades",
    "apt-listchanges",
    // Password quality for any account a person sets a password on (pam_pwquality in
    // common-password via pam-auth-update; lynis AUTH-9262). berth's own logins are keys only.
    "libpam-pwquality",
    "nginx",
    "certbot",
    "openssl",
];


/** Packages only a web host needs (a data-only or worker-only host has no nginx and no certificate). */
const WEB_ONLY_PACKAGES = new Set(["nginx", "certbot"]);

/** The logical packages of this host (lib/os.ts `packageNames` gives the real ones per release); berth:packages as written. */
export function hostPackages(cfg: HostScope): string[] {
    const app = has(cfg.host, "web") || has(cfg.host, "worker");
    const base = has(cfg.host, "web") ? BASE_PACKAGES : BASE_PACKAGES.filter((p) => !WEB_ONLY_PACKAGES.has(p));
    const preset = app ? presetOf(cfg).packages : [];
    return [...new Set([...base, ...preset, ...(app ? cfg.packages : [])])].sort();
}

export function packagesScript(cfg: HostScope): string {
    const pkgs = hostPackages(cfg);
    return script(
        // The first command on every host: an unsupported release stops here, with one line.
        osDetectLines(),
        hostLock(HOST_LOCK, "packages"),
        osPackagesCase("wanted", pkgs),
        aptInstallWanted(),
        "changed=0",
        writeFile(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            [
                managedByHost("//"),
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
        hostHardeningLines(),
    );
}


/**
 * Modern SSH crypto only (what `ssh-audit` reports without a `fail`): post-
 * quantum/curve25519 and large-group DH key exchange, AEAD or CTR ciphers,
 * encrypt-then-MAC SHA-2 MACs only (no `umac-*`, which is not the SHA-2
 * the README promises); host keys offered
 * as ed25519 or RSA with SHA-2 signatures (no ECDSA, no ssh-rsa/SHA-1); no
 * compression (`Compression no`: only `none` is offered, so no
 * compress-then-encrypt length leak and no zlib in the pre-auth server).
 * Every client berth uses still connects: pulumi-command v1.2.1 dials with
 * Go's golang.org/x/crypto v0.48.0 (provider/go.mod), whose ssh/common.go
 * `defaultMACs` start with hmac-sha2-256-etm@openssh.com and
 * hmac-sha2-512-etm@openssh.com and whose `supportedCompressions` is `none`
 * only; Docker's `ssh` (docker/cli connhelper) and `npx berth` run OpenSSH,
 * which offers both EtM MACs and `Compression no` by default. A pinned
 * ECDSA host key keeps its algorithm so berth can still connect.
 */
export function sshCryptoLines(cfg: HostScope): string[] {
    const pinned = cfg.host.hostKey?.split(" ")[0];
    const hostKeyAlgorithms = ["ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "rsa-sha2-512", "rsa-sha2-256"];
    if (pinned && !hostKeyAlgorithms.includes(pinned)) hostKeyAlgorithms.push(pinned);
    return [
        "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
        "MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com",
        `HostKeyAlgorithms ${hostKeyAlgorithms.join(",")}`,
        "Compression no",
    ];
}

/**
 * Session options lynis SSH-7408 scores (3 points each), set where nothing
 * berth runs needs the default: every berth client opens one session per
 * connection (pulumi-command v1.2.1 remote/commandOutputs.go: Dial, then one
 * NewSession; Docker's connhelper one `ssh` per connection), never forwards
 * the agent, and forwards no port to the host (`local` keeps `ssh -L` for an
 * operator). Dead clients are found by the encrypted ClientAlive probe (10
 * minutes at most) instead of spoofable TCP keepalives; Go's x/crypto
 * answers it (client.go handleGlobalRequests replies to every request), as
 * OpenSSH does. VERBOSE logs the key fingerprint of every login.
 */
export function sshSessionLines(): string[] {
    return [
        "LogLevel VERBOSE",
        "AllowAgentForwarding no",
        "AllowTcpForwarding local",
        "MaxSessions 4",
        "TCPKeepAlive no",
        "ClientAliveInterval 300",
        "ClientAliveCountMax 2",
    ];
}

function sshDropIn(cfg: HostScope): string {
    return `/etc/ssh/sshd_config.d/10-${cfg.names.dropIn}.conf`;
}

export function sshHardeningScript(cfg: HostScope): string {
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
                ...sshSessionLines(),
                ...sshCryptoLines(cfg),
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

export function sshHardeningDeleteScript(cfg: HostScope): string {
    return script(
        cmd("rm", "-f", sshDropIn(cfg)),
        "sshd -t && { systemctl reload ssh 2>/dev/null || systemctl reload sshd; }",
    );
}

export function firewallScript(cfg: HostScope): string {
    return script(
        "ufw default deny incoming >/dev/null",
        "ufw default allow outgoing >/dev/null",
        cmd("ufw", "allow", `${cfg.host.sshPort}/tcp`, "comment", "berth ssh", raw(">/dev/null")),
        has(cfg.host, "web") && [
            cmd("ufw", "allow", "80/tcp", "comment", "berth http", raw(">/dev/null")),
            cmd("ufw", "allow", "443/tcp", "comment", "berth https", raw(">/dev/null")),
        ],
        "ufw --force enable >/dev/null",
        "ufw status | head -n 1",
    );
}

export function appUserScript(cfg: HostScope): string {
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

export function appUserDeleteScript(cfg: HostScope): string {
    const n = cfg.names;
    return script(
        cmd("rm", "-rf", "--one-file-system", n.root, n.etc),
        `if id -u ${quote(n.user)} >/dev/null 2>&1; then ${cmd("userdel", n.user)}; fi`,
    );
}

/** Both halves of the engine: the daemon and the CLI (a separate package on Debian 13). */
const DOCKER_BOTH = "command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1";

/**
 * The Docker engine as the release packages it (lib/os.ts "docker-engine":
 * docker.io, plus docker-cli on Debian 13). Nothing is installed when both
 * the daemon and the CLI are there (whichever packages brought them).
 */
export function dockerEngineScript(cfg: HostScope): string {
    return script(
        osDetectLines(),
        hostLock(HOST_LOCK, "docker engine"),
        osPackagesCase("wanted", ["docker-engine"]),
        `if ! { ${DOCKER_BOTH}; }; then`,
        indent("  ", aptInstallWanted()),
        "fi",
        `if ! { ${DOCKER_BOTH}; }; then echo "berth: docker engine: docker and dockerd are not both on PATH after installing \${wanted[*]}" >&2; exit 1; fi`,
        "systemctl enable --now --quiet docker",
        cfg.host.sudo ? cmd("usermod", "-aG", "docker", cfg.host.sshUser) : false,
        "for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done",
        "docker version --format 'docker {{.Server.Version}}'",
    );
}

/**
 * nginx's systemd sandbox (drop-in over Debian's nginx.service): read-only
 * system except its logs, state and /run; no home directories, devices,
 * kernel tunables or namespaces; the syscall set of a system service; only
 * the capabilities a root master that binds 80/443, opens its logs and runs
 * www-data workers needs. Reloads (certbot's deploy hook included) work as
 * before: `nginx -s reload` runs inside the same sandbox.
 */
export function nginxHardeningDropIn(): string {
    return [
        HOST_WIDE,
        "[Service]",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/log/nginx /var/lib/nginx /run",
        ...PROTECT,
        "ProtectProc=invisible",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN CAP_DAC_OVERRIDE CAP_KILL",
        "",
    ].join("\n");
}

/**
 * `server_tokens off` in conf.d: written only where nginx.conf has no
 * `server_tokens` line at all (see nginxHardeningScript).
 */
export function nginxHardeningConf(): string {
    return [HOST_WIDE, "server_tokens off;", ""].join("\n");
}


/** An nginx.conf line that sets server_tokens, and one that has it commented out (`# server_tokens off;`). */
const TOKENS_SET = "^[[:space:]]*server_tokens[[:space:]]";
const TOKENS_COMMENTED = "^[[:space:]]*#[[:space:]]*server_tokens[[:space:]]";

/**
 * The sandbox drop-in, and nginx not printing its version (Server header,
 * error pages) for every site on the host. `server_tokens` goes where the
 * release's nginx.conf has it, so it is never set twice (a duplicate fails
 * `nginx -t`): Debian 13's nginx.conf sets it (`server_tokens off;`: left
 * as it is), Debian 12's and Ubuntu 24.04's have `# server_tokens off;`
 * (uncommented); any other value becomes `off`. Only an nginx.conf without
 * the line gets the conf.d file, which earlier berth versions wrote
 * everywhere and which goes otherwise. nginx.conf is edited in place, not
 * with writeFile: its text is the distribution's, not berth's (verify
 * compares only what berth writes). A change is checked with `nginx -t`;
 * when it fails, nginx.conf and the conf.d file are put back as they were.
 */
export function nginxHardeningScript(_cfg: HostScope): string {
    const conf = quote(NGINX_MAIN_CONF);
    const legacy = quote(NGINX_HARDENING_CONF);
    return script(
        hostLock(HOST_LOCK, "nginx hardening"),
        cmd("install", "-d", "-m", "0755", "/etc/systemd/system/nginx.service.d", "/etc/nginx/conf.d"),
        "changed=0",
        writeFile(NGINX_HARDENING_DROPIN, nginxHardeningDropIn(), { mode: "0644" }),
        "unit_changed=$changed",
        "work=$(mktemp -d)",
        `trap 'rm -rf "$work"' EXIT`,
        `cp -p ${conf} "$work/nginx.conf"`,
        `if [ -f ${legacy} ]; then cp -p ${legacy} "$work/legacy.conf"; fi`,
        `cat > "$work/fallback.conf" <<'BERTH_EOF'`,
        nginxHardeningConf().replace(/\n$/, ""),
        "BERTH_EOF",
        `if grep -Eq '${TOKENS_SET}' ${conf}; then`,
        `  sed -E 's/^([[:space:]]*server_tokens[[:space:]]+)[^;]*;/\\1off;/' ${conf} > "$work/new.conf"`,
        `elif grep -Eq '${TOKENS_COMMENTED}' ${conf}; then`,
        `  sed -E '0,/${TOKENS_COMMENTED}+[^;]*;/s//\\tserver_tokens off;/' ${conf} > "$work/new.conf"`,
        "else",
        `  cp ${conf} "$work/new.conf"`,
        "fi",
        "changed=0",
        `if ! cmp -s "$work/new.conf" ${conf}; then cat "$work/new.conf" > ${conf}; changed=1; fi`,
        `if grep -Eq '${TOKENS_SET}' ${conf}; then`,
        `  if [ -e ${legacy} ]; then rm -f ${legacy}; changed=1; fi`,
        `elif ! cmp -s "$work/fallback.conf" ${legacy}; then`,
        `  install -m 0644 "$work/fallback.conf" ${legacy}`,
        "  changed=1",
        "fi",
        'if [ "$unit_changed" = 1 ]; then systemctl daemon-reload; fi',
        'if [ "$unit_changed" = 1 ] || [ "$changed" = 1 ]; then',
        "  if ! out=$(nginx -t 2>&1); then",
        `    cat "$work/nginx.conf" > ${conf}`,
        `    if [ -f "$work/legacy.conf" ]; then cp -p "$work/legacy.conf" ${legacy}; else rm -f ${legacy}; fi`,
        `    printf '%s\\n' "$out" >&2; echo 'berth: nginx -t rejected the hardening; put nginx.conf and conf.d back as they were' >&2; exit 1`,
        "  fi",
        // A new sandbox needs a restart (once, when it first appears or changes); a config change a reload.
        '  if [ "$unit_changed" = 1 ]; then systemctl restart nginx; elif systemctl is-active --quiet nginx; then systemctl reload nginx; fi',
        "  echo 'berth: nginx hardening updated'",
        "fi",
        "systemctl is-active --quiet nginx || systemctl start nginx",
    );
}

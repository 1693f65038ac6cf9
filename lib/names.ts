/**
 * Everything berth creates on a host is named from app + stack, so two stacks
 * (or two apps) can share one VPS without colliding. Pure functions only.
 */

import type { HostConfig } from "./config";
import { Arg, cmd, quote, raw } from "./shell";

/** What `dockerSshOpts` reads: the stack and the host the Docker provider connects to. */
export type SshScope = { readonly project: string; readonly stack: string; readonly host: Pick<HostConfig, "address" | "sshPort" | "hostKey" | "privateKey"> };

export interface Names {
    /** `<app>-<stack>`: unix user, directory, unit, container and site prefix. */
    readonly id: string;
    /** Unprivileged unix user that runs the app. */
    readonly user: string;
    /** Capistrano-style root: releases/, shared/, current. */
    readonly root: string;
    /** Root-only directory for the env file with secrets. */
    readonly etc: string;
    /** Environment file read by systemd (mode 0600, root). */
    readonly envFile: string;
    /** Postgres role and database identifier (`app_stack`). */
    readonly dbIdentifier: string;
    readonly network: string;
    readonly postgresContainer: string;
    readonly redisContainer: string;
    readonly postgresVolume: string;
    readonly redisVolume: string;
    /** Template unit for the web process; instances `blue` and `green`. */
    readonly webUnit: string;
    readonly workerUnit: string;
    readonly nginxSite: string;
    readonly nginxUpstream: string;
    readonly webroot: string;
    /** Certificate name for certbot (`--cert-name`). */
    readonly certName: string;
    /** Prefix for host-level drop-in files owned by this stack. */
    readonly dropIn: string;
    /** Root-only directory (0700) of the backup credentials: restic password, SFTP key, pinned known_hosts. */
    readonly backupEtc: string;
    /** restic's cache (root only). */
    readonly backupCache: string;
    /** Installed scripts: back up now, restore a snapshot, test-restore the latest snapshot. */
    readonly backupScript: string;
    readonly restoreScript: string;
    readonly restoreTestScript: string;
    /** Service + timer names (without suffix) of the scheduled backup and the scheduled restore test. */
    readonly backupUnit: string;
    readonly restoreTestUnit: string;
    /** flock file serialising this stack's backups and restores. */
    readonly backupLock: string;
    /** Scratch directory of a backup or restore run (SQLite online copies, made as the app user: under the app's root, which it can reach; removed by each run). */
    readonly backupSpool: string;
    /** shared/storage, linked into every release as storage/: Active Storage's local files, and SQLite's database files (berth:database sqlite). */
    readonly storageDir: string;
    /** Template socket + service (instances `blue`/`green`): systemd-socket-proxyd from the instance's unix socket to its loopback port. */
    readonly proxyUnit: string;
    /** Directory of the instances' unix sockets (`<runDir>/blue.sock`, `green.sock`; made by systemd at each boot). */
    readonly runDir: string;
    /** The stable address nginx proxies to: a symlink to the serving instance's socket, swapped with `mv -T` on a switch. */
    readonly webSocket: string;
    /** The union of the kept releases' public/assets (hard links), which nginx serves under /assets/. */
    readonly assets: string;
    /** npm's and Yarn's package caches, kept across releases like the bundle. */
    readonly npmCache: string;
    readonly yarnCache: string;
    /** Root-owned directory first on a yarn app's build PATH: `yarn` -> Debian's `yarnpkg`. */
    readonly binDir: string;
}

const ID = /^[a-z][a-z0-9-]*[a-z0-9]$/;

export function deriveNames(app: string, stack: string): Names {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(stack)) {
        throw new Error(`stack name ${JSON.stringify(stack)} must be lowercase letters, digits and - to name things on the host`);
    }
    const id = `${app}-${stack}`;
    if (!ID.test(id) || id.length > 32) {
        throw new Error(`"${id}" (app-stack) must be at most 32 characters of a-z, 0-9 and -`);
    }
    const db = id.replace(/-/g, "_");
    return {
        id,
        user: id,
        root: `/srv/berth/${id}`,
        etc: `/etc/berth/${id}`,
        envFile: `/etc/berth/${id}/app.env`,
        dbIdentifier: db,
        network: `${id}-net`,
        postgresContainer: `${id}-postgres`,
        redisContainer: `${id}-redis`,
        postgresVolume: `${id}-pgdata`,
        redisVolume: `${id}-redisdata`,
        webUnit: `berth-${id}-web@`,
        workerUnit: `berth-${id}-worker`,
        nginxSite: `berth-${id}`,
        nginxUpstream: `/etc/nginx/berth/${id}-upstream.conf`,
        webroot: `/var/www/berth-acme/${id}`,
        certName: `berth-${id}`,
        dropIn: `berth-${id}`,
        backupEtc: `/etc/berth/${id}/backup`,
        backupCache: `/var/cache/berth/${id}/restic`,
        backupScript: `/usr/local/sbin/berth-${id}-backup`,
        restoreScript: `/usr/local/sbin/berth-${id}-restore`,
        restoreTestScript: `/usr/local/sbin/berth-${id}-restore-test`,
        backupUnit: `berth-${id}-backup`,
        restoreTestUnit: `berth-${id}-restore-test`,
        backupLock: `/run/lock/berth-${id}-backup.lock`,
        backupSpool: `/srv/berth/${id}/shared/backup-spool`,
        storageDir: `/srv/berth/${id}/shared/storage`,
        proxyUnit: `berth-${id}-proxy@`,
        runDir: `/run/berth-${id}`,
        webSocket: `/srv/berth/${id}/web.sock`,
        assets: `/srv/berth/${id}/shared/public/assets`,
        npmCache: `/srv/berth/${id}/shared/npm-cache`,
        yarnCache: `/srv/berth/${id}/shared/yarn-cache`,
        binDir: `/srv/berth/${id}/bin`,
    };
}

export interface Ports {
    readonly postgres: number;
    readonly redis: number;
    readonly webBlue: number;
    readonly webGreen: number;
}

/** 32-bit FNV-1a, for stable spreading of apps over the port range. */
export function fnv1a(s: string): number {
    let h = 0x811c9dc5;
    for (const ch of Buffer.from(s, "utf8")) {
        h ^= ch;
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
}

const KNOWN_STACKS: Record<string, number> = { production: 0, staging: 1, dev: 2 };

/**
 * Loopback ports for one app + stack. Each app owns a block of 20 ports
 * (20000 + 20 * (hash(app) % 400)); inside it, production, staging and dev
 * have fixed slots of 4 and any other stack one of two more, so the stacks of
 * one app never collide. `base` overrides the block start.
 */
export function derivePorts(
    app: string,
    stack: string,
    overrides: { base?: number; postgres?: number; redis?: number } = {},
): Ports {
    const slot = KNOWN_STACKS[stack] ?? 3 + (fnv1a(stack) % 2);
    const base = overrides.base ?? 20000 + 20 * (fnv1a(app) % 400) + 4 * slot;
    return {
        postgres: overrides.postgres ?? base,
        redis: overrides.redis ?? base + 1,
        webBlue: base + 2,
        webGreen: base + 3,
    };
}

/**
 * Where the program keeps `berth:privateKey` for the Docker provider's `ssh`
 * (which authenticates only with the agent or key files), relative to the
 * passwd home directory of the user running `pulumi`: `.berth/ssh/` (0700),
 * one `<project>-<stack>-<host>.key` (0600) per stack and host (two
 * checkouts with a stack of the same name, e.g. the local dev stack and the
 * e2e suite, never share one). `forSsh` is the same file spelled with ssh's
 * own `~/` (OpenSSH expands it from the passwd entry, like
 * `os.userInfo().homedir`), so the provider's sshOpts text is identical on
 * every machine and user. The one place this path lives.
 */
export function sshIdentityFile(project: string, stack: string, host: string): { readonly relative: string; readonly forSsh: string } {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(project) || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(stack) || !/^[A-Za-z0-9][A-Za-z0-9.:-]*$/.test(host)) {
        throw new Error(`project ${JSON.stringify(project)}, stack ${JSON.stringify(stack)} and host ${JSON.stringify(host)} must be plain names to name the SSH key file`);
    }
    const relative = `.berth/ssh/${project}-${stack}-${host}.key`;
    return { relative, forSsh: `~/${relative}` };
}

/**
 * Host-wide lock file (flock) that serialises host-level steps of concurrent
 * operations on one host, whatever their stack: the switch, nginx reloads and
 * apt. Lives in /run/lock (tmpfs): a reboot never leaves it held.
 */
export const HOST_LOCK = "/run/lock/berth-host.lock";

/** nginx hardening drop-in (one per host, the same text from every stack). */
export const NGINX_HARDENING_DROPIN = "/etc/systemd/system/nginx.service.d/50-berth-hardening.conf";

/** Host-wide system hardening files (lib/hostHardening.ts: one per host, the same text from every stack). */
export const HOST_HARDENING = {
    sysctl: "/etc/sysctl.d/90-berth-hardening.conf",
    modprobe: "/etc/modprobe.d/berth-hardening.conf",
    coredump: "/etc/systemd/coredump.conf.d/90-berth-hardening.conf",
    limits: "/etc/security/limits.d/90-berth-hardening.conf",
    profile: "/etc/profile.d/berth-hardening.sh",
    loginDefs: "/etc/login.defs",
    issue: "/etc/issue",
    issueNet: "/etc/issue.net",
} as const;

/** nginx's main configuration (the distribution's): berth makes its own `server_tokens` directive `off`. */
export const NGINX_MAIN_CONF = "/etc/nginx/nginx.conf";

/**
 * `server_tokens off` in conf.d: only where nginx.conf has no `server_tokens`
 * line at all. Earlier berth versions always wrote it, which Debian 13's
 * nginx.conf (`server_tokens off;` set) refuses as a duplicate; the hardening
 * removes it wherever nginx.conf carries the directive.
 */
export const NGINX_HARDENING_CONF = "/etc/nginx/conf.d/50-berth-hardening.conf";

/** The user nginx's workers run as (Debian's default); it must reach the instances' sockets. */
export const NGINX_USER = "www-data";

// ---------------------------------------------------------------------------
// Several hosts: mesh, data firewall, DNS-01 certificates

export interface MeshNames {
    /** The WireGuard interface: `bm-<8 hex>` (at most 15 characters, IFNAMSIZ). */
    readonly iface: string;
    /** wg-quick's config (0600 root); no private key in it. */
    readonly conf: string;
    /** The host's private key (0600 root); made on the host, never printed. */
    readonly key: string;
    /** Which mesh resource owns the key (its identity line). */
    readonly keyOwner: string;
    /** `wg-quick@<iface>.service` */
    readonly unit: string;
    /** Docker starts after the mesh is up: containers publish on the mesh address. */
    readonly dockerDropIn: string;
    /** ufw rule comments of this mesh start with it. */
    readonly ufwTag: string;
}

const hex8 = (s: string) => fnv1a(s).toString(16).padStart(8, "0");

export function meshNames(cfg: { readonly names: Names }): MeshNames {
    const iface = `bm-${hex8(cfg.names.id)}`;
    return {
        iface,
        conf: `/etc/wireguard/${iface}.conf`,
        key: `/etc/wireguard/${iface}.key`,
        keyOwner: `/etc/wireguard/${iface}.key.owner`,
        unit: `wg-quick@${iface}.service`,
        dockerDropIn: `/etc/systemd/system/docker.service.d/50-${cfg.names.dropIn}-mesh.conf`,
        ufwTag: `berth mesh ${iface}`,
    };
}

/**
 * The TUN device node wireguard-go needs, created at every boot by
 * systemd-tmpfiles (the line kmod's static-nodes gives for `tun`). A VM has
 * it from devtmpfs and the line changes nothing; container and LXC-style
 * hosts (no kernel modules directory) lack it. Host-wide: the same file from
 * every stack.
 */
export const TUN_TMPFILES = "/etc/tmpfiles.d/50-berth-tun.conf";

export interface DataFirewallNames {
    /** Dedicated iptables chain (at most 28 characters), jumped to from DOCKER-USER. */
    readonly chain: string;
    /** The installed script that (re)applies the chain. */
    readonly script: string;
    /** Oneshot unit (without `.service`) that runs it after every docker start. */
    readonly unit: string;
    readonly unitPath: string;
}

export function dataFirewallNames(cfg: { readonly names: Names }): DataFirewallNames {
    const unit = `berth-${cfg.names.id}-data-firewall`;
    return {
        chain: `BERTH-DATA-${hex8(cfg.names.id)}`,
        script: `/usr/local/sbin/${unit}`,
        unit,
        unitPath: `/etc/systemd/system/${unit}.service`,
    };
}

export interface Dns01Paths {
    /** Root-only directory (0700) of the DNS-01 credentials and hooks. */
    readonly dir: string;
    /** Names the resource that wrote the directory (the delete of a replaced resource leaves a newer one's files). */
    readonly identity: string;
    /** certbot-dns-cloudflare credentials (`dns_cloudflare_api_token = ...`, 0600). */
    readonly cloudflareCredentials: string;
    /** `--manual-auth-hook` / `--manual-cleanup-hook` scripts (0700). */
    readonly authHook: string;
    readonly cleanupHook: string;
}

/** Host paths of the DNS-01 files: `<names.etc>/dns01/`. */
export function dns01Paths(cfg: { readonly names: Names }): Dns01Paths {
    const dir = `${cfg.names.etc}/dns01`;
    return {
        dir,
        identity: `${dir}/identity`,
        cloudflareCredentials: `${dir}/cloudflare.ini`,
        authHook: `${dir}/auth-hook`,
        cleanupHook: `${dir}/cleanup-hook`,
    };
}


// ---------------------------------------------------------------------------
// Host facts the components and the CLI share
// ---------------------------------------------------------------------------

/**
 * The sandbox every berth unit and nginx's drop-in share (systemd.exec(5)):
 * no home directories, private /tmp and /dev, kernel and cgroup settings
 * read-only, no clock/hostname changes, no SUID/SGID, namespaces or realtime
 * scheduling, one personality.
 */
export const PROTECT = [
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
];

/** Marker files inside a release directory. */
export const BUILT_MARKER = ".berth-built";
export const RELEASED_MARKER = ".berth-released";

/** The two nginx sites of a stack: `challenge` (HTTP, ACME webroot) and `full` (HTTPS). */
export type SitePhase = "challenge" | "full";

export function sitePath(cfg: { readonly names: Names }, phase: SitePhase): string {
    return `/etc/nginx/sites-available/${siteFileName(cfg, phase)}`;
}

export function siteLink(cfg: { readonly names: Names }, phase: SitePhase): string {
    return `/etc/nginx/sites-enabled/${siteFileName(cfg, phase)}`;
}

export function siteFileName(cfg: { readonly names: Names }, phase: SitePhase): string {
    return `${cfg.names.nginxSite}${phase === "full" ? "-https" : ""}.conf`;
}

/** `berth:basicAuth`'s password file (hashes only; root:www-data 0640), read by nginx at each request. */
export function basicAuthFile(cfg: { readonly names: Names }): string {
    return `/etc/nginx/berth/${cfg.names.id}.htpasswd`;
}

/**
 * Runs `body` (bash) as the app user in `dir` with the app's environment,
 * through systemd-run: systemd parses the EnvironmentFile exactly as it does
 * for the units, output is piped back, and the exit status is returned.
 */
export function runAsApp(cfg: { readonly names: Names }, unitSuffix: string, dir: string, body: string, extra: Arg[] = []): string {
    const n = cfg.names;
    return cmd(
        "systemd-run",
        "--quiet",
        "--wait",
        "--pipe",
        "--collect",
        "--service-type=exec",
        raw(`--unit=${quote(`berth-${n.id}-${unitSuffix}`)}-"$$"`),
        "-p",
        `User=${n.user}`,
        "-p",
        `Group=${n.user}`,
        "-p",
        `EnvironmentFile=${n.envFile}`,
        "-p",
        `WorkingDirectory=${dir}`,
        "-p",
        `Environment=HOME=${n.root}/shared`,
        "-p",
        "UMask=0022",
        ...extra,
        "/bin/bash",
        "-c",
        `set -euo pipefail\n${body}`,
    );
}
/** The known_hosts host pattern OpenSSH uses for this address and port. */
export function knownHostsPattern(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
}

/** The Docker provider's `host`: the engine over SSH on the host that runs the containers. */
export function dockerHost(cfg: { host: Pick<HostConfig, "sshUser" | "address" | "sshPort"> }): string {
    return `ssh://${cfg.host.sshUser}@${cfg.host.address}:${cfg.host.sshPort}`;
}

/**
 * Options for the `ssh` binary the Docker provider runs. The pinned host key
 * reaches OpenSSH through KnownHostsCommand (split into argv by ssh itself,
 * no shell), so no known_hosts file is written and the inputs stay the same
 * on every machine that runs `pulumi`. Authentication: with
 * `berth:privateKey`, only the key file the program writes at start
 * (lib/sshIdentity.ts), named with ssh's own `~/` so this text is identical
 * on every machine (`IdentitiesOnly` keeps agent keys from using up the
 * host's MaxAuthTries); otherwise the SSH agent (`berth:sshAgent`). The key
 * itself never appears here.
 */
export function dockerSshOpts(cfg: SshScope): string[] {
    const base = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15"];
    const identity =
        cfg.host.privateKey === undefined
            ? []
            : ["-o", "IdentitiesOnly=yes", "-o", `IdentityFile=${sshIdentityFile(cfg.project, cfg.stack, cfg.host.address).forSsh}`];
    if (!cfg.host.hostKey) {
        return [...base, ...identity, "-o", "StrictHostKeyChecking=accept-new"];
    }
    return [
        ...base,
        ...identity,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        `KnownHostsCommand=/bin/echo ${knownHostsPattern(cfg.host.address, cfg.host.sshPort)} ${cfg.host.hostKey}`,
    ];
}


// ---------------------------------------------------------------------------
// Process types, schedules, accessories (berth:processes, berth:schedules, berth:accessories)

export interface ProcessUnitNames {
    /** Template unit (without `.service`): `berth-<id>-<process>@`; instances `1`..`count`. */
    readonly unit: string;
    readonly unitPath: string;
    /** `berth-<id>-<process>@1.service`, ... one per instance. */
    readonly instances: readonly string[];
    /** Journal identifier prefix (`<id>-<process>`; the unit adds `-<instance>`). */
    readonly syslogIdentifier: string;
}

/** Unit names of a process type with `count` instances. */
/**
 * The transient drain unit of an instance is this prefix + its colour
 * (`.timer`/`.service`): the switch starts it, the stop script, the switch
 * and `berth restart` stop its timer before reusing the instance.
 */
export function drainUnitPrefix(names: Pick<Names, "id">): string {
    return `berth-${names.id}-drain-`;
}

export function processUnitNames(names: Pick<Names, "id">, process: string, count: number): ProcessUnitNames {
    const unit = `berth-${names.id}-${process}@`;
    return {
        unit,
        unitPath: `/etc/systemd/system/${unit}.service`,
        instances: Array.from({ length: count }, (_, i) => `${unit}${i + 1}.service`),
        syslogIdentifier: `${names.id}-${process}`,
    };
}

export interface ScheduleUnitNames {
    /** Service + timer name (without suffix): `berth-<id>-schedule-<name>`. */
    readonly unit: string;
    readonly servicePath: string;
    readonly timerPath: string;
    readonly syslogIdentifier: string;
    /** The schedule's failure marker (root's; written by the failure unit, removed by a successful run). */
    readonly failedMarker: string;
}

/** The template unit a failed schedule run starts (`OnFailure=`; instance = the schedule's name): it writes the failure marker. */
export function scheduleFailureUnit(names: Pick<Names, "id">): { readonly unit: string; readonly unitPath: string } {
    const unit = `berth-${names.id}-schedule-failed@`;
    return { unit, unitPath: `/etc/systemd/system/${unit}.service` };
}

/** Where the schedules' failure markers live (`<name>.failed`: time, result, exit status of the last failed run). */
export function scheduleStateDir(names: Pick<Names, "root">): string {
    return `${names.root}/state/schedules`;
}

export function scheduleUnitNames(names: Pick<Names, "id" | "root">, schedule: string): ScheduleUnitNames {
    const unit = `berth-${names.id}-schedule-${schedule}`;
    return {
        unit,
        servicePath: `/etc/systemd/system/${unit}.service`,
        timerPath: `/etc/systemd/system/${unit}.timer`,
        syslogIdentifier: `${names.id}-schedule-${schedule}`,
        failedMarker: `${scheduleStateDir(names)}/${schedule}.failed`,
    };
}

export interface AccessoryNames {
    /** Container: `<id>-<name>` (postgres's and redis's are today's `postgresContainer` / `redisContainer`). */
    readonly container: string;
    /** A locally built image: `berth-<id>-<name>` (tagged with its build's digest). */
    readonly image: string;
    /** Docker volume of a `volumes` entry: `<id>-<volume>` (so `pgdata` is today's `postgresVolume`). */
    readonly volume: (volume: string) => string;
}

export function accessoryNames(names: Pick<Names, "id">, accessory: string): AccessoryNames {
    return {
        container: `${names.id}-${accessory}`,
        image: `berth-${names.id}-${accessory}`,
        volume: (volume) => `${names.id}-${volume}`,
    };
}

export interface AlertNames {
    /** Root-only directory (0700) of the webhooks file. */
    readonly etc: string;
    /** `<format> <url>` per line (0600, root): written from stdin, read by the sender. */
    readonly webhooks: string;
    /** Root-only state: one `<key>.firing` per open alert, the health failure's start, the rollback markers. */
    readonly stateDir: string;
    /** The sender (`fire` / `resolve` / `event`) and the periodic check. */
    readonly sender: string;
    readonly check: string;
    /** Template unit a failed unit starts (`OnFailure=`; instance = the failed unit's name). */
    readonly alertUnit: string;
    /** Service + timer (without suffix) of the periodic check. */
    readonly checkUnit: string;
    /**
     * The drop-in that adds `OnFailure=` to every unit named `berth-<id>-*`
     * (systemd.unit(5): a unit's drop-ins include those of its name truncated
     * after each dash), and the alert unit's own, same-named drop-in that
     * resets it (the more specific directory wins: no alert about an alert).
     */
    readonly dropIn: string;
    readonly selfDropIn: string;
    /** In the state dir: one line per automatic rollback (`<UTC time> TAB <release> TAB <kept release restored> TAB <ms>`), written by the check, read by `berth status`. */
    readonly rollbacks: string;
}

export function alertNames(names: Pick<Names, "id">): AlertNames {
    const id = names.id;
    const conf = "50-berth-alerts.conf";
    return {
        etc: `/etc/berth/${id}/alerts`,
        webhooks: `/etc/berth/${id}/alerts/webhooks`,
        stateDir: `/var/lib/berth/${id}/alerts`,
        sender: `/usr/local/sbin/berth-${id}-alert`,
        check: `/usr/local/sbin/berth-${id}-check`,
        alertUnit: `berth-${id}-alert@`,
        checkUnit: `berth-${id}-check`,
        dropIn: `/etc/systemd/system/berth-${id}-.service.d/${conf}`,
        selfDropIn: `/etc/systemd/system/berth-${id}-alert@.service.d/${conf}`,
        rollbacks: `/var/lib/berth/${id}/alerts/auto-rollbacks`,
    };
}

/** `berth:frontend` on the host (components/web/frontend.ts): releases, the served symlink, the mirror of its own repository, the state the soak and the publish record. */
export interface FrontendNames {
    /** `<root>/frontend`: everything of the frontend (removed by the publish's delete, after its identity check). */
    readonly dir: string;
    /** `<dir>/releases/<sha>`: one built site each. */
    readonly releases: string;
    /** `<dir>/current` -> releases/<sha>: what nginx serves (swapped with `ln -sfn` + `mv -T`). */
    readonly current: string;
    /** Bare mirror of the frontend's own repository (berth:frontend.repository); the app's mirror otherwise. */
    readonly mirror: string;
    /** The identity file the delete checks before removing `dir`. */
    readonly identity: string;
    /** `<root>/state/frontend`: `<epoch> <sha>` of the last publish. */
    readonly published: string;
    /** `<root>/state/soak`: `<epoch> <sha> passed|failed ...` of the last soak. */
    readonly soakState: string;
    /** Transient unit name prefix of the frontend build (runAsApp suffix). */
    readonly buildUnit: string;
}

export function frontendNames(names: Pick<Names, "root">): FrontendNames {
    const dir = `${names.root}/frontend`;
    return {
        dir,
        releases: `${dir}/releases`,
        current: `${dir}/current`,
        mirror: `${dir}/repo`,
        identity: `${dir}/.berth-frontend`,
        published: `${names.root}/state/frontend`,
        soakState: `${names.root}/state/soak`,
        buildUnit: "frontend-build",
    };
}

/** The directory of one release on an app host: `<root>/releases/<sha>`. */
export function releasePath(cfg: { names: { root: string } }, sha: string): string {
    return `${cfg.names.root}/releases/${sha}`;
}

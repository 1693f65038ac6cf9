/**
 * The one place berth reads configuration.
 *
 * `parseConfig` is pure: it takes the raw `berth:*` strings Pulumi hands the
 * program (stack file values merged with Pulumi.yaml defaults) and returns a
 * frozen, typed `BerthConfig` or the complete list of problems, each naming its
 * key the way `pulumi config set --path` spells it (`berth:postgres.port`).
 * `loadConfig` wires it to the Pulumi runtime and fails the program before any
 * resource is registered.
 *
 * Validation uses zod (schemas as data, every issue collected in one pass,
 * strict objects that reject unknown keys) rather than hand-written checks.
 * The keys are declared, with their documentation, in lib/config/keys.ts
 * (value checks in lib/config/checks.ts, zod building blocks and the object
 * schemas in lib/config/schemas.ts); this file re-exports them, so importers
 * keep using "lib/config".
 */
import { hostKeyType, isImmutableRevision, parseSftpRepository, type Role, ROLES, UNPINNABLE_GIT_HOST_KEY_TYPES, UNPINNABLE_HOST_KEY_TYPES } from "./config/checks";
import { keyKind, type Raw, RawSchema, SECRET_KEYS } from "./config/keys";
import { type AlertsConfig, alertsConfig, type AutoRollbackConfig, autoRollbackConfig } from "./config/alerts";
import { show } from "./config/schemas";
import { buildReview, certificateOf, type ReviewConfig, type SiteCertificate } from "./config/review";
import { buildFrontend, type FrontendConfig } from "./config/frontend";
import { deriveNames, derivePorts, fnv1a, Names, Ports } from "./names";
import { portSlots } from "./ports";
import { defaultWebSocket, PRESETS } from "./presets";

export {
    hostKeyType,
    isCalendarSpec,
    isHostKey,
    isHostname,
    isImmutableRevision,
    isPrivateKey,
    parseSftpRepository,
    type Role,
    ROLES,
    UNPINNABLE_GIT_HOST_KEY_TYPES,
    UNPINNABLE_HOST_KEY_TYPES,
} from "./config/checks";
export { type KeyDecl, type KeyName, KEYS, keyKind, RawSchema, SECRET_KEYS } from "./config/keys";
export { type FrontendConfig } from "./config/frontend";

/** Namespace of every berth key (the Pulumi project name). */
export const NAMESPACE = "berth";

// ---------------------------------------------------------------------------
// The typed result
// ---------------------------------------------------------------------------

export interface HostConfig {
    /** The host's name in `berth:hosts` ("main" for a stack with `berth:host`); part of its resources' names. */
    readonly name: string;
    /** What runs on it: web (nginx, web instances), worker, data (Postgres and Redis containers). */
    readonly roles: readonly Role[];
    /**
     * Address the stack's hosts reach it on: `privateAddress` (the provider's
     * private network) or its WireGuard mesh address (lib/topology.ts).
     * Undefined on a single-host stack (data stays on loopback).
     */
    readonly privateAddress?: string;
    /** IPv4 address berth connects to and points DNS A records at. */
    readonly address: string;
    readonly ipv6?: string;
    readonly sshUser: string;
    readonly sshPort: number;
    /** Pinned SSH host key (`type base64`), undefined only outside production. */
    readonly hostKey?: string;
    /** Private key (secret) or undefined when the SSH agent is used. */
    readonly privateKey?: string;
    readonly sshAgent: boolean;
    /** True when commands must run under `sudo -n`. */
    readonly sudo: boolean;
}

export interface BerthConfig {
    readonly project: string;
    readonly stack: string;
    readonly app: string;
    readonly production: boolean;
    /**
     * `berth:protect` (default: `production`): Docker containers and network
     * are `protect`ed (lib/lifecycle.ts). Set false for the one `pulumi up`
     * that must replace a data container on production.
     */
    readonly protect: boolean;
    readonly names: Names;
    readonly ports: Ports;
    /**
     * The host this (view of the) configuration is for: the only host of a
     * `berth:host` stack; on a `berth:hosts` stack the first web host at the
     * top level; components take the host of their plan entry
     * (lib/plan.ts `argsFor`), the CLI a host's view (`hostView`).
     */
    readonly host: HostConfig;
    /** Every host of the stack, in `berth:hosts` order (one, "main", for `berth:host`). */
    readonly hosts: readonly HostConfig[];
    /** True when the stack lists `berth:hosts` (resources are named per host). */
    readonly multiHost: boolean;
    /** WireGuard mesh between the hosts (multi-host stacks whose hosts have no privateAddress). */
    readonly mesh: { readonly enabled: boolean; readonly cidr: string; readonly port: number };
    /**
     * `berth:externalData` (secret): managed Postgres/Redis by URL. When set,
     * berth runs no container; `postgresUrl` is the app's own URL, or
     * `postgresAdminUrl` lets berth manage the app role on the managed server.
     */
    readonly external: { readonly postgresUrl?: string; readonly postgresAdminUrl?: string; readonly redisUrl?: string };
    readonly domain: string;
    readonly extraHostnames: readonly string[];
    /** Domain first, then the extra names. */
    readonly hostnames: readonly string[];
    /** The TLS certificate the HTTPS site serves: its lineage and names, or a source stack's wildcard (lib/config/review.ts certificateOf). */
    readonly certificate: SiteCertificate;
    readonly dns: { readonly enabled: boolean; readonly zoneId?: string; readonly zone?: string; readonly proxied: boolean };
    readonly packages: readonly string[];
    readonly postgres: { readonly image: string; readonly role: string; readonly database: string; readonly port: number; readonly passwordRotation: string };
    readonly redis: { readonly image: string; readonly port: number; readonly passwordRotation: string };
    /** `berth:database`: the Postgres container, an external Postgres (`external`), or SQLite files on the one app host (lib/databases.ts). */
    readonly database: DatabaseKind;
    /** `berth:databases`: the app's databases beyond the primary (Rails multi-db: queue, cache, cable). */
    readonly databases: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    /** Secret values: wrap in pulumi.secret before use in resources. */
    readonly secretEnv: Readonly<Record<string, string>>;
    readonly release: {
        readonly repository: string;
        readonly repositoryHostKey?: string;
        readonly deployKey?: string;
        readonly revision: string;
        readonly revisionIsImmutable: boolean;
        readonly preset: "rails" | "generic";
        /** deployment: gems in shared/bundle (BUNDLE_DEPLOYMENT); system: the host's gems, frozen lockfile. */
        readonly bundler: "deployment" | "system";
        readonly buildCommand?: string;
        readonly releaseCommand?: string;
        readonly webCommand: string;
        /** `berth:webSocket` (else the preset's): how nginx's socket reaches the web instance (lib/units/webSocket.ts). */
        readonly webSocket: "proxy" | "activation";
        readonly workerCommand?: string;
        readonly keepReleases: number;
        readonly healthPath: string;
        readonly healthTimeout: number;
        /**
         * Longest request the app may serve (s): after a switch the old
         * instance keeps its in-flight requests at least this long.
         * `berth:drainSeconds`, 0 (default) = `berth:nginx.proxyTimeout`, the
         * longest nginx waits for the app.
         */
        readonly drainSeconds: number;
        /** `berth:rollbackWindow` (s): the previous instance stays up, idle, this long after a switch, so a rollback only moves traffic. */
        readonly rollbackWindow: number;
    };
    readonly nginx: { readonly clientMaxBodySize: string; readonly proxyTimeout: number; readonly hsts: boolean };
    /** `berth:basicAuth`: user -> password of the site's basic-auth gate (secret values: only on stdin, components/web/basicAuth.ts). */
    readonly basicAuth?: Readonly<Record<string, string>>;
    readonly acme: {
        readonly email?: string;
        readonly server: string;
        readonly caBundle?: string;
        readonly staging: boolean;
        /** http-01 (default with one web host) or dns-01 (default, and required, with several). */
        readonly challenge: "http-01" | "dns-01";
        /** `berth:dns01` (secret): how certbot sets the TXT record: Cloudflare's plugin, or the user's own hooks. */
        readonly dns01?: { readonly cloudflareApiToken?: string; readonly authHook?: string; readonly cleanupHook?: string };
    };
    /** `berth:backup` (secret object): encrypted off-host backups with restic; undefined = no backups. */
    readonly backup?: BackupConfig;
    /** `berth:maintenance`: nginx answers 503 with the maintenance page (every path but ACME challenges). */
    readonly maintenance: boolean;
    /** `berth:alerts` (secret webhook URLs): the host's check timer and failure alerts (lib/config/alerts.ts). */
    readonly alerts?: AlertsConfig;
    /** `berth:autoRollback`: the check timer moves traffic back after a sustained failure following a switch. */
    readonly autoRollback?: AutoRollbackConfig;
    /** `berth:processes` (with `berth:workerCommand` as the process `worker`), by name. */
    readonly processes: Readonly<Record<string, ProcessConfig>>;
    /** `berth:schedules`, by name. */
    readonly schedules: Readonly<Record<string, ScheduleConfig>>;
    /** `berth:accessories`, by name. */
    readonly accessories: Readonly<Record<string, AccessoryConfig>>;
    /** `berth:review` (lib/config/review.ts): where review stacks live; on a review stack, its number and source. */
    readonly review?: ReviewConfig;
    /** `berth:reviewSeed` (secret): a review stack's database is restored from this repository's latest run of `review.source`. */
    readonly reviewSeed?: BackupConfig;
    /** `berth:frontend` (lib/config/frontend.ts): a static site published after the backend's soak; undefined = none. */
    readonly frontend?: FrontendConfig;
    /** `berth:soakSeconds`: how long the backend is watched through nginx before the frontend is published (only with a frontend). */
    readonly soakSeconds: number;
}

export interface BackupConfig {
    /** restic repository URL (`sftp:...`); never deleted by berth. */
    readonly repository: string;
    readonly sftp: { readonly user: string; readonly host: string; readonly port: number; readonly path: string };
    /** The SFTP server's pinned host key (`type base64`). */
    readonly hostKey: string;
    /** SSH private key for the SFTP server (secret). */
    readonly privateKey: string;
    /** restic repository password (secret). */
    readonly password: string;
    /** OnCalendar= of the backup timer. */
    readonly schedule: string;
    /** OnCalendar= of the restore-test timer. */
    readonly restoreTestSchedule: string;
    /** restic forget --keep-daily/--keep-weekly/--keep-monthly. */
    readonly retention: { readonly daily: number; readonly weekly: number; readonly monthly: number };
    /** Also back up the Redis volume. */
    readonly redis: boolean;
    /** Also back up shared/storage (Active Storage's local files) in the same run, after the databases (default: with sqlite). */
    readonly storage: boolean;
}

export type DatabaseKind = "postgres" | "external" | "sqlite";

export const LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export interface ParseContext {
    readonly project: string;
    readonly stack: string;
    /** Fully qualified keys (`berth:privateKey`) whose values are secrets. */
    readonly secretKeys: ReadonlySet<string>;
}

export type ParseResult = { ok: true; config: BerthConfig } | { ok: false; errors: string[] };

/** Formats a zod path the way `pulumi config set --path` spells it. */
export function keyPath(path: ReadonlyArray<PropertyKey>): string {
    let out = NAMESPACE;
    path.forEach((p, i) => {
        if (typeof p === "number") out += `[${p}]`;
        else out += i === 0 ? `:${String(p)}` : `.${String(p)}`;
    });
    return out;
}

const STRUCTURED = new Set(["object", "array", "record"]);

/** Decodes Pulumi's string config values by the key's declared kind. */
function decode(key: string, value: string): unknown {
    const kind = keyKind(key);
    if (kind !== undefined && STRUCTURED.has(kind)) {
        try {
            return JSON.parse(value);
        } catch {
            return value;
        }
    }
    if (kind === "number") return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (kind === "boolean") return value === "true" ? true : value === "false" ? false : value;
    return value;
}

/**
 * Validates raw config (keys without namespace, values as Pulumi strings).
 * Empty strings mean "unset" so Pulumi.yaml can declare optional keys with "".
 */
export function parseConfig(rawConfig: Readonly<Record<string, string>>, ctx: ParseContext): ParseResult {
    const errors: string[] = [];
    const input: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(rawConfig)) {
        if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
        const key = fullKey.slice(NAMESPACE.length + 1);
        if (value === "") continue;
        input[key] = decode(key, value);
    }
    for (const key of SECRET_KEYS) {
        if (input[key] !== undefined && !ctx.secretKeys.has(`${NAMESPACE}:${key}`)) {
            errors.push(`${NAMESPACE}:${key}: must be a secret (pulumi config set --secret ${key} ...)`);
        }
    }

    if (input.host === undefined && input.hosts === undefined) {
        errors.push(`${NAMESPACE}:host: required (or list the stack's hosts in berth:hosts)`);
    }
    const parsed = RawSchema.safeParse(input, { reportInput: true });
    if (!parsed.success) {
        for (const issue of parsed.error.issues) {
            if (issue.code === "unrecognized_keys") {
                for (const k of issue.keys) {
                    errors.push(`${keyPath([...issue.path, k])}: unknown key`);
                }
            } else if (issue.code === "invalid_key") {
                errors.push(`${keyPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`);
            } else if (issue.code === "invalid_type" && issue.input === undefined) {
                errors.push(`${keyPath(issue.path)}: required`);
            } else {
                errors.push(`${keyPath(issue.path)}: ${issue.message}`);
            }
        }
    }
    if (errors.length > 0 || !parsed.success) {
        return { ok: false, errors: [...new Set(errors)] };
    }
    const result = build(parsed.data, ctx, errors);
    if (errors.length > 0) return { ok: false, errors };
    return { ok: true, config: deepFreeze(result) };
}

/**
 * The checks that need more than one key, and the typed result. Each area's
 * helper pushes its problems onto `errors`; they run in this order, so the
 * list reads the same from one run to the next.
 */
function build(raw: Raw, ctx: ParseContext, errors: string[]): BerthConfig {
    const production = raw.production === true || ctx.stack === "production";
    // The mesh joins the hosts of a several-host stack none of whose hosts has a privateAddress.
    const mesh = { enabled: (raw.hosts?.length ?? 0) > 1 && raw.hosts!.every((h) => h.privateAddress === undefined), ...meshDefaults(raw, ctx.stack) };
    const hosts = buildHosts(raw, production, mesh, errors);
    checkSshKeys(raw, errors);
    const hostnames = checkHostnames(raw, errors);
    const revisionIsImmutable = checkRelease(raw, production, errors);
    checkRetentionAndEnv(raw, errors);
    const { names, ports } = buildNamesAndPorts(raw, ctx.stack, errors);
    const challenge = buildChallenge(raw, hosts, errors);
    const database = buildData(raw, hosts, errors);
    const services = buildServices(raw, ctx.stack, hosts, errors);
    const review = buildReview(raw, { stack: ctx.stack, production, challenge, hostAddresses: hosts.map((h) => ({ name: h.name, address: h.address })) }, errors);
    return {
        project: ctx.project,
        stack: ctx.stack,
        app: raw.app,
        production,
        protect: raw.protect ?? production,
        names,
        ports,
        host: hosts.find((h) => h.roles.includes("web")) ?? hosts[0],
        hosts,
        multiHost: raw.hosts !== undefined,
        mesh,
        external: { ...(raw.externalData ?? {}) },
        domain: raw.domain,
        extraHostnames: raw.extraHostnames,
        hostnames,
        dns: { enabled: raw.dns, zoneId: raw.cloudflare.zoneId, zone: raw.cloudflare.zone, proxied: raw.cloudflare.proxied },
        // berth:frontend's build packages join the host's (installed with them, checked per release).
        packages: raw.frontend ? [...new Set([...raw.packages, ...raw.frontend.packages])] : raw.packages,
        ...postgresAndRedis(raw, names, ports),
        database,
        databases: raw.databases,
        env: raw.env,
        secretEnv: raw.secretEnv,
        release: releaseConfig(raw, revisionIsImmutable),
        nginx: { clientMaxBodySize: raw.nginx.clientMaxBodySize, proxyTimeout: raw.nginx.proxyTimeout, hsts: raw.nginx.hsts ?? production },
        basicAuth: raw.basicAuth,
        acme: acmeConfig(raw, production, challenge),
        backup: backupConfig(raw, database),
        maintenance: raw.maintenance,
        alerts: alertsConfig(raw),
        autoRollback: autoRollbackConfig(raw, errors),
        ...services,
        review,
        certificate: certificateOf(review, { app: raw.app, certName: names.certName, hostnames }),
        reviewSeed: raw.reviewSeed && { ...backupConfig({ ...raw, backup: raw.reviewSeed }, database)!, storage: false },
    };
}

/** Backups that keep nothing; a variable set in both berth:env and berth:secretEnv. */
function checkRetentionAndEnv(raw: Raw, errors: string[]): void {
    if (raw.backup && raw.backup.retention.daily + raw.backup.retention.weekly + raw.backup.retention.monthly === 0) {
        errors.push(`${NAMESPACE}:backup.retention: keeps nothing; set at least one of daily, weekly, monthly`);
    }
    for (const k of Object.keys(raw.secretEnv)) {
        if (k in raw.env) errors.push(`${NAMESPACE}:secretEnv.${k}: also set in berth:env; set it in one place`);
    }
}

/** berth:postgres and berth:redis with their defaults (role and database named after the stack) and port slots. */
function postgresAndRedis(raw: Raw, names: BerthConfig["names"], ports: BerthConfig["ports"]): Pick<BerthConfig, "postgres" | "redis"> {
    return {
        postgres: {
            image: raw.postgres.image,
            role: raw.postgres.role ?? names.dbIdentifier,
            database: raw.postgres.database ?? names.dbIdentifier,
            port: ports.postgres,
            passwordRotation: raw.postgres.passwordRotation,
        },
        redis: { image: raw.redis.image, port: ports.redis, passwordRotation: raw.redis.passwordRotation },
    };
}

/** The keys berth connects with: the git server's pinned key must be one OpenSSH accepts; the hosts' needs a private key or the agent. */
function checkSshKeys(raw: Raw, errors: string[]): void {
    if (raw.repositoryHostKey && UNPINNABLE_GIT_HOST_KEY_TYPES.includes(hostKeyType(raw.repositoryHostKey))) {
        const ep = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(raw.repository)?.[1] ?? /^[A-Za-z0-9._-]+@([A-Za-z0-9._-]+):/.exec(raw.repository)?.[1] ?? "<git host>";
        errors.push(
            `${NAMESPACE}:repositoryHostKey: ${show(truncateKey(raw.repositoryHostKey))} is an ssh-dss (DSA) key, which OpenSSH no longer accepts; pin the git server's ed25519 key (ssh-keyscan -t ed25519 ${ep})`,
        );
    }
    if (!raw.privateKey && !raw.sshAgent) {
        errors.push(`${NAMESPACE}:privateKey: required unless berth:sshAgent is true`);
    }
}

/** The site's names (berth:domain, then berth:extraHostnames): each once, and in the Cloudflare zone when berth manages DNS. */
function checkHostnames(raw: Raw, errors: string[]): string[] {
    const hostnames = [raw.domain, ...raw.extraHostnames];
    const seen = new Set<string>();
    hostnames.forEach((h, i) => {
        if (seen.has(h.toLowerCase())) errors.push(`${keyPath(["extraHostnames", i - 1])}: ${show(h)} is listed twice`);
        seen.add(h.toLowerCase());
    });
    if (raw.dns && !raw.cloudflare.zoneId && !raw.cloudflare.zone) {
        errors.push(`${NAMESPACE}:cloudflare.zoneId: required when berth:dns is true (or set berth:cloudflare.zone to look it up by name)`);
    }
    if (raw.dns && raw.cloudflare.zone) {
        const zone = raw.cloudflare.zone;
        hostnames.forEach((h, i) => {
            if (h !== zone && !h.endsWith(`.${zone}`)) {
                errors.push(`${i === 0 ? `${NAMESPACE}:domain` : keyPath(["extraHostnames", i - 1])}: ${show(h)} is not in the zone ${show(zone)}`);
            }
        });
    }
    return hostnames;
}

/**
 * The release: an SSH repository needs a pinned host key and a deploy key,
 * production a revision that cannot move (and no basicAuth gate), the preset
 * its web command. Returns whether the revision is immutable.
 */
function checkRelease(raw: Raw, production: boolean, errors: string[]): boolean {
    const isSsh = /^(ssh:\/\/|[A-Za-z0-9._-]+@)/.test(raw.repository);
    if (isSsh && !raw.repositoryHostKey) {
        errors.push(`${NAMESPACE}:repositoryHostKey: required for an SSH repository (pin the git server's host key)`);
    }
    if (isSsh && !raw.deployKey) {
        errors.push(`${NAMESPACE}:deployKey: required for an SSH repository (a read-only deploy key, set with --secret)`);
    }
    const revisionIsImmutable = isImmutableRevision(raw.revision);
    if (production && !revisionIsImmutable) {
        errors.push(`${NAMESPACE}:revision: ${show(raw.revision)} can move; production needs a full commit sha or a tag`);
    }
    if (production && raw.basicAuth) {
        errors.push(`${NAMESPACE}:basicAuth: a gate for staging and review stacks; a production stack serves the public (remove it, or make the stack not production)`);
    }
    if (PRESETS[raw.preset].needsWebCommand && !raw.webCommand) {
        errors.push(`${NAMESPACE}:webCommand: required with the ${raw.preset} preset`);
    }
    const webCommand = raw.webCommand ?? DEFAULT_WEB_COMMAND;
    if (raw.webSocket === "activation" && PRESETS[raw.preset].activatedWebCommand(webCommand) === undefined) {
        errors.push(`${NAMESPACE}:webSocket: activation needs a web command that takes systemd's socket itself; with the ${raw.preset} preset that is Puma's own CLI (e.g. bundle exec puma -C config/puma.rb), and berth:webCommand ${show(webCommand)} is not (set berth:webSocket: proxy, or run Puma)`);
    }
    return revisionIsImmutable;
}

/** The stack's names (from app and stack) and ports, none used twice or reserved. */
function buildNamesAndPorts(raw: Raw, stack: string, errors: string[]): { names: Names; ports: Ports } {
    let names: Names;
    try {
        names = deriveNames(raw.app, stack);
    } catch (e) {
        errors.push(`${NAMESPACE}:app: ${(e as Error).message}`);
        names = deriveNames("x", "x");
    }
    const ports = derivePorts(raw.app, stack, {
        base: raw.portBase === 0 ? undefined : raw.portBase,
        postgres: raw.postgres.port,
        redis: raw.redis.port,
    });
    const used = new Map<number, string>();
    for (const [what, p] of [
        ["postgres.port", ports.postgres],
        ["redis.port", ports.redis],
        ["portBase (web blue)", ports.webBlue],
        ["portBase (web green)", ports.webGreen],
    ] as const) {
        if (used.has(p)) errors.push(`${NAMESPACE}:${what}: ${p} is already used by berth:${used.get(p)}`);
        used.set(p, what);
        if (p === raw.sshPort || p === 80 || p === 443) errors.push(`${NAMESPACE}:${what}: ${p} is reserved for SSH/HTTP/HTTPS`);
    }
    return { names, ports };
}

/** The ACME challenge (default: http-01 with one web host, dns-01 with several) and what dns-01 needs. */
function buildChallenge(raw: Raw, hosts: readonly HostConfig[], errors: string[]): BerthConfig["acme"]["challenge"] {
    const webCount = hosts.filter((h) => h.roles.includes("web")).length;
    const challenge = raw.acme.challenge ?? (webCount > 1 ? "dns-01" : "http-01");
    if (challenge === "http-01" && webCount > 1) {
        errors.push(`${NAMESPACE}:acme.challenge: http-01 cannot work with ${webCount} web hosts (the CA's request lands on one of them); use dns-01`);
    }
    if (challenge === "dns-01") {
        const d = raw.dns01;
        if (!d || (!d.cloudflareApiToken && !d.authHook)) {
            errors.push(`${NAMESPACE}:dns01: required for the dns-01 challenge: set --secret --path dns01.cloudflareApiToken (a token with Zone.DNS:Edit), or dns01.authHook and dns01.cleanupHook`);
        } else if (d.cloudflareApiToken && (d.authHook || d.cleanupHook)) {
            errors.push(`${NAMESPACE}:dns01: set either cloudflareApiToken or authHook/cleanupHook, not both`);
        } else if (d.authHook && !d.cleanupHook) {
            errors.push(`${NAMESPACE}:dns01.cleanupHook: required with dns01.authHook`);
        }
    }
    return challenge;
}

/**
 * The data: at most one data host, else berth:externalData's URLs (unless
 * sqlite); then the database kind (buildDatabase), and a backup only of a
 * database berth runs.
 */
function buildData(raw: Raw, hosts: readonly HostConfig[], errors: string[]): DatabaseKind {
    const ext = raw.externalData ?? {};
    const dataHosts = hosts.filter((h) => h.roles.includes("data"));
    if (dataHosts.length > 1) errors.push(`${NAMESPACE}:hosts: ${dataHosts.map((h) => h.name).join(", ")} all have the data role; one host runs the data services`);
    if (dataHosts.length === 0 && raw.database === "sqlite") {
        // No Postgres at all; Redis only when the app names one (berth:externalData.redisUrl).
    } else if (dataHosts.length === 0) {
        if (!ext.postgresUrl && !ext.postgresAdminUrl) {
            errors.push(`${NAMESPACE}:externalData.postgresUrl: required when no host has the data role (or postgresAdminUrl, for berth to manage the app's role)`);
        }
        if (!ext.redisUrl) errors.push(`${NAMESPACE}:externalData.redisUrl: required when no host has the data role`);
    } else if (raw.externalData !== undefined) {
        errors.push(`${NAMESPACE}:externalData: set, but ${dataHosts[0].name} has the data role; use one or the other`);
    }
    if (ext.postgresAdminUrl && ext.postgresUrl) {
        errors.push(`${NAMESPACE}:externalData: set postgresUrl (the app's own role) or postgresAdminUrl (berth manages the role), not both`);
    }
    const database = buildDatabase(raw, hosts, errors);
    if (raw.backup && dataHosts.length === 0 && database !== "sqlite") {
        errors.push(`${NAMESPACE}:backup: backups of an external database are not supported yet (use the provider's backups), or give a host the data role`);
    }
    return database;
}

/** The web command when `berth:webCommand` is unset (the Rails preset's; the generic preset requires one). */
const DEFAULT_WEB_COMMAND = "bundle exec puma -C config/puma.rb";

/** `release`: the repository (its host key pinned to type and key), revision, commands and switch settings. */
function releaseConfig(raw: Raw, revisionIsImmutable: boolean): BerthConfig["release"] {
    const webCommand = raw.webCommand ?? DEFAULT_WEB_COMMAND;
    return {
        repository: raw.repository,
        repositoryHostKey: raw.repositoryHostKey?.trim().split(" ").slice(0, 2).join(" "),
        deployKey: raw.deployKey,
        revision: raw.revision,
        revisionIsImmutable,
        preset: raw.preset,
        bundler: raw.bundler,
        buildCommand: raw.buildCommand,
        releaseCommand: raw.releaseCommand,
        webCommand,
        webSocket: raw.webSocket ?? defaultWebSocket(PRESETS[raw.preset], webCommand),
        workerCommand: raw.workerCommand,
        keepReleases: raw.keepReleases,
        healthPath: raw.healthPath,
        healthTimeout: raw.healthTimeout,
        drainSeconds: raw.drainSeconds || raw.nginx.proxyTimeout,
        rollbackWindow: raw.rollbackWindow,
    };
}

/** `acme`: Let's Encrypt's production directory for a production stack, else staging, unless berth:acme.server names one. */
function acmeConfig(raw: Raw, production: boolean, challenge: BerthConfig["acme"]["challenge"]): BerthConfig["acme"] {
    return {
        email: raw.acme.email,
        server: raw.acme.server ?? (production ? LETSENCRYPT : LETSENCRYPT_STAGING),
        caBundle: raw.acme.caBundle,
        staging: raw.acme.server ? false : !production,
        challenge,
        dns01: raw.dns01 && { ...raw.dns01 },
    };
}

/** `backup`: the SFTP repository parsed, the host key pinned, shared/storage by default with sqlite. */
function backupConfig(raw: Raw, database: DatabaseKind): BerthConfig["backup"] {
    return (
        raw.backup && {
            ...raw.backup,
            sftp: parseSftpRepository(raw.backup.repository)!,
            hostKey: raw.backup.hostKey.trim().split(/\s+/).slice(0, 2).join(" "),
            retention: { ...raw.backup.retention },
            storage: raw.backup.storage ?? database === "sqlite",
        }
    );
}

/**
 * `berth:database` (default: postgres with a data host, else external) and
 * what it excludes; `berth:databases`' URL variables must be berth's alone.
 */
function buildDatabase(raw: Raw, hosts: readonly HostConfig[], errors: string[]): DatabaseKind {
    const key = `${NAMESPACE}:database`;
    const data = hosts.find((h) => h.roles.includes("data"));
    const database = raw.database ?? (data ? "postgres" : "external");
    const apps = hosts.filter((h) => h.roles.includes("web") || h.roles.includes("worker"));
    if (database === "postgres" && !data) errors.push(`${key}: postgres runs in a container on the data host, and no host has the data role (use external with berth:externalData)`);
    if (database === "external" && data) errors.push(`${key}: external, but ${data.name} has the data role (its Postgres container would go unused); use postgres, or give no host the data role`);
    if (database === "sqlite") {
        if (apps.length > 1) {
            errors.push(`${key}: sqlite keeps the database in files on the app host, and this stack has ${apps.length} app hosts (${apps.map((h) => h.name).join(", ")}); use postgres, or one host with the web and worker roles`);
        }
        if (raw.externalData?.postgresUrl || raw.externalData?.postgresAdminUrl) errors.push(`${NAMESPACE}:externalData: a Postgres URL is set, but berth:database is sqlite; use one or the other`);
        if (raw.backup?.redis && data && !data.roles.includes("web") && !data.roles.includes("worker")) {
            errors.push(`${NAMESPACE}:backup.redis: with sqlite the backup runs on the app host, and Redis is on ${data.name}; back up Redis from there by hand, or set it false`);
        }
    }
    if (raw.backup?.storage && data && database !== "sqlite" && !data.roles.includes("web") && !data.roles.includes("worker")) {
        errors.push(`${NAMESPACE}:backup.storage: the backup runs on the data host ${data.name}, and the uploads (shared/storage) are on the app hosts; set it false`);
    }
    for (const name of raw.databases) {
        const v = `${name.toUpperCase()}_DATABASE_URL`;
        if (v in raw.env || v in raw.secretEnv) errors.push(`${NAMESPACE}:${v in raw.env ? "env" : "secretEnv"}.${v}: berth sets it (berth:databases lists ${name}); remove it`);
    }
    return database;
}

/**
 * The stack's hosts: `berth:host` (one host, "main", every role) or
 * `berth:hosts`, with every per-host problem named by its key.
 */
function buildHosts(raw: Raw, production: boolean, mesh: { enabled: boolean; cidr: string }, errors: string[]): HostConfig[] {
    const common = { sshUser: raw.sshUser, sshPort: raw.sshPort, privateKey: raw.privateKey, sshAgent: raw.sshAgent, sudo: raw.sshUser !== "root" };
    const pin = (v: string | undefined) => v?.trim().split(/\s+/).slice(0, 2).join(" ");
    const checkKey = (key: string, hostKey: string | undefined, address: string) => {
        if (production && !hostKey) errors.push(`${key}: required on a production stack (pin the host key: ssh-keyscan -t ed25519 ${address})`);
        if (hostKey && UNPINNABLE_HOST_KEY_TYPES.includes(hostKeyType(hostKey))) {
            errors.push(
                `${key}: ${show(truncateKey(hostKey))} is an ${hostKeyType(hostKey)} key, which berth's SSH client would verify with SHA-1 signatures that OpenSSH >= 8.8 refuses; pin the host's ed25519 key (ssh-keyscan -t ed25519 ${address})`,
            );
        }
    };
    if (raw.hosts === undefined) {
        if (raw.host === undefined) return [{ name: "main", roles: [...ROLES], address: "0.0.0.0", ...common }]; // reported by parseConfig
        checkKey(`${NAMESPACE}:hostKey`, raw.hostKey, raw.host);
        return [{ name: "main", roles: [...ROLES], address: raw.host, ipv6: raw.hostIpv6, hostKey: pin(raw.hostKey), ...common }];
    }
    for (const k of ["host", "hostIpv6", "hostKey"] as const) {
        if (raw[k] !== undefined) errors.push(`${NAMESPACE}:${k}: set together with berth:hosts; give each host its ${k === "host" ? "address" : k === "hostIpv6" ? "ipv6" : "hostKey"} in berth:hosts`);
    }
    const names = new Set<string>();
    const addresses = new Set<string>();
    const list = raw.hosts.map((h, i): HostConfig => {
        const key = (f: string) => keyPath(["hosts", i, f]);
        if (names.has(h.name)) errors.push(`${key("name")}: ${show(h.name)} is listed twice`);
        names.add(h.name);
        if (addresses.has(h.address)) errors.push(`${key("address")}: ${h.address} is listed twice`);
        addresses.add(h.address);
        const roles = [...new Set(h.roles)];
        if (roles.length !== h.roles.length) errors.push(`${key("roles")}: lists a role twice`);
        checkKey(key("hostKey"), h.hostKey, h.address);
        return { name: h.name, roles, address: h.address, ipv6: h.ipv6, hostKey: pin(h.hostKey), privateAddress: h.privateAddress, ...common };
    });
    if (!list.some((h) => h.roles.includes("web"))) errors.push(`${NAMESPACE}:hosts: no host has the web role`);
    if (raw.workerCommand && !list.some((h) => h.roles.includes("worker"))) errors.push(`${NAMESPACE}:hosts: berth:workerCommand is set but no host has the worker role`);
    const given = list.filter((h) => h.privateAddress !== undefined).length;
    if (given > 0 && given < list.length) {
        errors.push(`${NAMESPACE}:hosts: privateAddress is set on ${given} of ${list.length} hosts; set it on every host (the provider's private network) or on none (berth's WireGuard mesh)`);
    }
    if (mesh.enabled) {
        // Mesh addresses come from each host's name (stable when hosts are added or reordered).
        const seen = new Map<string, string>();
        for (const [i, h] of list.entries()) {
            const a = meshAddress(mesh.cidr, h.name);
            if (seen.has(a)) errors.push(`${keyPath(["hosts", i, "name"])}: ${show(h.name)} gets the mesh address ${a} of ${show(seen.get(a))}; rename one of them`);
            seen.set(a, h.name);
            list[i] = { ...h, privateAddress: a };
        }
    }
    return list;
}

/**
 * The mesh's network and UDP port: as configured, else derived from app and
 * stack (10.200-249.x.0/24, port 51820-52819), so two stacks whose hosts
 * overlap (staging and production on the same machines) get meshes of their
 * own.
 */
export function meshDefaults(raw: Pick<Raw, "app" | "mesh">, stack: string): { cidr: string; port: number } {
    const h = fnv1a(`mesh:${raw.app}-${stack}`);
    return { cidr: raw.mesh.cidr ?? `10.${200 + (h % 50)}.${(h >>> 8) % 256}.0/24`, port: raw.mesh.port ?? 51820 + ((h >>> 16) % 1000) };
}

/** A host's WireGuard mesh address: `cidr`'s network, last octet 2-251 from the host's name. */
export function meshAddress(cidr: string, hostName: string): string {
    const [a, b, c] = cidr.split("/")[0].split(".");
    return `${a}.${b}.${c}.${(fnv1a(`mesh:${hostName}`) % 250) + 2}`;
}

/** `type AAAAC3Nz...` shortened for messages: enough to recognise the key. */
function truncateKey(v: string): string {
    const [type, blob = ""] = v.trim().split(/\s+/);
    return blob.length > 24 ? `${type} ${blob.slice(0, 20)}...` : `${type} ${blob}`;
}

function deepFreeze<T>(o: T): T {
    if (o && typeof o === "object") {
        Object.values(o as Record<string, unknown>).forEach(deepFreeze);
        Object.freeze(o);
    }
    return o;
}

/** Error raised for invalid configuration; Pulumi prints RunError without a stack trace. */
export function configErrorMessage(stack: string, errors: readonly string[]): string {
    return [`berth: invalid configuration for stack ${show(stack)} (${errors.length} problem${errors.length === 1 ? "" : "s"}):`, ...errors.map((e) => `  - ${e}`)].join("\n");
}

/**
 * Reads `berth:*` from the Pulumi runtime, validates it, and throws a
 * RunError listing every problem (before any resource is registered).
 */
export function loadConfig(pulumi: typeof import("@pulumi/pulumi")): BerthConfig {
    // isConfigSecret is not in the public typings; it reads the same
    // PULUMI_CONFIG_SECRET_KEYS the engine sets for `secure:` values.
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };
    const all = pulumi.runtime.allConfig();
    const secretKeys = new Set(Object.keys(all).filter((k) => runtimeConfig.isConfigSecret(k)));
    const stack = pulumi.getStack();
    const result = parseConfig(all, { project: pulumi.getProject(), stack, secretKeys });
    if (!result.ok) {
        throw new pulumi.RunError(configErrorMessage(stack, result.errors));
    }
    for (const h of result.config.hosts) {
        if (!h.hostKey) {
            const key = result.config.multiHost ? `${NAMESPACE}:hosts (${h.name}).hostKey` : `${NAMESPACE}:hostKey`;
            pulumi.log.warn(`${key} is not set: SSH connections to ${h.address} accept any host key. Pin it: ssh-keyscan -t ed25519 ${h.address}`);
        }
    }
    return result.config;
}

// ---------------------------------------------------------------------------
// Process types, schedules, accessories (issue 18): parsed here, not yet used
// by any component (the plan reads them).

export interface ProcessConfig {
    readonly name: string;
    /** Shell command line, run in the current release with the app's environment. */
    readonly command: string;
    /** Instances on each of its hosts (0: defined but stopped). */
    readonly count: number;
    /** Names of the hosts that run it: `hosts`, else every host with its `role` (default worker). */
    readonly hosts: readonly string[];
}

export interface ScheduleConfig {
    readonly name: string;
    readonly command: string;
    /** systemd OnCalendar= expression (validated: lib/config/calendar.ts). */
    readonly schedule: string;
    /** Seconds a run may take before systemd stops it. */
    readonly timeout: number;
}

export interface AccessoryConfig {
    readonly name: string;
    /** A pulled image, or undefined with `build`. */
    readonly image?: string;
    /** A local image: Debian packages on Debian's slim image, then a RUN line. */
    readonly build?: { readonly from?: string; readonly debianPackages: readonly string[]; readonly command?: string };
    readonly command?: string;
    readonly env: Readonly<Record<string, string>>;
    /** Names in `berth:secretEnv` the container gets. */
    readonly secretEnv: readonly string[];
    /** A password berth generates: the container's `env` variable, the URL's userinfo. */
    readonly password?: { readonly env: string; readonly user?: string; readonly rotation: string };
    /** Volume name (Docker's: `<app>-<stack>-<name>`) -> container path. */
    readonly volumes: Readonly<Record<string, string>>;
    /** The port in the container. */
    readonly port: number;
    /** The port it is published on (lib/ports.ts: from its name, or `hostPort`). */
    readonly hostPort: number;
    readonly health?: string;
    /** Names of the hosts that run it: `hosts`, else every host with its `role` (default data). */
    readonly hosts: readonly string[];
    readonly urlEnv: string;
    readonly urlScheme: string;
    readonly urlPath?: string;
}

type Services = Pick<BerthConfig, "processes" | "schedules" | "accessories" | "frontend" | "soakSeconds">;

function buildServices(raw: Raw, stack: string, hosts: readonly HostConfig[], errors: string[]): Services {
    const frontend = buildFrontend({ ...raw, hosts, production: raw.production === true || stack === "production" }, errors);
    return { processes: buildProcesses(raw, hosts, errors), schedules: buildSchedules(raw), accessories: buildAccessories(raw, stack, hosts, errors), frontend, soakSeconds: raw.soakSeconds };
}

/** The hosts a process or accessory runs on: its `hosts` (names of berth:hosts), else every host with its role. */
function placement(key: string, p: { readonly role?: Role; readonly hosts?: readonly string[] }, defaultRole: Role, raw: Raw, hosts: readonly HostConfig[], errors: string[]): string[] {
    if (p.role !== undefined && p.hosts !== undefined) errors.push(`${key}: set role or hosts, not both`);
    if (p.hosts !== undefined) {
        if (raw.hosts === undefined) errors.push(`${key}.hosts: only with berth:hosts (a berth:host stack runs everything on its one host)`);
        else {
            p.hosts.forEach((h, i) => {
                if (!hosts.some((x) => x.name === h)) errors.push(`${key}.hosts[${i}]: ${show(h)} is not a host of berth:hosts`);
                if (p.hosts!.indexOf(h) !== i) errors.push(`${key}.hosts[${i}]: ${show(h)} is listed twice`);
            });
        }
        return [...new Set(p.hosts)];
    }
    const role = p.role ?? defaultRole;
    const on = hosts.filter((h) => h.roles.includes(role)).map((h) => h.name);
    if (on.length === 0) errors.push(`${key}.role: no host has the ${role} role`);
    return on;
}

function buildProcesses(raw: Raw, hosts: readonly HostConfig[], errors: string[]): Record<string, ProcessConfig> {
    if (raw.workerCommand !== undefined && Object.keys(raw.processes).length > 0) {
        errors.push(`${NAMESPACE}:workerCommand: set together with berth:processes; berth:workerCommand is the process worker: move it to berth:processes.worker.command`);
    }
    // berth:workerCommand is `worker: {command}` on the worker hosts (buildHosts reports a stack without one).
    const entries = Object.keys(raw.processes).length > 0 || raw.workerCommand === undefined ? Object.entries(raw.processes) : [["worker", { command: raw.workerCommand, count: 1, role: "worker" as Role }] as const];
    const out: Record<string, ProcessConfig> = {};
    for (const [name, p] of entries) {
        const fromWorkerCommand = !(name in raw.processes);
        const on = placement(`${NAMESPACE}:processes.${name}`, p, "worker", raw, hosts, fromWorkerCommand ? [] : errors);
        // A process runs the current release: only app hosts (web or worker) have one.
        for (const h of on) {
            const roles = hosts.find((x) => x.name === h)?.roles;
            if (!fromWorkerCommand && roles && !roles.includes("web") && !roles.includes("worker")) errors.push(`${NAMESPACE}:processes.${name}: host ${show(h)} has neither the web nor the worker role; a process runs the app's release, which only those hosts have`);
        }
        out[name] = { name, command: p.command, count: p.count, hosts: on };
    }
    return out;
}

function buildSchedules(raw: Raw): Record<string, ScheduleConfig> {
    return Object.fromEntries(Object.entries(raw.schedules).map(([name, s]) => [name, { name, command: s.command, schedule: s.schedule, timeout: s.timeout }]));
}

/** Accessories run on Docker, which berth installs on the data host only. */
function onDataHost(key: string, on: string[], hosts: readonly HostConfig[], errors: string[]): string[] {
    for (const name of on) {
        const h = hosts.find((x) => x.name === name);
        if (h && !h.roles.includes("data")) errors.push(`${key}.hosts: ${name} has no data role; accessories run on the data host's Docker engine`);
    }
    return on;
}

function buildAccessories(raw: Raw, stack: string, hosts: readonly HostConfig[], errors: string[]): Record<string, AccessoryConfig> {
    const names = Object.keys(raw.accessories);
    const fixed: Record<string, number | undefined> = { postgres: raw.postgres.port, redis: raw.redis.port };
    for (const n of names) fixed[n] = raw.accessories[n].hostPort;
    const slots = portSlots({ app: raw.app, stack, portBase: raw.portBase, fixed }, ["postgres", "redis", ...names]);
    const keyOf = (n: string) => (n === "postgres" || n === "redis" ? `berth:${n}.port` : n.startsWith("web ") ? `berth:portBase (${n})` : `berth:accessories.${n}`);
    for (const c of slots.collisions) {
        // postgres/redis against the web instances are reported with berth:portBase above.
        if (!names.includes(c.names[1])) continue;
        errors.push(`${keyOf(c.names[1])}.hostPort: port ${c.port} is also ${keyOf(c.names[0])}'s; set berth:accessories.${c.names[1]}.hostPort to a free port`);
    }
    const urlEnvs = new Map<string, string>();
    const volumes = new Map<string, string>();
    const out: Record<string, AccessoryConfig> = {};
    for (const name of names) {
        const a = raw.accessories[name];
        const key = `${NAMESPACE}:accessories.${name}`;
        if (a.image === undefined && a.build === undefined) errors.push(`${key}: set image (a pulled image) or build (one built on the host from Debian packages)`);
        if (a.image !== undefined && a.build !== undefined) errors.push(`${key}: set image or build, not both`);
        if (a.build !== undefined && a.command === undefined) errors.push(`${key}.command: required with build (Debian's image runs no service of its own)`);
        a.secretEnv.forEach((s, i) => {
            if (!(s in raw.secretEnv)) errors.push(`${key}.secretEnv[${i}]: ${show(s)} is not set in berth:secretEnv`);
        });
        if (a.password && (a.password.env in a.env || a.secretEnv.includes(a.password.env))) errors.push(`${key}.password.env: ${show(a.password.env)} is also set in env or secretEnv`);
        if (a.urlEnv in raw.env || a.urlEnv in raw.secretEnv) errors.push(`${key}.urlEnv: ${show(a.urlEnv)} is also set in berth:${a.urlEnv in raw.env ? "env" : "secretEnv"}; the accessory's URL is set by berth`);
        if (urlEnvs.has(a.urlEnv)) errors.push(`${key}.urlEnv: ${show(a.urlEnv)} is also the urlEnv of berth:accessories.${urlEnvs.get(a.urlEnv)}`);
        urlEnvs.set(a.urlEnv, name);
        for (const v of Object.keys(a.volumes)) {
            // Docker volumes are named `<app>-<stack>-<volume>` (lib/names.ts accessoryNames): one name, one accessory.
            if (volumes.has(v)) errors.push(`${key}.volumes.${v}: the volume ${show(v)} is also berth:accessories.${volumes.get(v)}'s; give it another name`);
            volumes.set(v, name);
        }
        const hostPort = slots.ports[name];
        if (hostPort === raw.sshPort || hostPort === 80 || hostPort === 443) errors.push(`${key}.hostPort: ${hostPort} is reserved for SSH/HTTP/HTTPS`);
        out[name] = {
            name,
            image: a.image,
            build: a.build && { from: a.build.from, debianPackages: a.build.debianPackages, command: a.build.command },
            command: a.command,
            env: a.env,
            secretEnv: a.secretEnv,
            password: a.password && { ...a.password },
            volumes: a.volumes,
            port: a.port,
            hostPort,
            health: a.health,
            hosts: onDataHost(key, placement(key, a, "data", raw, hosts, errors), hosts, errors),
            urlEnv: a.urlEnv,
            urlScheme: a.urlScheme,
            urlPath: a.urlPath,
        };
    }
    return out;
}

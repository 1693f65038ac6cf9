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
 */
import * as net from "node:net";
import { z } from "zod";
import { deriveNames, derivePorts, Names, Ports } from "./names";

/** Namespace of every berth key (the Pulumi project name). */
export const NAMESPACE = "berth";

/** Keys whose values must be Pulumi secrets (`pulumi config set --secret`). */
export const SECRET_KEYS = ["privateKey", "deployKey", "secretEnv", "backup"] as const;

/** Keys that hold JSON objects or arrays in the stack file. */
const STRUCTURED_KEYS = new Set([
    "extraHostnames",
    "packages",
    "postgres",
    "redis",
    "cloudflare",
    "nginx",
    "acme",
    "env",
    "secretEnv",
    "backup",
]);
const INTEGER_KEYS = new Set(["sshPort", "keepReleases", "healthTimeout", "drainSeconds", "rollbackWindow", "portBase"]);
const BOOLEAN_KEYS = new Set(["production", "protect", "sshAgent", "dns", "maintenance"]);

// ---------------------------------------------------------------------------
// Value checks (pure, reused by the schema and by tests)
// ---------------------------------------------------------------------------

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function isHostname(v: string): boolean {
    if (v.length === 0 || v.length > 253 || v.endsWith(".")) return false;
    const labels = v.split(".");
    return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

const HOST_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "ssh-dss",
];

/**
 * Host key types berth cannot pin for `berth:hostKey`: pulumi-command offers
 * the server only the pinned key's own algorithm (HostKeyAlgorithms =
 * [key.Type()]), so an `ssh-rsa` key negotiates SHA-1 RSA signatures, which
 * OpenSSH >= 8.8 servers refuse; DSA is gone from OpenSSH altogether.
 */
export const UNPINNABLE_HOST_KEY_TYPES = ["ssh-rsa", "ssh-dss"];
/** For `berth:repositoryHostKey` (git runs OpenSSH, which uses rsa-sha2-* with an ssh-rsa key): only DSA. */
export const UNPINNABLE_GIT_HOST_KEY_TYPES = ["ssh-dss"];

/** The key type of a host key line (`ssh-ed25519 AAAA...` -> `ssh-ed25519`). */
export function hostKeyType(v: string): string {
    return v.trim().split(/\s+/)[0] ?? "";
}

/**
 * An OpenSSH public host key line, `type base64 [comment]`, whose base64 blob
 * really encodes a key of that type (the blob starts with the type string).
 */
export function isHostKey(v: string): boolean {
    const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/.exec(v.trim());
    if (!m || !HOST_KEY_TYPES.includes(m[1])) return false;
    const blob = Buffer.from(m[2], "base64");
    if (blob.length < 4) return false;
    const len = blob.readUInt32BE(0);
    return blob.subarray(4, 4 + len).toString("latin1") === m[1];
}

export function isPrivateKey(v: string): boolean {
    return /^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----\n[\s\S]+\n-----END \1 PRIVATE KEY-----\s*$/.test(v);
}

/** Git revisions that can never move: a full commit sha or a tag. */
export function isImmutableRevision(v: string): boolean {
    return /^[0-9a-f]{40}$/.test(v) || v.startsWith("refs/tags/") || /^v?\d+(\.\d+)*([-.+][0-9A-Za-z.-]+)?$/.test(v);
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const RESERVED_ENV = new Set([
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY_BASE",
    "RAILS_ENV",
    "RACK_ENV",
    "PORT",
    "REVISION",
]);
const APT_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

const show = (v: unknown) => JSON.stringify(v);

function str(check: (v: string) => boolean, what: string) {
    return z
        .string({ error: "must be a string" })
        .refine(check, { error: (iss) => `${show(iss.input)} is not ${what}` });
}

const hostname = () => str(isHostname, "a valid host name");
const port = () =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((p) => p >= 1 && p <= 65535, { error: (iss) => `${show(iss.input)} is out of range (1-65535)` });
const positiveInt = (max: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((n) => n >= 1 && n <= max, { error: (iss) => `${show(iss.input)} is out of range (1-${max})` });
const image = () => str((v) => IMAGE.test(v), "a valid image reference");
const rotation = () => z.union([z.string(), z.number()], { error: "must be a string or number" }).transform(String);
const envMap = (secret: boolean) =>
    z.record(
        z.string().refine((k) => ENV_NAME.test(k) && !RESERVED_ENV.has(k), {
            error: (iss) =>
                RESERVED_ENV.has(String(iss.input))
                    ? `${show(iss.input)} is set by berth and cannot be overridden`
                    : `${show(iss.input)} is not a valid environment variable name (A-Z, 0-9, _)`,
        }),
        z
            .string({ error: "must be a string" })
            .refine((v) => !v.includes("\n"), {
                error: (iss) => (secret ? "must be a single line" : `${show(iss.input)} must be a single line`),
            }),
        { error: "must be an object of NAME: value" },
    );

const PostgresSchema = z
    .object({
        image: image().default("postgres:16.4"),
        role: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid role name (a-z, 0-9, _)").optional(),
        database: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid database name (a-z, 0-9, _)").optional(),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

const RedisSchema = z
    .object({
        image: image().default("redis:7.4.1"),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

const CloudflareSchema = z
    .object({
        zoneId: str((v) => /^[0-9a-f]{32}$/.test(v), "a Cloudflare zone id (32 hex characters)").optional(),
        zone: hostname().optional(),
        proxied: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

const NginxSchema = z
    .object({
        clientMaxBodySize: str((v) => /^\d+[kKmMgG]?$/.test(v), "an nginx size (e.g. 10m)").default("10m"),
        proxyTimeout: positiveInt(3600).default(60),
        hsts: z.boolean({ error: "must be true or false" }).optional(),
    }, { error: "must be an object" })
    .strict();

const AcmeSchema = z
    .object({
        email: str((v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v), "an e-mail address").optional(),
        server: str((v) => /^https:\/\/[^\s'"]+$/.test(v), "an https:// ACME directory URL").optional(),
        caBundle: str((v) => /-----BEGIN CERTIFICATE-----/.test(v), "a PEM certificate bundle").optional(),
    }, { error: "must be an object" })
    .strict();

/**
 * A restic SFTP repository URL, `sftp:user@host:/path` or
 * `sftp://user@host[:port]//path` (restic's two spellings), split into its
 * parts; undefined when it is neither.
 */
export function parseSftpRepository(v: string): { user: string; host: string; port: number; path: string } | undefined {
    const short = /^sftp:([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9.-]+):(\/[A-Za-z0-9._\/-]*)$/.exec(v);
    if (short) return { user: short[1], host: short[2], port: 22, path: short[3] };
    const long = /^sftp:\/\/([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9.-]+)(?::(\d{1,5}))?\/(\/?[A-Za-z0-9._\/-]+)$/.exec(v);
    if (!long) return undefined;
    const port = long[3] === undefined ? 22 : Number(long[3]);
    if (port < 1 || port > 65535) return undefined;
    return { user: long[1], host: long[2], port, path: long[4] };
}

/** A systemd calendar expression (OnCalendar=, systemd.time(7)) of the plain characters it uses. */
export function isCalendarSpec(v: string): boolean {
    return /^[A-Za-z0-9*:,.\/~ +-]{1,100}$/.test(v) && v.trim() === v;
}

const keep = (max: number, def: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .min(0, { error: "must be 0 or more" })
        .max(max, { error: `must be at most ${max}` })
        .default(def);

const BackupSchema = z
    .object({
        repository: str((v) => parseSftpRepository(v) !== undefined, "a restic SFTP repository (sftp:user@host:/path or sftp://user@host:port//path)"),
        hostKey: str(isHostKey, "the SFTP server's SSH public host key (e.g. \"ssh-ed25519 AAAA...\")"),
        privateKey: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }),
        password: z
            .string({ error: "must be a string" })
            .refine((v) => v.length >= 16 && !/[\n\r]/.test(v), { error: "must be a single line of at least 16 characters" }),
        schedule: str(isCalendarSpec, "a systemd calendar expression (e.g. \"*-*-* 03:15:00\")").default("*-*-* 03:15:00"),
        restoreTestSchedule: str(isCalendarSpec, "a systemd calendar expression (e.g. \"Sun *-*-* 04:30:00\")").default("Sun *-*-* 04:30:00"),
        retention: z
            .object({ daily: keep(3650, 7), weekly: keep(520, 4), monthly: keep(240, 6) }, { error: "must be an object" })
            .strict()
            .default({ daily: 7, weekly: 4, monthly: 6 }),
        redis: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

const RawSchema = z
    .object({
        app: str((v) => /^[a-z][a-z0-9-]{0,19}$/.test(v) && !v.endsWith("-"), "a valid app name (a-z, 0-9, -, at most 20 characters)"),
        production: z.boolean({ error: "must be true or false" }).optional(),
        protect: z.boolean({ error: "must be true or false" }).optional(),
        host: str((v) => net.isIPv4(v), "a valid IPv4 address"),
        hostIpv6: str((v) => net.isIPv6(v), "a valid IPv6 address").optional(),
        sshUser: str((v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), "a valid user name").default("root"),
        sshPort: port().default(22),
        hostKey: str(isHostKey, "an SSH public host key (e.g. \"ssh-ed25519 AAAA...\")").optional(),
        privateKey: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }).optional(),
        sshAgent: z.boolean({ error: "must be true or false" }).default(false),
        domain: hostname(),
        extraHostnames: z.array(hostname(), { error: "must be a list of host names" }).default([]),
        dns: z.boolean({ error: "must be true or false" }).default(true),
        cloudflare: CloudflareSchema.default({ proxied: false }),
        packages: z.array(str((v) => APT_PACKAGE.test(v), "a valid Debian package name"), { error: "must be a list of package names" }).default([]),
        postgres: PostgresSchema.default({ image: "postgres:16.4", passwordRotation: "1" }),
        redis: RedisSchema.default({ image: "redis:7.4.1", passwordRotation: "1" }),
        portBase: z
            .number({ error: "must be an integer" })
            .int({ error: "must be an integer" })
            .refine((p) => p === 0 || (p >= 1024 && p <= 65500), { error: (iss) => `${show(iss.input)} is out of range (1024-65500, or 0 to derive)` })
            .default(0),
        env: envMap(false).default({}),
        secretEnv: envMap(true).default({}),
        repository: str((v) => /^(ssh:\/\/[^\s'"]+|[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:[^\s'"]+|https:\/\/[^\s'"]+|file:\/\/\/[^\s'"]+)$/.test(v), "a git URL (ssh://, user@host:path, https:// or file:///)"),
        repositoryHostKey: str(isHostKey, "an SSH public host key").optional(),
        deployKey: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }).optional(),
        revision: str((v) => /^[A-Za-z0-9][A-Za-z0-9._\/-]{0,199}$/.test(v) && !v.includes(".."), "a valid git revision").default("main"),
        preset: z.enum(["rails", "generic"], { error: (iss) => `${show(iss.input)} is not a preset (rails or generic)` }).default("rails"),
        bundler: z.enum(["deployment", "system"], { error: (iss) => `${show(iss.input)} is not a bundler mode (deployment or system)` }).default("deployment"),
        buildCommand: z.string({ error: "must be a string" }).optional(),
        releaseCommand: z.string({ error: "must be a string" }).optional(),
        webCommand: z.string({ error: "must be a string" }).optional(),
        workerCommand: z.string({ error: "must be a string" }).optional(),
        keepReleases: positiveInt(50).default(5),
        healthPath: str((v) => /^\/[A-Za-z0-9._~\/-]*$/.test(v), "a URL path starting with /").default("/up"),
        healthTimeout: positiveInt(3600).default(60),
        drainSeconds: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" }).max(3600, { error: "must be at most 3600" }).default(0),
        rollbackWindow: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" }).max(86400, { error: "must be at most 86400" }).default(300),
        nginx: NginxSchema.default({ clientMaxBodySize: "10m", proxyTimeout: 60 }),
        acme: AcmeSchema.default({}),
        backup: BackupSchema.optional(),
        maintenance: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

type Raw = z.infer<typeof RawSchema>;

// ---------------------------------------------------------------------------
// The typed result
// ---------------------------------------------------------------------------

export interface HostConfig {
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
    readonly host: HostConfig;
    readonly domain: string;
    readonly extraHostnames: readonly string[];
    /** Domain first, then the extra names. */
    readonly hostnames: readonly string[];
    readonly dns: { readonly enabled: boolean; readonly zoneId?: string; readonly zone?: string; readonly proxied: boolean };
    readonly packages: readonly string[];
    readonly postgres: { readonly image: string; readonly role: string; readonly database: string; readonly port: number; readonly passwordRotation: string };
    readonly redis: { readonly image: string; readonly port: number; readonly passwordRotation: string };
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
    readonly acme: { readonly email?: string; readonly server: string; readonly caBundle?: string; readonly staging: boolean };
    /** `berth:backup` (secret object): encrypted off-host backups with restic; undefined = no backups. */
    readonly backup?: BackupConfig;
    /** `berth:maintenance`: nginx answers 503 with the maintenance page (every path but ACME challenges). */
    readonly maintenance: boolean;
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
}

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

/** Decodes Pulumi's string config values by the key's declared kind. */
function decode(key: string, value: string): unknown {
    if (STRUCTURED_KEYS.has(key)) {
        try {
            return JSON.parse(value);
        } catch {
            return value;
        }
    }
    if (INTEGER_KEYS.has(key)) return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (BOOLEAN_KEYS.has(key)) return value === "true" ? true : value === "false" ? false : value;
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

function build(raw: Raw, ctx: ParseContext, errors: string[]): BerthConfig {
    const production = raw.production === true || ctx.stack === "production";
    if (production && !raw.hostKey) {
        errors.push(`${NAMESPACE}:hostKey: required on a production stack (pin the host key: ssh-keyscan -t ed25519 ${raw.host})`);
    }
    if (raw.hostKey && UNPINNABLE_HOST_KEY_TYPES.includes(hostKeyType(raw.hostKey))) {
        errors.push(
            `${NAMESPACE}:hostKey: ${show(truncateKey(raw.hostKey))} is an ${hostKeyType(raw.hostKey)} key, which berth's SSH client would verify with SHA-1 signatures that OpenSSH >= 8.8 refuses; pin the host's ed25519 key (ssh-keyscan -t ed25519 ${raw.host})`,
        );
    }
    if (raw.repositoryHostKey && UNPINNABLE_GIT_HOST_KEY_TYPES.includes(hostKeyType(raw.repositoryHostKey))) {
        const ep = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(raw.repository)?.[1] ?? /^[A-Za-z0-9._-]+@([A-Za-z0-9._-]+):/.exec(raw.repository)?.[1] ?? "<git host>";
        errors.push(
            `${NAMESPACE}:repositoryHostKey: ${show(truncateKey(raw.repositoryHostKey))} is an ssh-dss (DSA) key, which OpenSSH no longer accepts; pin the git server's ed25519 key (ssh-keyscan -t ed25519 ${ep})`,
        );
    }
    if (!raw.privateKey && !raw.sshAgent) {
        errors.push(`${NAMESPACE}:privateKey: required unless berth:sshAgent is true`);
    }
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
    if (raw.preset === "generic" && !raw.webCommand) {
        errors.push(`${NAMESPACE}:webCommand: required with the generic preset`);
    }
    if (raw.backup && raw.backup.retention.daily + raw.backup.retention.weekly + raw.backup.retention.monthly === 0) {
        errors.push(`${NAMESPACE}:backup.retention: keeps nothing; set at least one of daily, weekly, monthly`);
    }
    for (const k of Object.keys(raw.secretEnv)) {
        if (k in raw.env) errors.push(`${NAMESPACE}:secretEnv.${k}: also set in berth:env; set it in one place`);
    }

    let names: Names;
    try {
        names = deriveNames(raw.app, ctx.stack);
    } catch (e) {
        errors.push(`${NAMESPACE}:app: ${(e as Error).message}`);
        names = deriveNames("x", "x");
    }
    const ports = derivePorts(raw.app, ctx.stack, {
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

    const acmeStaging = raw.acme.server ? false : !production;
    return {
        project: ctx.project,
        stack: ctx.stack,
        app: raw.app,
        production,
        protect: raw.protect ?? production,
        names,
        ports,
        host: {
            address: raw.host,
            ipv6: raw.hostIpv6,
            sshUser: raw.sshUser,
            sshPort: raw.sshPort,
            hostKey: raw.hostKey?.trim().split(" ").slice(0, 2).join(" "),
            privateKey: raw.privateKey,
            sshAgent: raw.sshAgent,
            sudo: raw.sshUser !== "root",
        },
        domain: raw.domain,
        extraHostnames: raw.extraHostnames,
        hostnames,
        dns: { enabled: raw.dns, zoneId: raw.cloudflare.zoneId, zone: raw.cloudflare.zone, proxied: raw.cloudflare.proxied },
        packages: raw.packages,
        postgres: {
            image: raw.postgres.image,
            role: raw.postgres.role ?? names.dbIdentifier,
            database: raw.postgres.database ?? names.dbIdentifier,
            port: ports.postgres,
            passwordRotation: raw.postgres.passwordRotation,
        },
        redis: { image: raw.redis.image, port: ports.redis, passwordRotation: raw.redis.passwordRotation },
        env: raw.env,
        secretEnv: raw.secretEnv,
        release: {
            repository: raw.repository,
            repositoryHostKey: raw.repositoryHostKey?.trim().split(" ").slice(0, 2).join(" "),
            deployKey: raw.deployKey,
            revision: raw.revision,
            revisionIsImmutable,
            preset: raw.preset,
            bundler: raw.bundler,
            buildCommand: raw.buildCommand,
            releaseCommand: raw.releaseCommand,
            webCommand: raw.webCommand ?? "bundle exec puma -C config/puma.rb",
            workerCommand: raw.workerCommand,
            keepReleases: raw.keepReleases,
            healthPath: raw.healthPath,
            healthTimeout: raw.healthTimeout,
            drainSeconds: raw.drainSeconds || raw.nginx.proxyTimeout,
            rollbackWindow: raw.rollbackWindow,
        },
        nginx: { clientMaxBodySize: raw.nginx.clientMaxBodySize, proxyTimeout: raw.nginx.proxyTimeout, hsts: raw.nginx.hsts ?? production },
        acme: {
            email: raw.acme.email,
            server: raw.acme.server ?? (production ? LETSENCRYPT : LETSENCRYPT_STAGING),
            caBundle: raw.acme.caBundle,
            staging: acmeStaging,
        },
        backup: raw.backup && {
            ...raw.backup,
            sftp: parseSftpRepository(raw.backup.repository)!,
            hostKey: raw.backup.hostKey.trim().split(/\s+/).slice(0, 2).join(" "),
            retention: { ...raw.backup.retention },
        },
        maintenance: raw.maintenance,
    };
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
    if (!result.config.host.hostKey) {
        pulumi.log.warn(`${NAMESPACE}:hostKey is not set: SSH connections to ${result.config.host.address} accept any host key. Pin it: pulumi config set hostKey "$(ssh-keyscan -t ed25519 ${result.config.host.address} | cut -d' ' -f2-)"`);
    }
    return result.config;
}

/**
 * zod building blocks of the configuration schema: value schemas with
 * berth's error messages, and the schemas of the object-valued keys. The
 * top-level keys themselves are declared in lib/config/keys.ts.
 */
import * as net from "node:net";
import { z } from "zod";
import { APT_PACKAGE, ENV_NAME, IMAGE, isCalendarSpec, isHostKey, isHostname, isPrivateKey, parseSftpRepository, RESERVED_ENV, ROLES, SECRET_ONLY_ENV } from "./checks";

export const show = (v: unknown) => JSON.stringify(v);

export function str(check: (v: string) => boolean, what: string) {
    return z
        .string({ error: "must be a string" })
        .refine(check, { error: (iss) => `${show(iss.input)} is not ${what}` });
}

export const hostname = () => str(isHostname, "a valid host name");
export const port = () =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((p) => p >= 1 && p <= 65535, { error: (iss) => `${show(iss.input)} is out of range (1-65535)` });
export const positiveInt = (max: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((n) => n >= 1 && n <= max, { error: (iss) => `${show(iss.input)} is out of range (1-${max})` });
export const image = () => str((v) => IMAGE.test(v), "a valid image reference");
export const rotation = () => z.union([z.string(), z.number()], { error: "must be a string or number" }).transform(String);
export const envMap = (secret: boolean) =>
    z.record(
        z.string().refine((k) => ENV_NAME.test(k) && !RESERVED_ENV.has(k) && (secret || !SECRET_ONLY_ENV.has(k)), {
            error: (iss) =>
                RESERVED_ENV.has(String(iss.input))
                    ? `${show(iss.input)} is set by berth and cannot be overridden`
                    : SECRET_ONLY_ENV.has(String(iss.input))
                      ? `${show(iss.input)} is a secret and cannot be plain config: use pulumi config set --secret --path secretEnv.${String(iss.input)}`
                      : `${show(iss.input)} is not a valid environment variable name (A-Z, 0-9, _)`,
        }),
        z
            .string({ error: "must be a string" })
            .refine((v) => !v.includes("\n"), {
                error: (iss) => (secret ? "must be a single line" : `${show(iss.input)} must be a single line`),
            }),
        { error: "must be an object of NAME: value" },
    );

export const PostgresSchema = z
    .object({
        image: image().default("postgres:16.4"),
        role: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid role name (a-z, 0-9, _)").optional(),
        database: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid database name (a-z, 0-9, _)").optional(),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

export const RedisSchema = z
    .object({
        image: image().default("redis:7.4.1"),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

export const CloudflareSchema = z
    .object({
        zoneId: str((v) => /^[0-9a-f]{32}$/.test(v), "a Cloudflare zone id (32 hex characters)").optional(),
        zone: hostname().optional(),
        proxied: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

export const NginxSchema = z
    .object({
        clientMaxBodySize: str((v) => /^\d+[kKmMgG]?$/.test(v), "an nginx size (e.g. 10m)").default("10m"),
        proxyTimeout: positiveInt(3600).default(60),
        hsts: z.boolean({ error: "must be true or false" }).optional(),
    }, { error: "must be an object" })
    .strict();

export const AcmeSchema = z
    .object({
        challenge: z.enum(["http-01", "dns-01"], { error: (iss) => `${show(iss.input)} is not a challenge type (http-01 or dns-01)` }).optional(),
        email: str((v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v), "an e-mail address").optional(),
        server: str((v) => /^https:\/\/[^\s'"]+$/.test(v), "an https:// ACME directory URL").optional(),
        caBundle: str((v) => /-----BEGIN CERTIFICATE-----/.test(v), "a PEM certificate bundle").optional(),
    }, { error: "must be an object" })
    .strict();

export const keep = (max: number, def: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .min(0, { error: "must be 0 or more" })
        .max(max, { error: `must be at most ${max}` })
        .default(def);

export const BackupSchema = z
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
        storage: z.boolean({ error: "must be true or false" }).optional(),
    }, { error: "must be an object" })
    .strict();

/** `berth:databases`: the app's databases beyond the primary (Rails multi-db: queue, cache, cable). */
export const DatabasesSchema = z
    .array(str((v) => /^[a-z][a-z0-9_]{0,19}$/.test(v) && v !== "primary", "a database name of database.yml (a-z, 0-9, _; at most 20; not primary)"), { error: "must be a list of names" })
    .refine((l) => new Set(l).size === l.length, { error: "lists a name twice" });

export const HostSchema = z
    .object({
        name: str((v) => /^[a-z][a-z0-9-]{0,14}$/.test(v) && !v.endsWith("-"), "a host name for berth (a-z, 0-9, -, at most 15 characters)"),
        address: str((v) => net.isIPv4(v), "a valid IPv4 address"),
        ipv6: str((v) => net.isIPv6(v), "a valid IPv6 address").optional(),
        hostKey: str(isHostKey, "an SSH public host key (e.g. \"ssh-ed25519 AAAA...\")").optional(),
        roles: z
            .array(z.enum(ROLES, { error: (iss) => `${show(iss.input)} is not a role (web, worker or data)` }), { error: "must be a list of roles" })
            .min(1, { error: "must name at least one role (web, worker, data)" }),
        privateAddress: str((v) => net.isIPv4(v), "a valid IPv4 address").optional(),
    }, { error: "must be an object" })
    .strict();

export const MeshSchema = z
    .object({
        cidr: str((v) => /^10\.(\d{1,3})\.(\d{1,3})\.0\/24$/.test(v) && v.split(/[./]/).slice(1, 3).every((o) => Number(o) <= 255), "a 10.x.y.0/24 network").optional(),
        port: port().optional(),
    }, { error: "must be an object" })
    .strict();

export const dbUrl = (scheme: string) =>
    z.string({ error: "must be a string" }).refine((v) => new RegExp(`^${scheme}s?://[^\\s'"]+$`).test(v), { error: `is not a ${scheme}:// URL` });

export const ExternalDataSchema = z
    .object({
        postgresUrl: dbUrl("postgres").optional(),
        postgresAdminUrl: dbUrl("postgres").optional(),
        redisUrl: dbUrl("redis").optional(),
    }, { error: "must be an object" })
    .strict();

export const Dns01Schema = z
    .object({
        cloudflareApiToken: z.string({ error: "must be a string" }).refine((v) => /^[A-Za-z0-9_-]{20,}$/.test(v), { error: "is not a Cloudflare API token" }).optional(),
        authHook: z.string({ error: "must be a string" }).refine((v) => v.trim() !== "" && !v.includes("\n"), { error: "must be one line of shell" }).optional(),
        cleanupHook: z.string({ error: "must be a string" }).refine((v) => v.trim() !== "" && !v.includes("\n"), { error: "must be one line of shell" }).optional(),
    }, { error: "must be an object" })
    .strict();

// ---------------------------------------------------------------------------
// Process types, schedules, accessories (issue 18)

/** A name that becomes part of unit, container and volume names: a-z, 0-9, -, at most 20 characters. */
const nameKey = (what: string, reserved: ReadonlySet<string>) =>
    z.string().refine((k) => /^[a-z][a-z0-9-]{0,19}$/.test(k) && !k.endsWith("-") && !reserved.has(k), {
        error: (iss) =>
            reserved.has(String(iss.input))
                ? `${show(iss.input)} is a name berth uses itself; choose another ${what} name`
                : `${show(iss.input)} is not a valid ${what} name (a-z, 0-9, -, at most 20 characters)`,
    });

/** One line of shell, never empty. */
export const commandLine = () =>
    z.string({ error: "must be a string" }).refine((v) => v.trim() !== "" && !/[\n\r\0]/.test(v), { error: "must be one line of shell" });

const role = () => z.enum(ROLES, { error: (iss) => `${show(iss.input)} is not a role (web, worker or data)` });
const hostNames = () =>
    z
        .array(z.string({ error: "must be a host name of berth:hosts" }), { error: "must be a list of host names of berth:hosts" })
        .min(1, { error: "must name at least one host" });

/**
 * Unit names a process type may not take: `berth-<app>-<stack>-<name>@` must
 * not be one of berth's own units (web, its socket proxy, backup and restore
 * units, the data firewall, the release's transient units).
 */
export const RESERVED_PROCESS_NAMES: ReadonlySet<string> = new Set(["web", "proxy", "backup", "restore", "restore-test", "data-firewall", "release", "build", "drain"]);

export const ProcessSchema = z
    .object({
        command: commandLine(),
        count: z
            .number({ error: "must be an integer ≥ 0" })
            .int({ error: "must be an integer ≥ 0" })
            .min(0, { error: "must be an integer ≥ 0" })
            .max(32, { error: "must be at most 32" })
            .default(1),
        role: role().optional(),
        hosts: hostNames().optional(),
    }, { error: "must be an object" })
    .strict();

/** `berth:processes`: name -> process type (`worker: {command: bundle exec sidekiq}`). */
export const ProcessesSchema = z.record(nameKey("process", RESERVED_PROCESS_NAMES), ProcessSchema, { error: "must be an object of name: {command, count, role or hosts}" });

export const ScheduleSchema = z
    .object({
        command: commandLine(),
        schedule: str(isCalendarSpec, 'a systemd calendar expression (e.g. "*-*-* 03:15:00", "Mon..Fri 08:00", "hourly"; systemd.time(7))'),
        timeout: positiveInt(86400).default(3600),
    }, { error: "must be an object" })
    .strict();

/** `berth:schedules`: name -> job (`report: {command: "bin/rails runner Report.mail", schedule: "Mon 07:00"}`). */
export const SchedulesSchema = z.record(nameKey("schedule", new Set()), ScheduleSchema, { error: "must be an object of name: {command, schedule, timeout}" });

/** Accessory names taken by berth's own containers and volumes (`<app>-<stack>-net`, `-pgdata`, ...). */
export const RESERVED_ACCESSORY_NAMES: ReadonlySet<string> = new Set(["postgres", "redis", "net", "pgdata", "redisdata"]);

/** Docker volumes are `<app>-<stack>-<volume>`: Postgres's and Redis's names are taken. */
const RESERVED_VOLUME_NAMES: ReadonlySet<string> = new Set(["pgdata", "redisdata", "net", "postgres", "redis"]);

const containerPath = () => str((v) => /^\/[A-Za-z0-9._\/-]*$/.test(v) && !v.split("/").includes(".."), "an absolute path in the container");

/**
 * One accessory: a container on the private data path (published on
 * loopback, or on the data host's private address for the stack's other
 * hosts), never on a public address.
 *
 * Postgres and Redis are meant to become the first two entries of this same
 * mechanism (their keys `berth:postgres` / `berth:redis` keep working and are
 * read into these entries):
 *
 *     postgres: { image: "postgres:16.4", port: 5432, role: "data",
 *                 volumes: { pgdata: "/var/lib/postgresql/data" },
 *                 password: { env: "POSTGRES_PASSWORD", user: "<app>_<stack>", rotation: "1" },
 *                 env: { POSTGRES_USER: "<app>_<stack>", POSTGRES_DB: "<app>_<stack>" },
 *                 health: "pg_isready -U <app>_<stack>",
 *                 urlEnv: "DATABASE_URL", urlScheme: "postgres", urlPath: "/<app>_<stack>" }
 *     redis:    { image: "redis:7.4.1", port: 6379, role: "data",
 *                 volumes: { redisdata: "/data" },
 *                 password: { env: "REDIS_PASSWORD", rotation: "1" },
 *                 command: "redis-server /usr/local/etc/redis/redis.conf",
 *                 health: "redis-cli ping",
 *                 urlEnv: "REDIS_URL", urlScheme: "redis", urlPath: "/0" }
 *
 * (their volume names are today's `<app>-<stack>-pgdata` / `-redisdata`, so
 * the containers and volumes are adopted, not replaced; the names are
 * reserved for that). What Postgres has beyond an accessory — the app role
 * made by PostgresRole, backups — stays in its own components.
 */
export const AccessorySchema = z
    .object({
        /** A pulled image (`getmeili/meilisearch:v1.10`); or `build`. */
        image: image().optional(),
        /** A local image: Debian's packages on Debian's slim image, then `command` (a RUN line), built on the host. */
        build: z
            .object({
                /** The Debian image the build starts FROM (default debian:trixie-slim); it must be on the host or pullable there. */
                from: image().optional(),
                debianPackages: z
                    .array(str((v) => APT_PACKAGE.test(v), "a valid Debian package name"), { error: "must be a list of package names" })
                    .min(1, { error: "must list at least one package" }),
                command: commandLine().optional(),
            }, { error: "must be an object" })
            .strict()
            .optional(),
        /** What the container runs (required with `build`; else the image's own). */
        command: commandLine().optional(),
        env: envMap(false).default({}),
        /** Names in `berth:secretEnv` the container also gets (same name). */
        secretEnv: z.array(z.string({ error: "must be a name in berth:secretEnv" }), { error: "must be a list of names in berth:secretEnv" }).default([]),
        /** A password berth generates: in the container's `env` variable and the URL's userinfo (`user`). */
        password: z
            .object({
                env: str((v) => ENV_NAME.test(v), "a valid environment variable name (A-Z, 0-9, _)"),
                user: str((v) => /^[A-Za-z0-9_.-]{1,63}$/.test(v), "a valid user name").optional(),
                rotation: rotation().default("1"),
            }, { error: "must be an object" })
            .strict()
            .optional(),
        /** Docker volume name (`<app>-<stack>-<name>`) -> path in the container. */
        volumes: z.record(nameKey("volume", RESERVED_VOLUME_NAMES), containerPath(), { error: "must be an object of name: /container/path" }).default({}),
        /** The port the service listens on inside the container. */
        port: port(),
        /** The host port it is published on; default derived from its name (lib/ports.ts). */
        hostPort: port().optional(),
        /** A command run inside the container; exit 0 = healthy. */
        health: commandLine().optional(),
        role: role().optional(),
        hosts: hostNames().optional(),
        /** The app's environment variable holding the accessory's URL. */
        urlEnv: str((v) => ENV_NAME.test(v) && !RESERVED_ENV.has(v), "a valid environment variable name berth does not set (A-Z, 0-9, _)"),
        urlScheme: str((v) => /^[a-z][a-z0-9+.-]{0,19}$/.test(v), "a URL scheme (e.g. http, memcached)").default("http"),
        urlPath: str((v) => /^\/[A-Za-z0-9._~\/-]*$/.test(v), "a URL path starting with /").optional(),
    }, { error: "must be an object" })
    .strict();

/** `berth:accessories`: name -> container service. */
export const AccessoriesSchema = z.record(nameKey("accessory", RESERVED_ACCESSORY_NAMES), AccessorySchema, { error: "must be an object of name: {image or build, port, urlEnv, ...}" });

/** A positive number of minutes (fractions allowed: 0.5 = 30 s), at most `max`. */
export const minutes = (max: number, def: number) =>
    z
        .number({ error: "must be a number of minutes" })
        .refine((n) => n >= 0.25 && n <= max, { error: (iss) => `${show(iss.input)} is out of range (0.25-${max} minutes)` })
        .default(def);

/** A webhook URL: http(s), no whitespace, quotes or backslashes (it goes into curl's config file on the host). */
const WEBHOOK_URL = /^https?:\/\/[^\s"'\\`$]+$/;

/** `berth:alerts` (secret: the webhook URLs carry their own credentials). */
export const AlertsSchema = z
    .object(
        {
            webhooks: z
                .array(
                    z
                        .object(
                            {
                                url: z.string({ error: "must be a string" }).refine((v) => WEBHOOK_URL.test(v), { error: "is not an http(s) URL without spaces or quotes" }),
                                format: z.enum(["slack", "json"], { error: (iss) => `${show(iss.input)} is not a format (slack or json)` }).default("slack"),
                            },
                            { error: "must be an object {url, format}" },
                        )
                        .strict(),
                    { error: "must be a list of {url, format}" },
                )
                .min(1, { error: "must list at least one webhook" }),
            healthFailMinutes: minutes(1440, 3),
            diskPercent: positiveInt(99).default(90),
            diskPaths: z.array(str((v) => /^\/[A-Za-z0-9._\/-]*$/.test(v), "an absolute path"), { error: "must be a list of paths" }).min(1, { error: "must list at least one path" }).default(["/"]),
            certDays: positiveInt(365).default(14),
            checkSeconds: z
                .number({ error: "must be an integer" })
                .int({ error: "must be an integer" })
                .refine((n) => n >= 5 && n <= 300, { error: (iss) => `${show(iss.input)} is out of range (5-300)` })
                .default(30),
        },
        { error: "must be an object" },
    )
    .strict();

/** `berth:autoRollback`: the host switches back when health fails for `failMinutes` within `afterReleaseMinutes` of a switch. */
export const AutoRollbackSchema = z
    .object({ afterReleaseMinutes: minutes(1440, 10), failMinutes: minutes(1440, 2) }, { error: "must be an object" })
    .strict();

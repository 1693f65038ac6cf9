/**
 * Every top-level `berth:*` key, declared once: its zod schema and its
 * documentation. `RawSchema` (what parseConfig validates) is built from this
 * table, and `npm run config:docs -- --write` (scripts/config-docs.ts)
 * renders the README "Configuration reference" table and the `config:`
 * section of Pulumi.yaml from it; a unit test fails when either file is not
 * what this table renders.
 *
 * Adding a key: add an entry here (its place in the table is its row in the
 * README and in Pulumi.yaml), run `npm run config:docs -- --write`, then use
 * it in `build` (lib/config.ts).
 *
 * What is derived from the schema, so not written here:
 * - README type: string (also enums), integer, boolean, list (of strings),
 *   list of objects, object (also NAME: value maps); `secret` prefixes it.
 * - README default: "required" when the schema has neither `.optional()` nor
 *   `.default()`; the `.default()` value (objects: "—"); an optional key
 *   declared in Pulumi.yaml shows its Pulumi default (""), else "—".
 * - Pulumi.yaml type (string, integer, boolean, array of strings) and default:
 *   the `.default()` value; "" (unset) for an optional string; none for a
 *   required key. Object-valued and secret keys are not declared there (no
 *   object type; a declared secret could not be optional): they are listed
 *   in its header comment with their fields.
 */
import * as net from "node:net";
import { z } from "zod";
import { APT_PACKAGE, isHostKey, isPrivateKey } from "./checks";
import { FrontendSchema } from "./frontend";
import {
    AccessoriesSchema,
    AcmeSchema,
    AlertsSchema,
    AutoRollbackSchema,
    BackupSchema,
    CloudflareSchema,
    DatabasesSchema,
    Dns01Schema,
    envMap,
    ExternalDataSchema,
    HostSchema,
    hostname,
    MeshSchema,
    NginxSchema,
    port,
    positiveInt,
    PostgresSchema,
    ProcessesSchema,
    RedisSchema,
    SchedulesSchema,
    show,
    str,
} from "./schemas";
import { ReviewSchema } from "./review";

/** A Pulumi.yaml default: what `pulumi config` hands the program when the stack file does not set the key. */
export type PulumiDefault = string | number | boolean | readonly string[];

export interface KeyDecl {
    /** Validates the value (decoded from Pulumi's string by its kind, see keyKind). */
    readonly schema: z.ZodType;
    /** README "meaning" column (markdown; `|` is escaped when rendered). */
    readonly meaning: string;
    /** The value must be a Pulumi secret (`pulumi config set --secret`); never declared in Pulumi.yaml. */
    readonly secret?: true;
    /** README "type" column, when more precise than the one derived from the schema (e.g. IPv4). */
    readonly type?: string;
    /** README "default" column, when the derived one does not say it (e.g. a default that depends on another key). */
    readonly default?: string;
    /**
     * Pulumi.yaml declaration of a key Pulumi can type (string, integer,
     * boolean, list of strings; not secret): its description, or the
     * description and a default the schema cannot give (an optional boolean).
     */
    readonly pulumi?: string | { readonly description: string; readonly default: PulumiDefault };
    /**
     * For a key Pulumi.yaml does not declare: a note for its header comment.
     * Required when Pulumi could type the key (it says why it is not declared).
     */
    readonly undeclared?: string;
}

function declare<T extends Record<string, KeyDecl>>(keys: T): T {
    return keys;
}

const command = () => z.string({ error: "must be a string" }).optional();

/** The keys, in the order of the README table and of Pulumi.yaml. */
export const KEYS = declare({
    app: {
        schema: str((v) => /^[a-z][a-z0-9-]{0,19}$/.test(v) && !v.endsWith("-"), "a valid app name (a-z, 0-9, -, at most 20 characters)"),
        meaning: "app name (a-z, 0-9, -; ≤ 20); `<app>-<stack>` names everything on the host",
        pulumi: "App name (a-z, 0-9, -; at most 20 characters). With the stack name it names everything on the host.",
    },
    production: {
        schema: z.boolean({ error: "must be true or false" }).optional(),
        default: "false (always true on the stack named `production`)",
        meaning: "protected data, real CA, HSTS, pinned host key and immutable revision required",
        pulumi: {
            description: "Marks a production stack (protected data, real CA, immutable revisions, pinned host key). Always true on the stack named production.",
            default: false,
        },
    },
    host: {
        schema: str((v) => net.isIPv4(v), "a valid IPv4 address").optional(),
        type: "IPv4",
        default: "required (unless `berth:hosts`)",
        meaning: "SSH target and A record",
        pulumi: "IPv4 address of the VPS (SSH target and DNS A record). Empty when the stack lists berth:hosts.",
    },
    hostIpv6: {
        schema: str((v) => net.isIPv6(v), "a valid IPv6 address").optional(),
        type: "IPv6",
        meaning: "adds AAAA records",
        pulumi: "IPv6 address of the VPS; adds AAAA records. Empty for none.",
    },
    hosts: {
        schema: z.array(HostSchema, { error: "must be a list of hosts" }).min(1, { error: "must list at least one host" }).optional(),
        meaning:
            "several hosts instead of `berth:host`/`hostIpv6`/`hostKey`: `name` (a-z, 0-9, -; ≤ 15), `address`, `ipv6`, `hostKey`, `roles` (`web`, `worker`, `data`), `privateAddress` (the provider's private network; on every host or none). See *Several hosts*",
        undeclared: '(several hosts, instead of berth:host/hostIpv6/hostKey; README "Several hosts")',
    },
    mesh: {
        schema: MeshSchema.default({}),
        meaning:
            "WireGuard mesh between the hosts when none has `privateAddress`: `cidr` (a 10.x.y.0/24; default derived from app and stack, in 10.200-249.x.0/24), `port` (UDP; default derived, 51820-52819), so stacks sharing hosts get separate meshes",
        undeclared: "(WireGuard mesh between the hosts)",
    },
    externalData: {
        schema: ExternalDataSchema.optional(),
        secret: true,
        meaning: "no `data` host: `postgresUrl` (the app's URL) or `postgresAdminUrl` (berth manages the app role), and `redisUrl`",
    },
    dns01: {
        schema: Dns01Schema.optional(),
        secret: true,
        meaning: "DNS-01 credentials: `cloudflareApiToken` (Zone.DNS:Edit), or `authHook` + `cleanupHook` (certbot manual hooks, any DNS provider)",
    },
    sshUser: {
        schema: str((v) => /^[a-z_][a-z0-9_-]{0,31}$/.test(v), "a valid user name").default("root"),
        meaning: "non-root users need passwordless sudo (commands run under `sudo -n`)",
        pulumi: "SSH user; a non-root user must have passwordless sudo.",
    },
    sshPort: {
        schema: port().default(22),
        meaning: "SSH port of the host (of every host, with `berth:hosts`)",
        pulumi: "SSH port of the VPS.",
    },
    hostKey: {
        schema: str(isHostKey, 'an SSH public host key (e.g. "ssh-ed25519 AAAA...")').optional(),
        meaning:
            "pinned SSH host key `ssh-ed25519 AAAA...`; required on production. `ssh-rsa`/`ssh-dss` are rejected: the command provider offers only the pinned key's algorithm, so an RSA pin means SHA-1 signatures, which OpenSSH ≥ 8.8 refuses",
        pulumi: 'Pinned SSH host key of the VPS ("ssh-ed25519 AAAA..."). Required on production.',
    },
    privateKey: {
        schema: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }).optional(),
        secret: true,
        meaning: "SSH private key (or set `berth:sshAgent: true`); also used by the Docker provider through `~/.berth/ssh/<project>-<stack>-<host>.key`",
    },
    protect: {
        schema: z.boolean({ error: "must be true or false" }).optional(),
        default: "same as `berth:production`",
        meaning: "Docker containers and network are `protect`ed; set it false for the one `pulumi up` that must replace a data container (see *Day-2*)",
        undeclared:
            "Its default is berth:production, which a declared default cannot express (any default here would override it). true: Docker containers and network are `protect`ed (lib/lifecycle.ts); set false for the one `pulumi up` that must replace a data container.",
    },
    sshAgent: {
        schema: z.boolean({ error: "must be true or false" }).default(false),
        meaning: "authenticate with the SSH agent instead",
        pulumi: "Authenticate with the SSH agent instead of berth:privateKey.",
    },
    domain: {
        schema: hostname(),
        type: "host name",
        meaning: "primary name",
        pulumi: "Primary host name the app is served on.",
    },
    extraHostnames: {
        schema: z.array(hostname(), { error: "must be a list of host names" }).default([]),
        meaning: "more names on the same site and certificate",
        pulumi: "More host names served by the same site (DNS records and certificate names).",
    },
    dns: {
        schema: z.boolean({ error: "must be true or false" }).default(true),
        meaning: "manage Cloudflare records",
        pulumi: "Manage Cloudflare DNS records (needs berth:cloudflare.zoneId or .zone and cloudflare:apiToken).",
    },
    cloudflare: {
        schema: CloudflareSchema.default({ proxied: false }),
        meaning: "`zoneId` (32 hex) or `zone` (name, looked up), `proxied` (false)",
    },
    packages: {
        schema: z.array(str((v) => APT_PACKAGE.test(v), "a valid Debian package name"), { error: "must be a list of package names" }).default([]),
        meaning: "extra Debian packages",
        pulumi: "Extra Debian packages to install on the host.",
    },
    postgres: {
        schema: PostgresSchema.default({ image: "postgres:16.4", passwordRotation: "1" }),
        meaning: '`image` (postgres:16.4), `role`, `database` (`<app>_<stack>`), `port`, `passwordRotation` ("1")',
    },
    database: {
        schema: z.enum(["postgres", "external", "sqlite"], { error: (iss) => `${show(iss.input)} is not a database (postgres, external or sqlite)` }).optional(),
        default: "`postgres` with a data host, else `external`",
        meaning:
            "`postgres` (a container on the data host), `external` (`berth:externalData`) or `sqlite` (files in shared/storage on the one app host; Rails 8's default). See *Databases*",
        pulumi: "postgres (container on the data host), external (berth:externalData) or sqlite (files on the one app host). Empty: postgres with a data host, else external.",
    },
    databases: {
        schema: DatabasesSchema.default([]),
        meaning: "the app's databases beyond the primary (database.yml `queue`, `cache`, `cable`): each gets `<NAME>_DATABASE_URL`, is prepared by `db:prepare`, backed up and restored. See *Databases*",
        pulumi: "The app's databases beyond the primary (e.g. queue, cache, cable): each gets <NAME>_DATABASE_URL, is backed up and restored.",
    },
    redis: {
        schema: RedisSchema.default({ image: "redis:7.4.1", passwordRotation: "1" }),
        meaning: '`image` (redis:7.4.1), `port`, `passwordRotation` ("1")',
    },
    portBase: {
        schema: z
            .number({ error: "must be an integer" })
            .int({ error: "must be an integer" })
            .refine((p) => p === 0 || (p >= 1024 && p <= 65500), { error: (iss) => `${show(iss.input)} is out of range (1024-65500, or 0 to derive)` })
            .default(0),
        meaning: "first of 4 loopback ports (postgres, redis, web blue, web green); 0 derives them from app + stack",
        pulumi: "First of four loopback ports (postgres, redis, web blue, web green). 0 derives it from app + stack.",
    },
    accessories: {
        schema: AccessoriesSchema.default({}),
        meaning:
            "containers beside Postgres and Redis (Meilisearch, memcached...) on the data host, on loopback / the private data path only: `NAME: {image` (pulled) or `build: {from` (debian:trixie-slim), `debianPackages, command}` (built on the host), `command` (run with /bin/sh -c), `env`, `secretEnv` (names in `berth:secretEnv`), `password` (generated: `env`, `user`), `volumes` (name: container path; not backed up), `port` (in the container), `health` (else berth waits for the port), `role` (data) or `hosts`, `urlEnv` (the app's variable, e.g. `MEILI_URL`), `urlScheme` (http), `urlPath}`. Each gets a host port from its name (README *Accessories*)",
        undeclared: "(accessories: NAME: {image or build, port, urlEnv, ...})",
    },
    env: {
        schema: envMap(false).default({}),
        meaning: "plain environment variables of the app",
    },
    secretEnv: {
        schema: envMap(true).default({}),
        secret: true,
        meaning: "secret environment variables (`pulumi config set --secret --path secretEnv.NAME`)",
    },
    repository: {
        schema: str((v) => /^(ssh:\/\/[^\s'"]+|[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:[^\s'"]+|https:\/\/[^\s'"]+|file:\/\/\/[^\s'"]+)$/.test(v), "a git URL (ssh://, user@host:path, https:// or file:///)"),
        type: "git URL",
        meaning: "`ssh://`, `git@host:path`, `https://` or `file:///`",
        pulumi: "Git URL of the app (ssh://, git@host:path, https:// or file:///).",
    },
    repositoryHostKey: {
        schema: str(isHostKey, "an SSH public host key").optional(),
        meaning: "pinned host key of the git server (required for SSH URLs)",
        pulumi: "Pinned SSH host key of the git server (required for SSH repositories).",
    },
    deployKey: {
        schema: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }).optional(),
        secret: true,
        meaning: "deploy key (required for SSH URLs)",
    },
    revision: {
        schema: str((v) => /^[A-Za-z0-9][A-Za-z0-9._\/-]{0,199}$/.test(v) && !v.includes(".."), "a valid git revision").default("main"),
        meaning: "branch, tag or sha; production needs a sha or tag. Branches resolve to a sha where `pulumi` runs (`git ls-remote`)",
        pulumi: "Git revision to release. Production needs a full commit sha or a tag; staging may follow a branch.",
    },
    preset: {
        schema: z.enum(["rails", "generic"], { error: (iss) => `${show(iss.input)} is not a preset (rails or generic)` }).default("rails"),
        meaning: "`rails` or `generic`",
        pulumi: "rails (bundle, assets, db:prepare) or generic (buildCommand, releaseCommand, webCommand).",
    },
    bundler: {
        schema: z.enum(["deployment", "system"], { error: (iss) => `${show(iss.input)} is not a bundler mode (deployment or system)` }).default("deployment"),
        meaning: "Rails gems: `deployment` (shared/bundle, lockfile enforced) or `system` (host gems, e.g. Debian's ruby-* packages, frozen lockfile)",
        pulumi: "Rails preset gems: deployment (bundle install into shared/bundle, lockfile enforced) or system (the host's Ruby gems, e.g. Debian packages; frozen lockfile, --local).",
    },
    buildCommand: {
        schema: command(),
        meaning: "extra build command in the new release directory",
        pulumi: "Extra build command run in the new release directory. Empty for the preset's default.",
    },
    releaseCommand: {
        schema: command(),
        meaning: "replaces the preset's release command (Rails: `bin/rails db:prepare`)",
        pulumi: "Command run once per release before traffic moves. Empty for the preset's default.",
    },
    webCommand: {
        schema: command(),
        meaning: "web process (Rails: `bundle exec puma -C config/puma.rb`); must listen on 127.0.0.1:$PORT",
        pulumi: "Command of the web process; it must listen on 127.0.0.1:$PORT. Empty for the preset's default.",
    },
    webSocket: {
        schema: z.enum(["proxy", "activation"], { error: (iss) => `${show(iss.input)} is not a web socket mode (proxy or activation)` }).optional(),
        default: "`activation` with the Rails preset when `berth:webCommand` is Puma's own CLI (its default), else `proxy`",
        meaning:
            "how nginx's unix socket reaches the web instance: `proxy` (systemd-socket-proxyd to 127.0.0.1:$PORT, any app) or `activation` (systemd hands the socket to the app itself, one hop less; Rails preset: Puma's CLI as `berth:webCommand`, run with `--bind-to-activated-sockets only`; generic: the command must take `LISTEN_FDS` itself)",
        pulumi: "How nginx's socket reaches the web instance: proxy (systemd-socket-proxyd to 127.0.0.1:$PORT) or activation (the app takes systemd's socket itself; Rails: Puma's CLI). Empty for the preset's default.",
    },
    workerCommand: {
        schema: command(),
        meaning: "optional worker process (e.g. `bundle exec sidekiq`)",
        pulumi: "Command of an optional worker process (e.g. bundle exec sidekiq). Empty for none.",
    },
    processes: {
        schema: ProcessesSchema.default({}),
        meaning:
            "long-running process types beside web (Procfile's `worker:`, `jobs:`): `NAME: {command, count (1; instances per host, 0 stops it), role (worker) or hosts}`. `berth:workerCommand` is the process `worker`; set one or the other",
        undeclared: "(process types: NAME: {command, count, role or hosts})",
    },
    schedules: {
        schema: SchedulesSchema.default({}),
        meaning:
            "scheduled jobs, systemd timers in the app's environment, run once per stack (on the release host), never overlapping themselves: `NAME: {command, schedule (systemd calendar expression, e.g. `Mon..Fri 07:00`), timeout (3600 s)}`",
        undeclared: "(scheduled jobs: NAME: {command, schedule, timeout})",
    },
    keepReleases: {
        schema: positiveInt(50).default(5),
        meaning: "releases kept for rollback",
        pulumi: "Number of releases kept on the host for rollback.",
    },
    healthPath: {
        schema: str((v) => /^\/[A-Za-z0-9._~\/-]*$/.test(v), "a URL path starting with /").default("/up"),
        meaning: "must answer 200 before traffic moves",
        pulumi: "Path that must answer 200 before traffic moves to a new release.",
    },
    healthTimeout: {
        schema: positiveInt(3600).default(60),
        meaning: "seconds a new release has to become healthy",
        pulumi: "Seconds a new release has to become healthy.",
    },
    drainSeconds: {
        schema: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" }).max(3600, { error: "must be at most 3600" }).default(0),
        default: "0 (= `berth:nginx.proxyTimeout`)",
        meaning:
            "the longest request the app may serve, in seconds: after a switch the old instance keeps running at least this long, so every request in flight finishes. 0 follows `nginx.proxyTimeout`, the longest nginx waits for the app",
        pulumi: "Longest request the app may serve, in seconds; after a switch the old instance finishes its in-flight requests for at least this long. 0 follows berth:nginx.proxyTimeout.",
    },
    rollbackWindow: {
        schema: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" }).max(86400, { error: "must be at most 86400" }).default(300),
        meaning:
            "seconds the previous release's instance stays up, idle, after a switch (never less than the drain). A rollback inside the window only moves traffic (about 0.1 s on the host). 0 stops it after the drain. Costs one more app process's memory for that long",
        pulumi: "Seconds the previous release's instance stays up, idle, after a switch, so rolling back inside the window only moves traffic (under a second). 0 stops it after the drain.",
    },
    frontend: {
        schema: FrontendSchema.optional(),
        meaning:
            "a static frontend built on the host and published after the backend's soak, see *Frontend and soak*: `build` (one line of shell writing the site into `$OUT`, e.g. `hugo --minify -d \"$OUT\"`), `output` (where the build writes instead, relative to the checkout), `repository` + `revision` (the app's), `mount` (`root`: the frontend at `/`, the app under `appPath`, default `/api`; or one of berth:extraHostnames for the frontend alone), `packages` (Debian packages the build needs, installed with berth:packages), `keepReleases` (3)",
        undeclared: "(static frontend: {build, output, repository, revision, mount, appPath, packages, keepReleases})",
    },
    soakSeconds: {
        schema: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" }).max(3600, { error: "must be at most 3600" }).default(60),
        meaning:
            "with berth:frontend only: seconds the new backend must answer 200 through nginx (HTTPS, every second) without its unit restarting, after the switch and before the frontend is published; a failure rolls the backend back. 0 skips the soak",
        pulumi: "With berth:frontend only: seconds the new backend must stay healthy through nginx, after its switch and before the frontend is published (a failure rolls the backend back). 0 skips it.",
    },
    maintenance: {
        schema: z.boolean({ error: "must be true or false" }).default(false),
        meaning:
            "maintenance mode: nginx answers 503 with the serving release's `public/maintenance.html` (else a plain page) for every HTTPS path; ACME challenges (port 80) are still served. Switch it with `npx berth maintenance on|off -s <stack>` (no release)",
        pulumi: "Maintenance mode. true makes nginx answer 503 with the release's public/maintenance.html (or a plain default page) for every path except ACME challenges; no release needed.",
    },
    backup: {
        schema: BackupSchema.optional(),
        secret: true,
        meaning: "backups, see *Backups*",
    },
    alerts: {
        schema: AlertsSchema.optional(),
        secret: true,
        meaning:
            "the host watches itself and posts to webhooks: `webhooks` (`[{url, format: slack` or `json}]`; the URLs are the secret), `healthFailMinutes` (3), `diskPercent` (90), `diskPaths` ([/]), `certDays` (14), `checkSeconds` (30, the check timer). See *Alerts*",
    },
    autoRollback: {
        schema: AutoRollbackSchema.optional(),
        meaning:
            "opt-in: when the public health path fails for `failMinutes` (2) within `afterReleaseMinutes` (10) of a switch, the host moves traffic back to the kept release (once per release) and alerts; needs `berth:alerts`. See *Automatic rollback*",
        undeclared: "(automatic rollback: afterReleaseMinutes, failMinutes)",
    },
    nginx: {
        schema: NginxSchema.default({ clientMaxBodySize: "10m", proxyTimeout: 60 }),
        meaning: "`clientMaxBodySize` (10m), `proxyTimeout` (60 s), `hsts` (production)",
    },
    acme: {
        schema: AcmeSchema.default({}),
        meaning:
            "`challenge` (`http-01` with one web host, `dns-01` — required — with several), `email`, `server` (Let's Encrypt; staging CA outside production), `caBundle` (PEM of a private ACME CA's TLS root)",
    },
    basicAuth: {
        schema: z
            .record(
                z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: (iss) => `${show(iss.input)} is not a user name (A-Z, a-z, 0-9, . _ -; at most 64)` }),
                z
                    .string({ error: "must be a string (the password)" })
                    .min(12, { error: "must be at least 12 characters" })
                    .max(256, { error: "must be at most 256 characters" })
                    .refine((v) => !/[\r\n]/.test(v), { error: "must be one line" }),
                { error: "must be an object of user names to passwords" },
            )
            .refine((v) => Object.keys(v).length > 0, { error: "must name at least one user" })
            .optional(),
        secret: true,
        meaning:
            "HTTP basic auth in front of the whole HTTPS site (staging and review stacks; refused with `berth:production`): `USER: password` (`pulumi config set --secret --path basicAuth.USER`). The health path stays open; ACME challenges are on port 80",
    },
    review: {
        schema: ReviewSchema.optional(),
        meaning:
            "review apps, on the stack they are copied from (staging): `domain` (each review stack serves `pr-<n>.<domain>`), `max` (3: open review stacks at once), `certificate` (`own`: each review stack requests its own; `wildcard`: this stack's certificate also covers `*.<domain>` over DNS-01 and review stacks serve it). `npx berth review up <n>` writes the rest into a review stack's file: `pr`, `source`, `productionHosts` (README *Review apps*)",
        undeclared: "(review: {domain, max, certificate}; object)",
    },
    reviewSeed: {
        schema: BackupSchema.optional(),
        secret: true,
        meaning: "written by `berth review up` only: the source stack's `berth:backup`, whose latest run seeds the review stack's database",
    },
});

export type KeyName = keyof typeof KEYS;

type Shape<T extends Record<string, KeyDecl>> = { [K in keyof T]: T[K]["schema"] };

/** The schema of all `berth:*` keys (without namespace); unknown keys are errors. */
export const RawSchema = z
    .object(Object.fromEntries(Object.entries(KEYS).map(([k, d]) => [k, d.schema])) as Shape<typeof KEYS>, { error: "must be an object" })
    .strict();

export type Raw = z.infer<typeof RawSchema>;

/** Keys whose values must be Pulumi secrets (`pulumi config set --secret`). */
export const SECRET_KEYS: readonly KeyName[] = (Object.keys(KEYS) as KeyName[]).filter((k) => (KEYS[k] as KeyDecl).secret === true);

/**
 * How Pulumi hands a key's value to the program (always a string) is
 * decoded by the kind of the key's schema: objects, lists and records are
 * JSON, numbers and booleans are parsed; read from RawSchema itself, so a
 * new key is declared in one place.
 */
export function keyKind(key: string): string | undefined {
    const t = (RawSchema.shape as Record<string, z.ZodType | undefined>)[key];
    if (!t) return undefined;
    return schemaKind(t);
}

/** The kind of a schema under its optional/default/nullable wrappers and transforms (string, number, object, ...). */
export function schemaKind(t: z.ZodType): string {
    const d = (t as any)._zod.def;
    if (d.type === "optional" || d.type === "default" || d.type === "nullable") return schemaKind(d.innerType);
    if (d.type === "pipe") return schemaKind(d.in);
    return d.type;
}

/**
 * PostgresRole: the app's login role (CREATEDB, no database: the app's own
 * `db:prepare`/`db:create` makes it), created or updated idempotently inside
 * the Postgres container. The password is random, rotated by changing
 * `berth:postgres.passwordRotation`, and only ever travels on stdin.
 *
 * External Postgres (`berth:externalData.postgresAdminUrl`, a managed
 * database): the same SQL runs through `psql` on the release host, logged in
 * with the admin URL (its password on stdin, the rest as libpq PG*
 * variables), and the app's DATABASE_URL points at the managed server.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, remoteScript } from "../../lib/remote";
import { osAptInstall } from "../../lib/os";
import { cmd, indent, quote, readSecrets, retry, script, secretsPayload } from "../../lib/shell";

/** What the builders read of the configuration: the stack, the host the role is managed from, the Postgres settings. */
export const POSTGRES_ROLE_SCOPE = ["project", "stack", "production", "protect", "names", "host", "postgres"] as const;
export type PostgresRoleScope = Pick<BerthConfig, (typeof POSTGRES_ROLE_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface PostgresRoleArgs extends PostgresRoleScope {
    /** Containers only: the address Postgres listens on and the app connects to (lib/plan.ts: loopback, or the data host's private address). */
    address?: string;
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** The Postgres container (must be healthy before the role is managed). */
    container?: docker.Container;
    /** A managed Postgres instead of the container: its admin URL (secret); the role is managed from this host. */
    external?: { adminUrl: string };
    /** Host steps first (external: the release host's packages). */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class PostgresRole extends pulumi.ComponentResource {
    public readonly roleName: string;
    /** The role's password (secret). */
    public readonly password: pulumi.Output<string>;
    public readonly command: command.remote.Command;
    /** postgres://role:password@<data address>:port/database (secret). */
    public readonly databaseUrl: pulumi.Output<string>;

    constructor(name: string, args: PostgresRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:postgres:PostgresRole", name, {}, opts);
        const cfg: PostgresRoleScope = args;
        this.roleName = cfg.postgres.role;

        const password = new random.RandomPassword(
            `${name}-password`,
            { length: 40, special: false, keepers: { rotation: cfg.postgres.passwordRotation } },
            { parent: this, ...lifecycle(cfg, "password") },
        );
        this.password = password.result;

        const admin = args.external ? parseAdminUrl(args.external.adminUrl) : undefined;
        this.command = remoteScript(
            `${name}-role`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: admin ? externalRoleScript(cfg, admin) : roleScript(cfg),
                delete: admin ? undefined : roleDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
                stdin: password.result.apply((pw) => secretsPayload(admin ? [pw, admin.password] : [pw])),
            },
            { parent: this, dependsOn: [...(args.container ? [args.container] : []), ...(args.dependsOn ?? [])] },
        );

        this.databaseUrl = pulumi.secret(
            admin
                ? pulumi.interpolate`postgres://${cfg.postgres.role}:${password.result}@${urlHost(admin.host)}:${admin.port}/${cfg.postgres.database}${admin.sslmode ? `?sslmode=${admin.sslmode}` : ""}`
                : pulumi.interpolate`postgres://${cfg.postgres.role}:${password.result}@${args.address}:${cfg.postgres.port}/${cfg.postgres.database}`,
        );
        this.registerOutputs({ roleName: this.roleName, databaseUrl: this.databaseUrl });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders
// ---------------------------------------------------------------------------

function psql(cfg: PostgresRoleScope): string {
    return cmd("docker", "exec", "-i", cfg.names.postgresContainer, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres");
}

function waitForPostgres(cfg: PostgresRoleScope): string {
    return retry(60, 2, cmd("docker", "exec", cfg.names.postgresContainer, "pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1"));
}

/**
 * Creates the role when missing, then (always) sets LOGIN CREATEDB and the
 * password from stdin. The password reaches psql as a `\set` line on psql's
 * stdin and is quoted by psql itself (`:'pw'`): never argv, never a file.
 */
export function roleScript(cfg: PostgresRoleScope): string {
    const role = cfg.postgres.role;
    return script(
        readSecrets("ROLE_PASSWORD"),
        `if ! [[ "$ROLE_PASSWORD" =~ ^[A-Za-z0-9]{16,}$ ]]; then echo 'berth: role password must be 16+ alphanumerics' >&2; exit 64; fi`,
        waitForPostgres(cfg),
        "{",
        roleSqlLines(role),
        `} | ${psql(cfg)}`,
        `echo ${quote(`berth: role ${role} is up to date`)}`,
    );
}

/** Outside production only: drops the databases the role owns, then the role. */
export function roleDeleteScript(cfg: PostgresRoleScope): string {
    const role = cfg.postgres.role;
    const c = cfg.names.postgresContainer;
    return script(
        `if [ "$(docker inspect -f '{{.State.Running}}' ${quote(c)} 2>/dev/null)" != true ]; then echo 'berth: postgres container is gone; nothing to drop'; exit 0; fi`,
        "{",
        `  printf '\\\\set role %s\\n' ${quote(role)}`,
        "  cat <<'SQL'",
        "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', d.datname) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = :'role' \\gexec",
        "SELECT format('DROP ROLE IF EXISTS %I', :'role') \\gexec",
        "SQL",
        `} | ${psql(cfg)}`,
    );
}

/** psql input (inside `{ ...; } | psql`) that creates the role when missing and sets LOGIN CREATEDB and the password from $ROLE_PASSWORD. */
function roleSqlLines(role: string): string[] {
    return [
        `  printf '\\\\set pw %s\\n' "$ROLE_PASSWORD"`,
        `  printf '\\\\set role %s\\n' ${quote(role)}`,
        "  cat <<'SQL'",
        "SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec",
        "SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD %L', :'role', :'pw') \\gexec",
        "SQL",
    ];
}

/** The parts of a managed Postgres admin URL berth uses (the password is secret). */
export interface AdminUrl {
    host: string;
    port: number;
    user: string;
    password: string;
    dbname: string;
    sslmode?: string;
}

/** Parses `postgres[ql]://user:password@host[:port]/db[?sslmode=...]`; throws naming the key, never the value. */
export function parseAdminUrl(url: string): AdminUrl {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        throw new Error("berth:externalData.postgresAdminUrl: is not a URL");
    }
    if (!/^postgres(ql)?:$/.test(u.protocol) || !u.hostname || !u.username) {
        throw new Error("berth:externalData.postgresAdminUrl: must be postgres://user:password@host[:port]/database");
    }
    const sslmode = u.searchParams.get("sslmode") ?? undefined;
    if (sslmode !== undefined && !/^(disable|allow|prefer|require|verify-ca|verify-full)$/.test(sslmode)) {
        throw new Error("berth:externalData.postgresAdminUrl: sslmode is not a libpq sslmode");
    }
    return {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port ? Number(u.port) : 5432,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        dbname: decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres",
        sslmode,
    };
}

function urlHost(host: string): string {
    return host.includes(":") ? `[${host}]` : host;
}

/**
 * The role script for a managed Postgres: psql (postgresql-client, installed
 * here) connects with the admin URL's parts as PG* variables and the admin
 * password from stdin (PGPASSWORD, this process only: never argv, never a file).
 */
export function externalRoleScript(cfg: PostgresRoleScope, admin: AdminUrl): string {
    const role = cfg.postgres.role;
    return script(
        readSecrets("ROLE_PASSWORD", "PGPASSWORD"),
        `if ! [[ "$ROLE_PASSWORD" =~ ^[A-Za-z0-9]{16,}$ ]]; then echo 'berth: role password must be 16+ alphanumerics' >&2; exit 64; fi`,
        "export PGPASSWORD",
        "if ! command -v psql >/dev/null 2>&1; then",
        indent("  ", osAptInstall(["postgresql-client"], { stderr: true })),
        "fi",
        `export PGHOST=${quote(admin.host)} PGPORT=${quote(admin.port)} PGUSER=${quote(admin.user)} PGDATABASE=${quote(admin.dbname)}${admin.sslmode ? ` PGSSLMODE=${quote(admin.sslmode)}` : ""} PGCONNECT_TIMEOUT=10`,
        "{",
        roleSqlLines(role),
        "} | psql -X -q -v ON_ERROR_STOP=1",
        `echo ${quote(`berth: role ${role} is up to date on the managed Postgres`)}`,
    );
}

/**
 * PostgresRole: the app's login role (CREATEDB, no database: the app's own
 * `db:prepare`/`db:create` makes it), created or updated idempotently inside
 * the Postgres container. The password is random, rotated by changing
 * `berth:postgres.passwordRotation`, and only ever travels on stdin.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { Connection, remoteScript } from "../lib/remote";
import { cmd, quote, readSecrets, retry, script, secretsPayload } from "../lib/shell";

export interface PostgresRoleArgs {
    /** Validated stack configuration. */
    config: BerthConfig;
    connection: pulumi.Input<Connection>;
    /** The Postgres container (must be healthy before the role is managed). */
    container: docker.Container;
}

export class PostgresRole extends pulumi.ComponentResource {
    public readonly roleName: string;
    /** The role's password (secret). */
    public readonly password: pulumi.Output<string>;
    public readonly command: command.remote.Command;
    /** postgres://role:password@127.0.0.1:port/database (secret). */
    public readonly databaseUrl: pulumi.Output<string>;

    constructor(name: string, args: PostgresRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:postgres:PostgresRole", name, {}, opts);
        const cfg = args.config;
        this.roleName = cfg.postgres.role;

        const password = new random.RandomPassword(
            `${name}-password`,
            { length: 40, special: false, keepers: { rotation: cfg.postgres.passwordRotation } },
            { parent: this, ...lifecycle(cfg, "password") },
        );
        this.password = password.result;

        this.command = remoteScript(
            `${name}-role`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: roleScript(cfg),
                delete: roleDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
                stdin: password.result.apply((pw) => secretsPayload([pw])),
            },
            { parent: this, dependsOn: [args.container] },
        );

        this.databaseUrl = pulumi.secret(
            pulumi.interpolate`postgres://${cfg.postgres.role}:${password.result}@127.0.0.1:${cfg.postgres.port}/${cfg.postgres.database}`,
        );
        this.registerOutputs({ roleName: this.roleName, databaseUrl: this.databaseUrl });
    }
}

// ---------------------------------------------------------------------------
// Pure script builders
// ---------------------------------------------------------------------------

function psql(cfg: BerthConfig): string {
    return cmd("docker", "exec", "-i", cfg.names.postgresContainer, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres");
}

function waitForPostgres(cfg: BerthConfig): string {
    return retry(60, 2, cmd("docker", "exec", cfg.names.postgresContainer, "pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1"));
}

/**
 * Creates the role when missing, then (always) sets LOGIN CREATEDB and the
 * password from stdin. The password reaches psql as a `\set` line on psql's
 * stdin and is quoted by psql itself (`:'pw'`): never argv, never a file.
 */
export function roleScript(cfg: BerthConfig): string {
    const role = cfg.postgres.role;
    return script(
        readSecrets("ROLE_PASSWORD"),
        `if ! [[ "$ROLE_PASSWORD" =~ ^[A-Za-z0-9]{16,}$ ]]; then echo 'berth: role password must be 16+ alphanumerics' >&2; exit 64; fi`,
        waitForPostgres(cfg),
        "{",
        `  printf '\\\\set pw %s\\n' "$ROLE_PASSWORD"`,
        `  printf '\\\\set role %s\\n' ${quote(role)}`,
        "  cat <<'SQL'",
        "SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec",
        "SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD %L', :'role', :'pw') \\gexec",
        "SQL",
        `} | ${psql(cfg)}`,
        `echo ${quote(`berth: role ${role} is up to date`)}`,
    );
}

/** Outside production only: drops the databases the role owns, then the role. */
export function roleDeleteScript(cfg: BerthConfig): string {
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

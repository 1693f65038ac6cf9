/**
 * `berth db [--primary|--<name>] [-c <sql>]`: the stack's database as the
 * app, without SSH, without a password on the screen or in any argv.
 *
 * - postgres (`berth:database postgres`): `psql -U <app role>` inside the
 *   Postgres container on the data host (`docker exec`), over the
 *   container's local socket, which the image's initdb trusts (the backup's
 *   `pg_dump` connects the same way): no password is needed at all, so none
 *   is read, sent or shown.
 * - external: `psql` on the release host as the app user with the app's
 *   environment (systemd-run with the units' EnvironmentFile, as `berth
 *   console`): the URL variable is read from that environment, its password
 *   moves to PGPASSWORD and psql gets the URL without it.
 *   Needs `psql` there (Debian: postgresql-client).
 * - sqlite: `sqlite3` on the app host as the app user (so the WAL files
 *   stay the app's), on the database's file. Needs `sqlite3` there.
 *
 * Interactive on a terminal (`ssh -t`); `-c <sql>` runs that SQL
 * non-interactively: it travels on stdin (never in an argv), with
 * ON_ERROR_STOP (psql) or -bail (sqlite3), and the exit status is the
 * client's. With stdin not a terminal and no `-c`, the SQL is read from stdin.
 */
import type { BerthConfig } from "../../lib/config";
import { AppDatabase, appDatabases } from "../../lib/databases";
import { cmd, quote, script } from "../../lib/shell";
import { hostView, plan } from "../../lib/plan";
import { releaseRunAs } from "./console";
import { CommandContext, UsageError } from "../support/command";

export interface DbArgs {
    database: AppDatabase;
    /** `-c <sql>`: run it and exit. */
    sql?: string;
}

/** `--primary` or `--<name>` (a `berth:databases` name), `-c|--command <sql>`; refuses anything else. */
export function parseDbArgs(cfg: Pick<BerthConfig, "database" | "databases" | "postgres" | "names">, args: readonly string[]): DbArgs {
    const dbs = appDatabases(cfg);
    let database: AppDatabase | undefined;
    let sql: string | undefined;
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === "-c" || a === "--command") {
            sql = args[++i];
            if (sql === undefined || sql.trim() === "") throw new Error(`berth: db ${a} needs the SQL to run`);
            continue;
        }
        const m = /^--([a-z0-9_]+)$/.exec(a);
        const pick = m && dbs.find((d) => d.name === m[1]);
        if (!pick) throw new Error(`berth: db: unknown ${a.startsWith("-") ? "option" : "argument"} ${JSON.stringify(a)}; the databases: ${dbs.map((d) => `--${d.name}`).join(", ")}; -c <sql>`);
        if (database && database !== pick) throw new Error(`berth: db: one database at a time (${database.name} or ${pick.name})`);
        database = pick;
    }
    return { database: database ?? dbs[0], sql };
}

/** The host `berth db` runs on: the data host (Postgres container), else the release host (external, sqlite). */
export function dbHost(cfg: BerthConfig): BerthConfig {
    const p = plan(cfg);
    const h = cfg.database !== "postgres" ? p.releaseHost : p.data.kind === "containers" ? p.data.host : undefined;
    if (!h) throw new Error(`berth: stack ${cfg.stack} has no host for its database`);
    return hostView(p, h);
}

/**
 * Moves the password of the postgres URL in `$url` to PGPASSWORD
 * (percent-decoded) and leaves the URL without it in `$url`.
 */
export const PG_URL_LINES = [
    're="^(postgres(ql)?://)([^:@/]*):([^@/]*)@(.*)$"',
    'if [[ "$url" =~ $re ]]; then',
    '  pw="${BASH_REMATCH[4]}"',
    '  pw="${pw//\\\\/\\\\\\\\}"',
    '  printf -v PGPASSWORD "%b" "${pw//%/\\\\x}"',
    "  export PGPASSWORD",
    '  url="${BASH_REMATCH[1]}${BASH_REMATCH[3]}@${BASH_REMATCH[5]}"',
    "  unset pw",
    "fi",
];

/**
 * What runs as the app user (external, sqlite: through releaseRunAs, with the
 * app's environment): the client on the database, `batch` reading the SQL
 * from stdin.
 */
export function appSideBody(hcfg: BerthConfig, db: AppDatabase, batch: boolean): string {
    if (hcfg.database === "sqlite") {
        return [
            `command -v sqlite3 >/dev/null || { echo ${quote(`berth: sqlite3 is not installed on host ${hcfg.host.name} (install the package sqlite3)`)} >&2; exit 127; }`,
            `[ -f ${quote(db.sqliteFile)} ] || { echo ${quote(`berth: ${db.sqliteFile} does not exist yet (no release has run)`)} >&2; exit 1; }`,
            cmd("exec", "sqlite3", ...(batch ? ["-bail"] : []), db.sqliteFile),
        ].join("\n");
    }
    return [
        `command -v psql >/dev/null || { echo ${quote(`berth: psql is not installed on host ${hcfg.host.name} (install the package postgresql-client)`)} >&2; exit 127; }`,
        `url="\${${db.env}:-}"`,
        `[ -n "$url" ] || { echo ${quote(`berth: ${db.env} is not set in the environment of the app`)} >&2; exit 1; }`,
        ...PG_URL_LINES,
        `exec psql ${batch ? "-X -v ON_ERROR_STOP=1 -f - " : ""}-d "$url"`,
    ].join("\n");
}

/** The script `berth db` runs on `hcfg`'s host (dbHost). `sql`: the SQL arrives on stdin, run non-interactively. */
export function dbScript(hcfg: BerthConfig, db: AppDatabase, opts: { tty: boolean; sql: boolean }): string {
    const batch = opts.sql || !opts.tty;
    if (hcfg.database !== "postgres") {
        return script("# shellcheck disable=SC2016 # the variables are the app-side bash's (appSideBody)", releaseRunAs(hcfg, "db", appSideBody(hcfg, db, batch), opts.tty && !opts.sql));
    }
    return script(
        cmd(
            "exec",
            "docker",
            "exec",
            "-i",
            ...(opts.tty && !opts.sql ? ["-t"] : []),
            hcfg.names.postgresContainer,
            "psql",
            ...(batch ? ["-X", "-v", "ON_ERROR_STOP=1", "-f", "-"] : []),
            "-U",
            hcfg.postgres.role,
            "-d",
            db.postgres,
        ),
    );
}

/** `berth db`: interactive on a terminal (ssh -t), else the SQL of -c (or stdin) on stdin; psql's exit status. */
export async function run(c: CommandContext): Promise<number> {
    let parsed;
    try {
        parsed = parseDbArgs(c.s.cfg, c.args);
    } catch (e) {
        throw new UsageError((e as Error).message);
    }
    const on = c.s.on(dbHost(c.s.source.config).host.name);
    const tty = parsed.sql === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
    const body = dbScript(on.cfg, parsed.database, { tty, sql: parsed.sql !== undefined });
    if (parsed.sql === undefined) return on.host.stream(body, { tty });
    const r = on.host.run(body, `${parsed.sql}\n`, 3_600_000);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
}

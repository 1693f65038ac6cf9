/**
 * The app's databases (`berth:database`, `berth:databases`): the primary and
 * the extra ones a Rails app declares in database.yml (Solid Queue, Cache,
 * Cable: `queue:`, `cache:`, `cable:`), what each is called where it lives,
 * and the variable that hands its URL to the app. Pure.
 *
 * Rails merges `DATABASE_URL` into the primary configuration and
 * `<NAME>_DATABASE_URL` into the configuration named `<name>`
 * (ActiveRecord::DatabaseConfigurations), so an app's database.yml needs no
 * change; `bin/rails db:prepare` (the release command) creates and prepares
 * every database of the environment.
 *
 * - postgres / external: the primary is `berth:postgres.database`
 *   (`<app>_<stack>`), an extra one `<primary>_<name>`, both owned by the
 *   app's role (made by db:prepare: the role has CREATEDB), on the same
 *   server; the extra URL is the primary's with the database swapped.
 * - sqlite: files in shared/storage (linked into every release as
 *   storage/), named as Rails 8's generator names them:
 *   `production.sqlite3`, `production_<name>.sqlite3`.
 */
import type { BerthConfig } from "./config";

export type DatabasesScope = Pick<BerthConfig, "database" | "databases" | "postgres" | "names">;

export interface AppDatabase {
    /** `primary`, or the name in `berth:databases`. */
    readonly name: string;
    /** The app's variable: DATABASE_URL, or <NAME>_DATABASE_URL. */
    readonly env: string;
    /** Its Postgres database (postgres, external). */
    readonly postgres: string;
    /** Its SQLite file (sqlite). */
    readonly sqliteFile: string;
}

/** The primary first, then `berth:databases` in order. */
export function appDatabases(cfg: DatabasesScope): AppDatabase[] {
    return ["primary", ...cfg.databases].map((name) => {
        const primary = name === "primary";
        return {
            name,
            env: primary ? "DATABASE_URL" : `${name.toUpperCase()}_DATABASE_URL`,
            postgres: primary ? cfg.postgres.database : `${cfg.postgres.database}_${name}`,
            sqliteFile: `${cfg.names.storageDir}/${primary ? "production" : `production_${name}`}.sqlite3`,
        };
    });
}

/** The primary's URL with berth:database sqlite: an absolute `sqlite3:` URL (Rails' ConnectionUrlResolver). */
export function sqliteUrl(file: string): string {
    return `sqlite3:${file}`;
}

/** A postgres:// URL with its database replaced (user, password, host, port and query kept). */
export function withDatabase(url: string, database: string): string {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
}

/**
 * The env-file lines of the databases: DATABASE_URL (the primary's URL as
 * given) and one <NAME>_DATABASE_URL per extra database.
 */
export function databaseEnv(cfg: DatabasesScope, primaryUrl: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of appDatabases(cfg)) {
        if (d.name === "primary") out[d.env] = primaryUrl;
        else out[d.env] = cfg.database === "sqlite" ? sqliteUrl(d.sqliteFile) : withDatabase(primaryUrl, d.postgres);
    }
    return out;
}

/**
 * `berth db` (cli/commands/db.ts): the arguments and their refusals, the host it
 * runs on, the scripts (golden + shellcheck), and the external URL's
 * password moved out of psql's argv, run with real bash against a stub psql.
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BerthConfig } from "../../lib/config";
import { appSideBody, dbHost, dbScript, parseDbArgs } from "../../cli/commands/db";
import { parseArgs } from "../../cli/main";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, mockPassword } from "./harness";

const staging = configFor("staging");
const sqlite = configFor("sqlite", {}, "examples/Pulumi.sqlite.yaml");
const fleet = configFor("fleet", {}, "examples/Pulumi.fleet.yaml");
/** The script builders read only the kind, the names, the role and the host: staging as an external-database stack. */
const external = { ...staging, database: "external" } as BerthConfig;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-db-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("berth db: arguments", () => {
    test("the primary by default; --<name> picks a berth:databases one; -c carries the SQL", () => {
        assert.equal(parseDbArgs(sqlite, []).database.name, "primary");
        assert.equal(parseDbArgs(sqlite, ["--queue"]).database.sqliteFile, `${sqlite.names.storageDir}/production_queue.sqlite3`);
        assert.deepEqual(parseDbArgs(staging, ["-c", "select 1"]).sql, "select 1");
        assert.equal(parseDbArgs(staging, ["--primary", "--command", "select 2"]).database.postgres, staging.postgres.database);
    });
    test("an unknown database is refused, listing the stack's; -c without SQL; two databases", () => {
        assert.throws(() => parseDbArgs(staging, ["--queue"]), /unknown option "--queue"; the databases: --primary; -c <sql>/);
        assert.throws(() => parseDbArgs(sqlite, ["--nope"]), /the databases: --primary, --queue, --cache, --cable/);
        assert.throws(() => parseDbArgs(staging, ["-c"]), /-c needs the SQL/);
        assert.throws(() => parseDbArgs(sqlite, ["--queue", "--cache"]), /one database at a time/);
        assert.throws(() => parseDbArgs(staging, ["users"]), /unknown argument "users"/);
    });
    test("the command line hands db its options (and keeps the global ones)", () => {
        const p = parseArgs(["db", "-s", "staging", "--queue", "-c", "select count(*) from users", "--json"]);
        assert.equal(p.op, "db");
        assert.deepEqual(p.args, ["--queue", "-c", "select count(*) from users"]);
        assert.equal(p.opts.stack, "staging");
        assert.equal(p.opts.json, true);
        assert.throws(() => parseArgs(["status", "--queue"]), /unknown option --queue/);
    });
});

describe("berth db: where and what runs", () => {
    test("postgres: the data host; sqlite and external: the release host", () => {
        const data = fleet.hosts.find((h) => h.roles.includes("data"))!;
        assert.equal(dbHost(fleet).host.name, data.name);
        assert.notEqual(data.name, fleet.hosts.find((h) => h.roles.includes("web"))!.name, "the fleet's data host is its own");
        assert.equal(dbHost(sqlite).host.name, sqlite.hosts[0].name);
    });
    const cases: [string, BerthConfig, { tty: boolean; sql: boolean }][] = [
        ["db-postgres-tty", staging, { tty: true, sql: false }],
        ["db-postgres-sql", staging, { tty: false, sql: true }],
        ["db-external-tty", external, { tty: true, sql: false }],
        ["db-sqlite-sql", sqlite, { tty: false, sql: true }],
    ];
    for (const [name, cfg, opts] of cases) {
        test(`${name}: golden, shellcheck-clean, no password in it`, () => {
            const body = dbScript(cfg, parseDbArgs(cfg, []).database, opts);
            expectGolden(`ops/${name}.sh`, body);
            expectShellcheckClean(name, body);
            for (const n of ["shop-staging-postgres-role-password", "shop-staging-data-postgres-superuser"]) assert.ok(!body.includes(mockPassword(n)));
            assert.doesNotMatch(body, /PGPASSWORD=|postgres:\/\/[^"]*:[^"]*@/);
        });
    }
    test("postgres: psql as the app role in the container; a terminal only when interactive", () => {
        const db = parseDbArgs(staging, []).database;
        assert.match(dbScript(staging, db, { tty: true, sql: false }), new RegExp(`docker exec -i -t ${staging.names.postgresContainer} psql -U ${staging.postgres.role} -d ${staging.postgres.database}`));
        assert.match(dbScript(staging, db, { tty: false, sql: true }), /docker exec -i \S+ psql -X -v ON_ERROR_STOP=1 -f - -U/);
    });
    test("the app-side scripts themselves are shellcheck-clean", () => {
        for (const batch of [true, false]) {
            expectShellcheckClean("external app side", appSideBody(external, parseDbArgs(external, []).database, batch));
            expectShellcheckClean("sqlite app side", appSideBody(sqlite, parseDbArgs(sqlite, []).database, batch));
        }
    });
    test("external and sqlite run as the app user with the app's environment (systemd-run), --pty only interactive", () => {
        const db = parseDbArgs(external, []).database;
        assert.match(dbScript(external, db, { tty: true, sql: false }), /systemd-run .*--pipe --pty .*EnvironmentFile=/);
        assert.doesNotMatch(dbScript(sqlite, parseDbArgs(sqlite, []).database, { tty: false, sql: true }), /--pty/);
    });
});

/** Runs the app-side body with bash, DATABASE_URL set and a stub `bin` (psql/sqlite3 record their argv and PGPASSWORD). */
function runBody(body: string, env: Record<string, string>, stubs: string[]) {
    const dir = fs.mkdtempSync(path.join(scratch, "run-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    for (const s of stubs) fs.writeFileSync(path.join(bin, s), `#!/bin/bash\nprintf '%s\\n' "$@" > ${JSON.stringify(path.join(dir, "argv"))}\nprintf '%s' "\${PGPASSWORD-unset}" > ${JSON.stringify(path.join(dir, "pw"))}\ncat > ${JSON.stringify(path.join(dir, "stdin"))}\n`, { mode: 0o755 });
    const r = spawnSync("/bin/bash", ["-c", `set -euo pipefail\n${body}`], { encoding: "utf8", input: "select 1;\n", env: { PATH: `${bin}:/usr/bin:/bin`, ...env } });
    const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : undefined);
    return { r, argv: read("argv"), pw: read("pw"), stdin: read("stdin") };
}

describe("berth db: the external URL's password never reaches an argv", () => {
    const secret = "s3cr%40t%2Fpw";
    test("psql gets the URL without the password, PGPASSWORD the decoded one, the SQL on stdin", () => {
        const body = appSideBody(external, parseDbArgs(external, []).database, true);
        const url = `postgres://shop:${secret}@db.example.net:25060/shop_staging?sslmode=require`;
        const { r, argv, pw, stdin } = runBody(body, { DATABASE_URL: url }, ["psql"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(argv, "-X\n-v\nON_ERROR_STOP=1\n-f\n-\n-d\npostgres://shop@db.example.net:25060/shop_staging?sslmode=require\n");
        assert.equal(pw, "s3cr@t/pw");
        assert.equal(stdin, "select 1;\n");
        assert.ok(!r.stdout.includes("s3cr") && !r.stderr.includes("s3cr"));
    });
    test("a URL without a password is passed as it is; a missing variable or psql is a clear error", () => {
        const body = appSideBody(external, parseDbArgs(external, []).database, true);
        const plain = runBody(body, { DATABASE_URL: "postgres://shop@db/x" }, ["psql"]);
        assert.equal(plain.argv?.split("\n").at(-2), "postgres://shop@db/x");
        assert.equal(plain.pw, "unset");
        const missing = runBody(body, {}, ["psql"]);
        assert.equal(missing.r.status, 1);
        assert.match(missing.r.stderr, /DATABASE_URL is not set in the environment of the app/);
        const noPsql = spawnSync("/bin/bash", ["-c", `set -euo pipefail\n${body}`], { encoding: "utf8", env: { PATH: path.join(scratch, "empty") } });
        assert.equal(noPsql.status, 127);
        assert.match(noPsql.stderr, /psql is not installed on host main \(install the package postgresql-client\)/);
    });
    test("sqlite: sqlite3 -bail on the database's file; a missing file is refused", () => {
        const cfg = { ...sqlite, names: { ...sqlite.names, storageDir: path.join(scratch, "storage") } } as BerthConfig;
        fs.mkdirSync(cfg.names.storageDir, { recursive: true });
        const db = parseDbArgs(cfg, ["--queue"]).database;
        const body = appSideBody(cfg, db, true);
        assert.equal(runBody(body, {}, ["sqlite3"]).r.status, 1);
        fs.writeFileSync(db.sqliteFile, "");
        const ok = runBody(body, {}, ["sqlite3"]);
        assert.equal(ok.r.status, 0, ok.r.stderr);
        assert.equal(ok.argv, `-bail\n${db.sqliteFile}\n`);
    });
});

/**
 * Databases (lib/databases.ts, README "Databases"): `berth:database`
 * (postgres | external | sqlite) and `berth:databases` (Rails multi-db),
 * their configuration errors, the env file's URLs, the SQLite stack's
 * backup scripts (goldens, shellcheck, systemd-analyze), and the SQLite
 * backup, restore and restore test run with real bash, real sqlite3 and a
 * real restic repository in a temp dir (only the SFTP transport, the app
 * user and systemctl are stood in for).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { BerthConfig, parseConfig } from "../../lib/config";
import { appDatabases, databaseEnv, withDatabase } from "../../lib/databases";
import { plan } from "../../lib/plan";
import { withShebang } from "../../lib/shell";
import * as backup from "../../components/data/backup";
import { appEnv } from "../../components/environment";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, named, runProgram, stackConfig, unwrap } from "./harness";
import { verifyInstalled } from "./systemd";

const SQLITE_FILE = "examples/Pulumi.sqlite.yaml";
const sqliteCfg = () => configFor("sqlite", {}, SQLITE_FILE);

/** The problems parseConfig reports for `stack`'s file with `overrides` (empty when valid). */
function errorsOf(stack: string, overrides: Record<string, unknown>, file?: string): string[] {
    const sc = stackConfig(stack, overrides, file);
    // berth:externalData is given in clear here (its URLs must parse): as `--secret` would set it.
    const r = parseConfig(sc.values, { project: "berth", stack, secretKeys: new Set([...sc.secretKeys, "berth:externalData"]) });
    return r.ok ? [] : r.errors;
}

const HOST = (name: string, address: string, roles: string[]) => ({ name, address, roles, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k" });
const asHosts = (hosts: unknown[]) => ({ "berth:host": undefined, "berth:hostKey": undefined, "berth:hosts": hosts, "berth:acme": { email: "ops@example.com", challenge: "dns-01" }, "berth:dns01": { cloudflareApiToken: { secure: "set-by-the-user" } } });

describe("berth:database and berth:databases configuration", () => {
    test("defaults: postgres with a data host, external without one; no extra database; storage backed up only with sqlite", () => {
        const staging = configFor("staging");
        assert.equal(staging.database, "postgres");
        assert.deepEqual(staging.databases, []);
        assert.equal(staging.backup!.storage, false);
        const sqlite = sqliteCfg();
        assert.equal(sqlite.database, "sqlite");
        assert.deepEqual(sqlite.databases, ["queue", "cache", "cable"]);
        assert.equal(sqlite.backup!.storage, true);
        assert.equal(configFor("sqlite", { "berth:backup": { ...secureBackup(), storage: false } }, SQLITE_FILE).backup!.storage, false);
    });

    test("sqlite on a stack with two app hosts is refused, naming them", () => {
        const errors = errorsOf("sqlite", asHosts([HOST("web1", "203.0.113.41", ["web", "worker", "data"]), HOST("web2", "203.0.113.42", ["web"])]), SQLITE_FILE);
        assert.ok(
            errors.some((e) => e.startsWith("berth:database: sqlite keeps the database in files on the app host, and this stack has 2 app hosts (web1, web2)")),
            errors.join("\n"),
        );
    });

    test("sqlite on one app host beside a data host (Redis) is accepted; backups then run on the app host", () => {
        const hosts = asHosts([HOST("app", "203.0.113.41", ["web", "worker"]), HOST("data", "203.0.113.42", ["data"])]);
        assert.deepEqual(errorsOf("sqlite", hosts, SQLITE_FILE), []);
        const p = plan(configFor("sqlite", hosts, SQLITE_FILE));
        assert.equal(p.backup?.host.name, "app");
        assert.equal(p.backup?.apart, false);
        // ...but not with the Redis volume in the backup, which is on the other host.
        const withRedis = { ...hosts, "berth:backup": { ...secureBackup(), redis: true } };
        assert.ok(errorsOf("sqlite", withRedis, SQLITE_FILE).some((e) => e.startsWith("berth:backup.redis: with sqlite the backup runs on the app host")));
    });

    test("sqlite with an external Postgres URL, postgres without a data host, external with one: each refused", () => {
        const ext = { "berth:externalData": { postgresUrl: "postgres://u:p@db.example.net/x", redisUrl: "redis://r.example.net:6379/0" } };
        assert.ok(errorsOf("sqlite", ext, SQLITE_FILE).some((e) => e.startsWith("berth:externalData: a Postgres URL is set, but berth:database is sqlite")));
        assert.ok(errorsOf("staging", { "berth:database": "external" }).some((e) => e.startsWith("berth:database: external, but main has the data role")));
        const noData = asHosts([HOST("web1", "203.0.113.41", ["web", "worker"])]);
        assert.ok(errorsOf("staging", { ...noData, ...ext, "berth:backup": undefined, "berth:database": "postgres" }).some((e) => e.startsWith("berth:database: postgres runs in a container on the data host")));
        assert.ok(errorsOf("staging", { "berth:database": "mysql" }).some((e) => e === 'berth:database: "mysql" is not a database (postgres, external or sqlite)'));
    });

    test("berth:databases: names checked, listed once, and their URL variables are berth's", () => {
        assert.ok(errorsOf("staging", { "berth:databases": ["queue", "queue"] }).some((e) => e === "berth:databases: lists a name twice"));
        assert.ok(errorsOf("staging", { "berth:databases": ["primary"] }).some((e) => e.startsWith("berth:databases[0]:")));
        assert.ok(errorsOf("staging", { "berth:databases": ["Queue"] }).some((e) => e.startsWith("berth:databases[0]:")));
        const clash = errorsOf("staging", { "berth:databases": ["queue"], "berth:env": { QUEUE_DATABASE_URL: "postgres://x/y" } });
        assert.ok(clash.includes("berth:env.QUEUE_DATABASE_URL: berth sets it (berth:databases lists queue); remove it"), clash.join("\n"));
    });

    test("backup.storage with the backup on a data host apart from the app hosts is refused", () => {
        const fleet = { "berth:backup": { ...secureBackup(), repository: "sftp:shop@backup.example.net:/srv/restic/shop-fleet", storage: true } };
        assert.ok(errorsOf("fleet", fleet, "examples/Pulumi.fleet.yaml").some((e) => e.startsWith("berth:backup.storage: the backup runs on the data host data")));
    });
});

/** The sqlite stack's berth:backup with its secret leaves, as the user's `config set --secret` lines make it. */
function secureBackup(): Record<string, unknown> {
    const sc = stackConfig("sqlite", {}, SQLITE_FILE);
    return { ...JSON.parse(sc.values["berth:backup"]), password: { secure: "set-by-the-user" }, privateKey: { secure: "set-by-the-user" } };
}

describe("the app's database URLs (env file)", () => {
    test("postgres: one <NAME>_DATABASE_URL per extra database, the primary's URL with the database swapped", () => {
        const cfg = configFor("staging", { "berth:databases": ["queue", "cache"] });
        const url = "postgres://shop_staging:pw@127.0.0.1:15432/shop_staging";
        const env = appEnv(cfg, { databaseUrl: url, redisUrl: "redis://:r@127.0.0.1:16379/0", secretKeyBase: "k" });
        assert.equal(env.DATABASE_URL, url);
        assert.equal(env.QUEUE_DATABASE_URL, "postgres://shop_staging:pw@127.0.0.1:15432/shop_staging_queue");
        assert.equal(env.CACHE_DATABASE_URL, "postgres://shop_staging:pw@127.0.0.1:15432/shop_staging_cache");
        assert.equal(env.REDIS_URL, "redis://:r@127.0.0.1:16379/0");
    });

    test("external: the query (sslmode) and an IPv6 host survive the swap; a password with URL escapes too", () => {
        assert.equal(withDatabase("postgres://app:p%40ss@[2001:db8::5]:6432/app?sslmode=require", "app_cable"), "postgres://app:p%40ss@[2001:db8::5]:6432/app_cable?sslmode=require");
    });

    test("sqlite: absolute sqlite3: URLs of Rails 8's files in shared/storage", () => {
        const cfg = sqliteCfg();
        const dbs = appDatabases(cfg);
        assert.deepEqual(
            dbs.map((d) => [d.env, d.sqliteFile]),
            [
                ["DATABASE_URL", "/srv/berth/notes-sqlite/shared/storage/production.sqlite3"],
                ["QUEUE_DATABASE_URL", "/srv/berth/notes-sqlite/shared/storage/production_queue.sqlite3"],
                ["CACHE_DATABASE_URL", "/srv/berth/notes-sqlite/shared/storage/production_cache.sqlite3"],
                ["CABLE_DATABASE_URL", "/srv/berth/notes-sqlite/shared/storage/production_cable.sqlite3"],
            ],
        );
        const env = databaseEnv(cfg, "sqlite3:/srv/berth/notes-sqlite/shared/storage/production.sqlite3");
        assert.equal(env.CABLE_DATABASE_URL, "sqlite3:/srv/berth/notes-sqlite/shared/storage/production_cable.sqlite3");
        // The files are where every release's storage/ link points (lib/presets: linked dirs).
        assert.ok(dbs.every((d) => path.dirname(d.sqliteFile) === `${cfg.names.root}/shared/storage`));
        // No Redis without a data host: no REDIS_URL at all rather than an empty one.
        assert.equal("REDIS_URL" in appEnv(cfg, { databaseUrl: env.DATABASE_URL, redisUrl: "", secretKeyBase: "k" }), false);
    });
});

/** Scripts and units of the Backup component for `cfg`. */
function backupTexts(cfg: BerthConfig): Record<string, string> {
    return {
        "backup-packages.sh": withShebang(backup.backupPackagesScript(cfg)),
        "backup-script": backup.backupScriptFile(cfg),
        "backup-restore-script": backup.restoreScriptFile(cfg),
        "backup-restore-test-script": backup.restoreTestScriptFile(cfg),
    };
}

describe("sqlite stack backup scripts (golden, shellcheck)", () => {
    const cfg = sqliteCfg();
    for (const [file, text] of Object.entries(backupTexts(cfg))) {
        test(file, () => {
            expectGolden(`sqlite/${file}`, text);
            expectShellcheckClean(`sqlite/${file}`, text);
        });
    }
    test("the units verify with the scripts installed", () => {
        const r = verifyInstalled(backup.backupFiles(cfg));
        assert.ok(r.ok, r.output);
    });
    test("sqlite3 is installed with restic; no Postgres in any script", () => {
        assert.match(backup.backupPackagesScript(cfg), /\bsqlite3\b/);
        assert.doesNotMatch(backup.backupPackagesScript(configFor("staging")), /\bsqlite3\b/);
        for (const text of Object.values(backupTexts(cfg))) assert.doesNotMatch(text, /pg_dump|psql|docker exec/);
    });
});

describe("postgres with backup.storage: the uploads in the same run (golden, shellcheck)", () => {
    const cfg = configFor("staging", { "berth:backup": { ...secureBackup(), repository: "sftp:shop@backup.example.net:/srv/restic/shop-staging", schedule: "*-*-* 04:15:00", retention: { daily: 7, weekly: 2, monthly: 0 }, storage: true } });
    for (const file of ["backup-script", "backup-restore-script"]) {
        test(file, () => {
            const text = backupTexts(cfg)[file];
            expectGolden(`storage/${file}`, text);
            expectShellcheckClean(`storage/${file}`, text);
        });
    }
    test("storage is saved after the databases, and swapped in only while the app is stopped", () => {
        const b = backupTexts(cfg)["backup-script"];
        assert.ok(b.indexOf("pg_dump") < b.indexOf("--stdin-filename storage.tar"));
        const r = backupTexts(cfg)["backup-restore-script"];
        const stop = r.indexOf('systemctl stop "${active[@]}"');
        assert.ok(stop > 0 && r.indexOf("/storage.tar | tar") < stop && r.indexOf('mv -T "$storage_new"') > stop);
    });
});

// ---------------------------------------------------------------------------
// The SQLite backup, restore and restore test, run for real

interface Sandbox {
    dir: string;
    cfg: BerthConfig;
    storage: string;
    env: NodeJS.ProcessEnv;
    scripts: { backup: string; restore: string; restoreTest: string };
}

/** The installed scripts with the host's paths moved into `dir`. */
function localize(text: string, dir: string, cfg: BerthConfig): string {
    const n = cfg.names;
    const moves: [string, string][] = [
        [n.backupLock, `${dir}/lock`],
        [n.backupEtc, `${dir}/etc`],
        [n.backupCache, `${dir}/cache`],
        [n.backupSpool, `${dir}/spool`],
        [n.root, `${dir}/srv`],
    ];
    return moves.reduce((t, [from, to]) => t.split(from).join(to), text);
}

const FAKES: Record<string, string> = {
    // The SFTP transport: the same restic on a local repository (--repo and -o sftp.command dropped).
    restic: 'a=(); while [ $# -gt 0 ]; do case "$1" in --repo|-o) shift 2 ;; *) a+=("$1"); shift ;; esac; done; exec /usr/bin/restic --repo "$FAKE_REPO" "${a[@]}"',
    // The app user: the test runs as whoever runs it.
    runuser: 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"',
    install: 'a=(); while [ $# -gt 0 ]; do case "$1" in -o|-g) shift 2 ;; *) a+=("$1"); shift ;; esac; done; exec /usr/bin/install "${a[@]}"',
    chown: "exit 0",
    // systemd: the app's units are "active" while their name is in $FAKE_ACTIVE; every call is logged.
    systemctl:
        'echo "$*" >>"$FAKE_LOG"; case "$1" in is-active) grep -qx "${@: -1}" "$FAKE_ACTIVE" ;; stop) shift; for u in "$@"; do sed -i "/^$u\\$/d" "$FAKE_ACTIVE"; done; echo "stopped: $(ls "$FAKE_STORAGE")" >>"$FAKE_LOG" ;; start) shift; printf "%s\\n" "$@" >>"$FAKE_ACTIVE" ;; esac',
};

function sandbox(): Sandbox {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-sqlite-"));
    const cfg = sqliteCfg();
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    for (const [name, body] of Object.entries(FAKES)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    for (const d of ["etc", "cache", "srv/shared/storage"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.writeFileSync(path.join(dir, "etc/password"), "correct horse battery staple");
    const storage = path.join(dir, "srv/shared/storage");
    const env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        FAKE_REPO: path.join(dir, "repo"),
        FAKE_LOG: path.join(dir, "systemctl.log"),
        FAKE_ACTIVE: path.join(dir, "active"),
        FAKE_STORAGE: storage,
        RESTIC_PASSWORD_FILE: path.join(dir, "etc/password"),
    };
    const init = spawnSync("restic", ["init", "--repo", env.FAKE_REPO, "--password-file", env.RESTIC_PASSWORD_FILE!], { encoding: "utf8" });
    assert.equal(init.status, 0, init.stderr);
    const put = (name: string, text: string) => {
        const f = path.join(dir, name);
        fs.writeFileSync(f, localize(text, dir, cfg), { mode: 0o700 });
        return f;
    };
    return {
        dir,
        cfg,
        storage,
        env,
        scripts: { backup: put("backup", backup.backupScriptFile(cfg)), restore: put("restore", backup.restoreScriptFile(cfg)), restoreTest: put("restore-test", backup.restoreTestScriptFile(cfg)) },
    };
}

function run(s: Sandbox, file: string, ...args: string[]) {
    const r = spawnSync("bash", [file, ...args], { env: s.env, encoding: "utf8", timeout: 60_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function sql(file: string, query: string): string {
    const r = spawnSync("sqlite3", ["-batch", "-bail", file, query], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
}

function snapshots(s: Sandbox): { paths: string[]; tags: string[] }[] {
    const r = spawnSync("restic", ["snapshots", "--json"], { env: s.env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
}

describe("sqlite backup, restore and restore test (real bash, sqlite3 and restic)", { skip: !fs.existsSync("/usr/bin/restic") || spawnSync("sqlite3", ["-version"]).status !== 0 ? "needs restic and sqlite3 (apt-get install restic sqlite3)" : false }, () => {
    let s: Sandbox;
    let writer: ChildProcess | undefined;
    const primary = () => path.join(s.storage, "production.sqlite3");

    before(async () => {
        s = sandbox();
        sql(primary(), "PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('one'), ('two');");
        sql(path.join(s.storage, "production_queue.sqlite3"), "CREATE TABLE solid_queue_jobs (id INTEGER PRIMARY KEY); INSERT INTO solid_queue_jobs DEFAULT VALUES;");
        sql(path.join(s.storage, "production_cache.sqlite3"), "CREATE TABLE solid_cache_entries (id INTEGER PRIMARY KEY);");
        // production_cable.sqlite3 does not exist yet: skipped, not a failure.
        fs.mkdirSync(path.join(s.storage, "ab/cd"), { recursive: true });
        fs.writeFileSync(path.join(s.storage, "ab/cd/abcdupload"), "the uploaded file\n");
        // The app keeps the database open and its last rows are only in the WAL (no checkpoint):
        // a copy of the main file alone would miss them; SQLite's online backup does not.
        writer = spawn("python3", ["-c", WRITER, primary()], { stdio: ["pipe", "pipe", "inherit"] });
        await new Promise<void>((resolve) => writer!.stdout!.once("data", () => resolve()));
        assert.ok(fs.statSync(`${primary()}-wal`).size > 0, "the writer's rows are in the WAL");
        assert.equal(sqlMain(primary()), "2", "the main file alone holds the first two rows only");
    });
    after(() => {
        writer?.kill();
        if (s) fs.rmSync(s.dir, { recursive: true, force: true });
    });

    test("the backup saves each database with its WAL rows, then the storage, in one run", () => {
        const r = run(s, s.scripts.backup, "scheduled");
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /database cable \(.*production_cable\.sqlite3\) does not exist yet; skipped/);
        const snaps = snapshots(s);
        assert.deepEqual(snaps.map((x) => x.paths[0]).sort(), ["/sqlite-cache.sqlite3", "/sqlite-primary.sqlite3", "/sqlite-queue.sqlite3", "/storage.tar"]);
        const runs = new Set(snaps.map((x) => x.tags.find((t) => t.startsWith("run:"))));
        assert.equal(runs.size, 1, "one run");
        assert.ok(snaps.every((x) => x.tags.includes("reason:scheduled") && x.tags.includes("sqlite")));
        // The storage archive leaves the live database files out (they are saved on their own).
        const id = snaps.find((x) => x.paths[0] === "/storage.tar")!;
        const list = spawnSync("bash", ["-c", `restic dump ${(id as any).id} /storage.tar | tar -tf -`], { env: s.env, encoding: "utf8" });
        assert.match(list.stdout, /\.\/ab\/cd\/abcdupload/);
        assert.doesNotMatch(list.stdout, /sqlite3/);
        assert.equal(fs.existsSync(path.join(s.dir, "spool")), false, "the spool is removed");
    });

    test("the restore test restores every database of the latest run and counts its rows", () => {
        const r = run(s, s.scripts.restoreTest);
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /primary: notes: 3 rows/);
        assert.match(r.out, /queue: solid_queue_jobs: 1 rows/);
        assert.match(r.out, /storage: snapshot [0-9a-f]{8} restores: \d+ entries/);
        assert.match(r.out, /OK: 3 database\(s\)/);
    });

    test("restore: databases and uploads back to the backup, swapped while the app is stopped", () => {
        writer!.kill();
        writer = undefined;
        sql(primary(), "DELETE FROM notes;");
        fs.writeFileSync(path.join(s.storage, "ab/cd/abcdupload"), "overwritten\n");
        fs.writeFileSync(path.join(s.storage, "later-upload"), "after the backup\n");
        fs.writeFileSync(s.env.FAKE_ACTIVE!, ["berth-notes-sqlite-web@blue.service", "berth-notes-sqlite-worker.service"].join("\n") + "\n");
        fs.writeFileSync(s.env.FAKE_LOG!, "");
        const r = run(s, s.scripts.restore);
        assert.equal(r.status, 0, r.out);
        assert.equal(sql(primary(), "SELECT group_concat(body, ',') FROM notes"), "one,two,three");
        assert.equal(sql(path.join(s.storage, "production_queue.sqlite3"), "SELECT count(*) FROM solid_queue_jobs"), "1");
        assert.equal(fs.readFileSync(path.join(s.storage, "ab/cd/abcdupload"), "utf8"), "the uploaded file\n");
        assert.equal(fs.existsSync(path.join(s.storage, "later-upload")), false);
        const log = fs.readFileSync(s.env.FAKE_LOG!, "utf8");
        assert.match(log, /^stop berth-notes-sqlite-web@blue\.service berth-notes-sqlite-worker\.service$/m);
        assert.match(log, /^start berth-notes-sqlite-web@blue\.service berth-notes-sqlite-worker\.service$/m);
        assert.ok(log.indexOf("stop ") < log.indexOf("start "));
        assert.deepEqual(fs.readdirSync(path.dirname(s.storage)).sort(), ["storage"], "no scratch directory is left beside storage");
    });

    test("restore sha:<sha> of a release that has no backup fails before touching anything", () => {
        const before = sql(primary(), "SELECT count(*) FROM notes");
        const r = run(s, s.scripts.restore, `sha:${"a".repeat(40)}`);
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /no berth snapshot matches sha:a{40}/);
        assert.equal(sql(primary(), "SELECT count(*) FROM notes"), before);
    });

    test("a database that cannot be copied fails the backup and keeps nothing of its run", () => {
        const count = snapshots(s).length;
        fs.writeFileSync(path.join(s.storage, "production_cache.sqlite3"), "not a database, just bytes ".repeat(200));
        const r = run(s, s.scripts.backup, "manual");
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /backing up database cache FAILED/);
        assert.equal(snapshots(s).length, count);
    });
});

/** The main database file's row count, read without its WAL (a copy of the file alone). */
function sqlMain(file: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-main-"));
    try {
        fs.copyFileSync(file, path.join(dir, "copy.sqlite3"));
        return sql(path.join(dir, "copy.sqlite3"), "SELECT count(*) FROM notes");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** An app holding the database open with a row committed to the WAL only (checkpoints off); prints once ready. */
const WRITER = `
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute("INSERT INTO notes (body) VALUES ('three')")
print("ready", flush=True)
time.sleep(120)
`;

describe("the sqlite stack under Pulumi's mock runtime", () => {
    test("no Postgres container or role; the env file's database URLs are sqlite3: files; the release command backs up first", async () => {
        const r = await runProgram(stackConfig("sqlite", {}, SQLITE_FILE));
        assert.equal(r.error, undefined, String(r.error));
        const names = r.resources.map((x) => x.name);
        assert.ok(names.includes("notes-sqlite-data-redis"), "Redis still runs on the host");
        assert.deepEqual(names.filter((n) => /postgres/.test(n)), []);
        const envFile = unwrap(named(r, "notes-sqlite-units-env-file").inputs.stdin) as string;
        assert.match(envFile, /^DATABASE_URL="sqlite3:\/srv\/berth\/notes-sqlite\/shared\/storage\/production\.sqlite3"$/m);
        assert.match(envFile, /^QUEUE_DATABASE_URL="sqlite3:\/srv\/berth\/notes-sqlite\/shared\/storage\/production_queue\.sqlite3"$/m);
        assert.match(envFile, /^CABLE_DATABASE_URL="sqlite3:\/srv\/berth\/notes-sqlite\/shared\/storage\/production_cable\.sqlite3"$/m);
        assert.match(envFile, /^REDIS_URL="redis:/m);
        const releaseCommand = unwrap(named(r, "notes-sqlite-release-release-command").inputs.create) as string;
        assert.ok(releaseCommand.indexOf("/usr/local/sbin/berth-notes-sqlite-backup release") < releaseCommand.indexOf("db:prepare"));
        assert.match(unwrap(named(r, "notes-sqlite-backup-packages").inputs.create) as string, /\bsqlite3\b/);
    });
});

describe("sqlite on one [web, worker] host and no data host", () => {
    test("no Docker, no Redis, no REDIS_URL; the backup runs on that host", async () => {
        const r = await runProgram(stackConfig("sqlite", asHosts([HOST("app", "203.0.113.41", ["web", "worker"])]), SQLITE_FILE));
        assert.equal(r.error, undefined, String(r.error));
        const names = r.resources.map((x) => x.name);
        assert.deepEqual(names.filter((n) => /docker|redis|postgres|-data/.test(n)), []);
        assert.ok(names.includes("notes-sqlite-backup-app-scripts"));
        const envFile = unwrap(named(r, "notes-sqlite-units-app-env-file").inputs.stdin) as string;
        assert.doesNotMatch(envFile, /REDIS_URL/);
        assert.match(envFile, /^DATABASE_URL="sqlite3:\/srv\/berth\/notes-sqlite\/shared\/storage\/production\.sqlite3"$/m);
    });
});

/**
 * Issue 18's multi-database Rails app on a real host: a fresh Debian 13 VPS of
 * its own (`berth-multidb-vps`, services `multidb`) deploys the sample
 * repository's `multidb` tag (test/e2e/sample-app-patches/09-multidb.patch:
 * database.yml's production `primary:` + `queue:` with its migrations in
 * db/queue_migrate, a QueueItem model whose abstract QueueRecord
 * `connects_to database: { writing: :queue }`, and /health/queue) with the
 * dev stack and `berth:databases: [queue]`.
 *
 * berth gives the app QUEUE_DATABASE_URL, which ActiveRecord merges into the
 * `queue` entry of database.yml (DatabaseConfigurations#environment_value_for:
 * `<NAME>_DATABASE_URL`), so the app's own `database:`/`username:` there are
 * overridden; the release command (`bin/rails db:prepare`) creates
 * `<app>_<stack>_queue` and runs its migration. Run alone:
 *   bash test/e2e/run.sh test/e2e/multidb.test.ts
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, parsedConfig, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { previewThenUp, Stage } from "./kit";
import { BerthConfig } from "../../lib/config";

const VPS = "berth-multidb-vps";
/** The queue migration of 09-multidb.patch (db/queue_migrate). */
const QUEUE_MIGRATION = "20261207010000";

let world: World;
let driver: Driver;
let stage: Stage;
let cfg: BerthConfig;
let sha: string;

function vpsOk(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** psql as the container's superuser, unaligned, tuples only. */
function psql(db: string, sql: string): string {
    return vpsOk(`docker exec -i ${cfg.names.postgresContainer} psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres -d ${db} <<'SQL'\n${sql}\nSQL`).trim();
}

before(async () => {
    world = makeWorld(VPS, { fresh: true, services: "multidb", domain: "multidb.berth.test", prodDomain: "prod.multidb.berth.test", repo: "multidb-sample" });
    vps(["stage-images", world.vps.name]);
    sha = world.shas.multidb;
    assert.match(sha, /^[0-9a-f]{40}$/, "sample-repo.sh printed the multidb sha");
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, { "berth:revision": sha, "berth:databases": ["queue"] });
    cfg = parsedConfig(stage.cfg());
});

after(() => {
    if (!keepHosts()) removeVps(world.vps.name);
});

describe("multi-database Rails app (berth:databases: [queue])", () => {
    test("1. fresh host -> preview then up: the release command prepares and migrates the queue database", async () => {
        const { planned, up } = await previewThenUp(driver, stage.cfg());
        assert.ok(planned.ok, planned.error);
        assert.ok(up.ok, up.error);
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/up")).status, 200);
        assert.equal((await stage.get("/version")).body.trim(), sha);
        const release = up.commands.filter((c) => c.resource.endsWith("-release-command"));
        assert.equal(release.length, 1, `one release command: ${up.commands.map((c) => c.resource).join(", ")}`);
        assert.match(`${release[0].stdout}\n${release[0].stderr}`, /CreateQueueItems: migrated/, "db:prepare ran the queue database's migration");
    });

    test("2. /health/queue writes a row into the queue database and reads it back: 1, then 2", async () => {
        const queueDb = `${cfg.postgres.database}_queue`;
        assert.equal(queueDb, "sample_dev_queue");
        for (const n of [1, 2]) {
            const r = await stage.get("/health/queue");
            assert.equal(r.status, 200, r.body);
            assert.equal(r.body.trim(), `queue_items=${n} db=${queueDb}`);
        }
        // The primary is untouched by it and still serves its own tables.
        const db = await stage.get("/health/db");
        assert.equal(db.status, 200, db.body);
    });

    test("3. Postgres holds the queue database, owned by the app's role, with the table, its rows and its migration", async () => {
        const queueDb = `${cfg.postgres.database}_queue`;
        const dbs = psql("postgres", `SELECT datname || ' ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname LIKE '${cfg.postgres.database}%' ORDER BY 1;`);
        assert.deepEqual(dbs.split("\n"), [`${cfg.postgres.database} ${cfg.postgres.role}`, `${queueDb} ${cfg.postgres.role}`]);
        assert.equal(psql(queueDb, "SELECT count(*) || ' ' || min(name) || ' ' || max(name) FROM queue_items;"), "2 health/queue health/queue");
        assert.equal(psql(queueDb, "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations;"), QUEUE_MIGRATION, "only the queue migration ran there");
        assert.equal(psql(queueDb, "SELECT to_regclass('public.visits') IS NULL;"), "t", "the primary's tables are not in the queue database");
        assert.equal(psql(cfg.postgres.database, "SELECT to_regclass('public.queue_items') IS NULL;"), "t", "queue_items is not in the primary");
        assert.equal(psql(cfg.postgres.database, "SELECT to_regclass('public.visits') IS NOT NULL;"), "t");
    });

    test("4. the env file hands the app QUEUE_DATABASE_URL: the primary's role, server and password, its own database", () => {
        // User, address and database only: the password never leaves the host.
        const lines = vpsOk(`sed -nE 's#^((QUEUE_)?DATABASE_URL)="?postgres(ql)?://([^:@]+):[^@]*@([^/"]+)/([^"?]+).*#\\1 \\4 \\5 \\6#p' ${cfg.names.envFile}`)
            .trim()
            .split("\n")
            .sort();
        assert.equal(lines.length, 2, `DATABASE_URL and QUEUE_DATABASE_URL, each once: ${lines.map((l) => l.split(" ")[0]).join(", ")}`);
        const [primary, queue] = lines.map((l) => l.split(" "));
        assert.equal(primary[0], "DATABASE_URL");
        assert.equal(queue[0], "QUEUE_DATABASE_URL");
        assert.equal(queue[1], cfg.postgres.role, "the app's role");
        assert.equal(queue[1], primary[1]);
        assert.equal(queue[2], primary[2], "the same server");
        assert.equal(primary[3], cfg.postgres.database);
        assert.equal(queue[3], `${cfg.postgres.database}_queue`);
        // The same password as the primary's, compared on the host.
        const same = vpsOk(
            `a=$(sed -nE 's#^DATABASE_URL="?postgres(ql)?://[^:@]+:([^@]*)@.*#\\2#p' ${cfg.names.envFile}); ` +
                `b=$(sed -nE 's#^QUEUE_DATABASE_URL="?postgres(ql)?://[^:@]+:([^@]*)@.*#\\2#p' ${cfg.names.envFile}); ` +
                `[ -n "$a" ] && [ "$a" = "$b" ] && echo same || echo differs`,
        ).trim();
        assert.equal(same, "same", "QUEUE_DATABASE_URL carries the role's password");
    });

    test("5. second up with no change: no release, nothing runs", async () => {
        const r = await stage.up();
        assert.ok(r.ok, r.error);
        assert.deepEqual(r.commands.map((c) => `${c.phase} ${c.resource}`), []);
        assert.deepEqual(r.dockerChanges, []);
        const again = await stage.get("/health/queue");
        assert.equal(again.body.trim(), `queue_items=3 db=${cfg.postgres.database}_queue`, "the rows outlive an up");
    });
});

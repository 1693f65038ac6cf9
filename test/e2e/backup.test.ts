/**
 * Data safety end to end (issue 10): encrypted off-host Postgres backups with
 * restic, a backup before every release command, the restore command and the
 * scheduled restore test, on a disposable VPS with its own world, and a real
 * sshd in another container as the SFTP backup target (test/e2e/host/sftp.sh).
 *
 * Run alone:
 *   bash test/e2e/host/image.sh >&2; env -u SSH_AUTH_SOCK node_modules/.bin/node --import tsx --test \
 *     --test-concurrency=1 --test-reporter=spec test/e2e/backup.test.ts
 * BERTH_BACKUP_BENCH_OUT=<file> also runs the bench part (a >= 200 MB
 * database: backup and restore seconds, repository growth of a second backup
 * of unchanged data) and writes its figures there (npm run bench).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { BackupTargetStage, berthCli, sftp, sftpBackup, sftpDown, SftpTarget, sftpUp, sleep, writeBenchSection } from "./kit";

const VPS = "berth-backup-vps";
const SFTP = "berth-backup-sftp";
const ID = "sample-dev";
const DB = "sample_dev";
const PG = `${ID}-postgres`;
const BACKUP = `/usr/local/sbin/berth-${ID}-backup`;
const RESTORE = `/usr/local/sbin/berth-${ID}-restore`;
const BACKUP_UNIT = `berth-${ID}-backup`;
const RESTORE_TEST_UNIT = `berth-${ID}-restore-test`;
const REPO_PATH = "/srv/restic/sample-dev";
/** The repository password of this run (a secret: checked below never to leak). */
const PASSWORD = crypto.randomBytes(24).toString("base64url");
/** A row only this run writes, to look for in the repository's files. */
const MARKER = `berth-marker-${crypto.randomBytes(8).toString("hex")}`;

/** The dev stack's berth:backup pointed at the SFTP container (the stage puts the real key and password in place of the test secrets). */
function backupTo(target: SftpTarget): Record<string, unknown> {
    return {
        "berth:backup": sftpBackup(target, REPO_PATH, {
            schedule: "*-*-* 03:15:00",
            restoreTestSchedule: "Sun *-*-* 04:30:00",
            retention: { daily: 7, weekly: 4, monthly: 6 },
            redis: true,
        }),
    };
}

let world: World;
let driver: Driver;
let stage: BackupTargetStage;
let target: SftpTarget;
const figures: Record<string, number> = {};

function vpsOk(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** GET until 200 (the app was just started again), at most 60 s. */
async function waitFor200(p: string): Promise<{ status: number; body: string }> {
    let last = { status: 0, body: "" };
    for (const t0 = Date.now(); Date.now() - t0 < 60_000; await sleep(500)) {
        last = await stage.get(p).catch((e: Error) => ({ status: 0, body: e.message }));
        if (last.status === 200) break;
    }
    return last;
}

function psql(sql: string, db = DB): string {
    return vpsOk(`docker exec -i ${PG} psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres -d ${db} <<'SQL'\n${sql}\nSQL`).trim();
}

/** The snapshots of this stack, read with the installed script's own restic settings. */
function snapshots(): { id: string; time: string; tags: string[]; paths: string[] }[] {
    return JSON.parse(vpsOk(`bash -c 'eval "$(grep "^rs() " ${BACKUP})"; rs snapshots --json --host ${ID}'`));
}

/** bench/backup.json and the "Backups" section of bench/README.md (replaced, the rest kept). */
function writeBench(out: string): void {
    const mb = (b: number) => (b / 1e6).toFixed(1);
    const results = { measuredAt: new Date().toISOString(), ...figures, targets: { restoreSecondsBelow: 60, secondBackupAddedPercentBelow: 5 } };
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    writeBenchSection(path.join(path.dirname(out), "README.md"), "backup", [
        "## Backups",
        "",
        `Measured by \`npm run bench\` (test/e2e/backup.test.ts scenario 7), ${results.measuredAt}: \`pgbench -i -s 10\` plus 400,000 rows of random text in the stack's Postgres container,`,
        "backed up by the installed backup script (pg_dump -Fc -Z0 streamed into restic over SFTP to another container) and restored by the installed restore script.",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        `| databases backed up (MB, pg_database_size) | ${mb(figures.databaseBytes)} | >= 200 |`,
        `| backup (s) | ${figures.backupSeconds.toFixed(1)} |  |`,
        `| restore, app stopped and started again (s) | ${figures.restoreSeconds.toFixed(1)} | < 60 |`,
        `| repository after the first backup (MB) | ${mb(figures.repositoryBytesAfterFirst)} |  |`,
        `| second backup of unchanged data: time (s) / repository growth | ${figures.secondBackupSeconds.toFixed(1)} / ${figures.secondBackupAddedPercent.toFixed(2)} % | < 5 % |`,
    ]);
}

before(async () => {
    // A fresh VPS, made here: under load `vps.sh up` can ask systemd for its state before
    // systemd's bus exists ("systemd ... is ''"); asking again finds the booted container.
    vps(["down", VPS]);
    for (let attempt = 1; ; attempt++) {
        try {
            vps(["up", VPS]);
            break;
        } catch (e) {
            if (attempt === 4) throw e;
        }
    }
    world = makeWorld(VPS, { fresh: false, services: "backup", domain: "backup.berth.test", prodDomain: "prod.backup.berth.test", repo: "backup-sample" });
    vps(["stage-images", world.vps.name]);
    target = sftpUp(SFTP);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new BackupTargetStage(world, driver, backupTo(target), target, PASSWORD);
});

after(() => {
    const out = process.env.BERTH_BACKUP_BENCH_OUT;
    if (out && Object.keys(figures).length > 0) writeBench(out);
    if (!keepHosts()) {
        removeVps(VPS);
        sftpDown(SFTP);
    }
});

describe("backups on a disposable VPS with an SFTP target", () => {
    test("1. up with berth:backup: restic installed, credentials root-only, repository initialised, timers enabled", async () => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/health/db")).status, 200);
        const modes = vpsOk(`stat -c '%a %U %n' /etc/berth/${ID}/backup /etc/berth/${ID}/backup/password /etc/berth/${ID}/backup/ssh_key ${BACKUP} ${RESTORE}`);
        assert.match(modes, new RegExp(`^700 root /etc/berth/${ID}/backup$`, "m"));
        assert.match(modes, /^600 root \S+\/password$/m);
        assert.match(modes, /^600 root \S+\/ssh_key$/m);
        assert.match(modes, new RegExp(`^700 root ${BACKUP}$`, "m"));
        assert.equal(vpsOk(`systemctl is-enabled ${BACKUP_UNIT}.timer ${RESTORE_TEST_UNIT}.timer`).trim(), "enabled\nenabled");
        assert.match(sftp(["exec", SFTP, `ls ${REPO_PATH}`]), /^config$/m, "the repository lives on the SFTP target");
        // The first release ran the backup before db:prepare: no database yet, nothing to back up, no failure.
        const rel = r.commands.find((c) => c.resource.endsWith("-release-command"));
        assert.ok(rel, "the release command ran");
        assert.match(rel.stdout, /owns no database yet; nothing to back up/);
        // The password never reaches a command line, the journal or a recorded output.
        const places = [vpsOk("journalctl --no-pager -o cat"), vpsOk(`cat ${BACKUP} ${RESTORE} /etc/systemd/system/berth-*`), JSON.stringify(driver.allCommandRuns())];
        for (const text of places) assert.ok(!text.includes(PASSWORD), "the repository password leaked");
    });

    test("2. rows written by the app -> the timer's backup service -> an encrypted snapshot off host", async () => {
        for (let i = 0; i < 3; i++) assert.equal((await stage.get("/")).status, 200);
        psql(`INSERT INTO visits (path, created_at, updated_at) VALUES ('/${MARKER}', now(), now());`);
        const rows = Number(psql("SELECT count(*) FROM visits;"));
        assert.ok(rows >= 4, `${rows} visits`);
        // What the timer does: start the service (oneshot: returns when it is done).
        vpsOk(`systemctl start ${BACKUP_UNIT}.service`);
        const scheduled = snapshots().filter((s) => s.tags.includes("reason:scheduled"));
        const snaps = scheduled.filter((s) => s.tags.includes(`db:${DB}`));
        assert.equal(snaps.length, 1, JSON.stringify(scheduled));
        const redis = scheduled.filter((s) => s.tags.includes("redis"));
        assert.deepEqual(redis.map((s) => s.paths), [["/redis-data.tar"]], "berth:backup.redis: the Redis volume too, in the same run");
        assert.equal(redis[0].tags.find((t) => t.startsWith("run:")), snaps[0].tags.find((t) => t.startsWith("run:")));
        assert.deepEqual(snaps[0].paths, [`/postgres-${DB}.dump`]);
        for (const t of ["berth", "dev", `db:${DB}`]) assert.ok(snaps[0].tags.includes(t), `tag ${t}: ${snaps[0].tags}`);
        // The marker is plain text in a dump (so the search below can find it) ...
        assert.match(vpsOk(`docker exec ${PG} pg_dump -U postgres -Fc -Z0 -d ${DB} | grep -a -c ${MARKER} || true`), /^[1-9]/m);
        // ... and nowhere in the repository's files.
        const files = sftp(["exec", SFTP, `find ${REPO_PATH} -type f | wc -l; du -sb ${REPO_PATH} | cut -f1; grep -r -l -a ${MARKER} ${REPO_PATH} || echo not-found`]).trim().split("\n");
        // `restic init` alone writes ~1.5 KB (config, key); a snapshot adds data packs, an index and the snapshot.
        assert.ok(Number(files[0]) > 3 && Number(files[1]) > 4_096, `repository: ${files}`);
        assert.equal(files[2], "not-found", "the marker row is readable in the repository");
    });

    test("2b. berth backup now | list | download: the unit run and waited for, the snapshots listed, one streamed into a local file", async () => {
        const cli = { configPath: path.join(world.work, "stack-config.json"), statePath: path.join(world.work, "state.json"), dnsApi: world.acme.dnsApi };
        // The configuration test 1 applied (the CLI reads the stack through it, as `pulumi config` would).
        fs.writeFileSync(cli.configPath, JSON.stringify(stage.cfg({ "berth:revision": "v1" })), { mode: 0o600 });
        const before = snapshots().length;
        const now = await berthCli(cli, ["backup", "now"]);
        assert.equal(now.code, 0, `${now.stdout}\n${now.stderr}`);
        assert.ok(snapshots().length > before, "backup now took a snapshot before it returned");
        const list = await berthCli(cli, ["backup", "list", "--json"]);
        assert.equal(list.code, 0, list.stderr);
        const rows = (JSON.parse(list.stdout) as { snapshots: { id: string; path: string; what: string }[] }).snapshots;
        const dump = rows.find((r) => r.path === `/postgres-${DB}.dump`);
        assert.ok(dump, `a database snapshot is listed: ${list.stdout.slice(0, 2000)}`);
        assert.equal(dump.what, `database ${DB}`);
        const id = dump.id.slice(0, 8);
        assert.ok(snapshots().some((x) => x.id.startsWith(id)), "the listed id is restic's");
        const file = path.join(world.work, "download.dump");
        const down = await berthCli(cli, ["backup", "download", id, "--to", file]);
        assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
        assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600", "the local file is the user's only");
        // A custom-format dump of the app's database, with the marker row: pg_restore reads it back as SQL.
        const sql = spawnSync("pg_restore", ["-f", "-", "--data-only", "-t", "visits", file], { encoding: "utf8", maxBuffer: 64 << 20 });
        assert.equal(sql.status, 0, sql.stderr);
        assert.ok(sql.stdout.includes(`/${MARKER}`), "the downloaded dump holds the row written before the backup");
        for (const text of [now.stdout, now.stderr, list.stdout, down.stdout, down.stderr]) assert.ok(!text.includes(PASSWORD), "the repository password was printed");
    });

    test("3. a release whose backup fails does not migrate and keeps serving", async () => {
        sftp(["pause", SFTP]);
        try {
            const load = stage.loadLoop();
            const r = await stage.up({ "berth:revision": "v2" });
            const stats = await load.stop();
            assert.equal(r.ok, false, "the release must fail when its backup fails");
            assert.match(r.error ?? "", new RegExp(`backup before the release command of ${world.shas.v2} FAILED`));
            assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
        } finally {
            sftp(["unpause", SFTP]);
        }
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1, "traffic stays on v1");
        assert.equal(psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'user_agent';"), "0", "v2's migration did not run");
        assert.equal(snapshots().filter((s) => s.tags.includes(`sha:${world.shas.v2}`)).length, 0, "no partial snapshot kept");
    });

    test("4. a release with a new migration takes a backup named after its sha first", async () => {
        const r = await stage.up({ "berth:revision": "v2" });
        assert.ok(r.ok, r.error);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
        assert.equal(psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'user_agent';"), "1", "v2's migration ran");
        const rel = r.commands.find((c) => c.resource.endsWith("-release-command"));
        assert.ok(rel);
        const backedUp = rel.stdout.indexOf("backing up the database before the release command");
        const migrated = rel.stdout.indexOf("running the release command");
        assert.ok(backedUp >= 0 && migrated > backedUp, rel.stdout);
        const snap = snapshots().filter((s) => s.tags.includes(`sha:${world.shas.v2}`) && s.tags.includes(`db:${DB}`));
        assert.equal(snap.length, 1, "one database snapshot tagged with the release sha");
        assert.ok(snap[0].tags.includes("reason:release"));
        // The snapshot holds the data from before the migration: v1's schema.
        const cols = vpsOk(`bash -c 'eval "$(grep "^rs() " ${BACKUP})"; rs dump ${snap[0].id} /postgres-${DB}.dump' | docker exec -i ${PG} pg_restore -f - --schema-only -t visits`);
        assert.doesNotMatch(cols, /user_agent/);
        assert.match(cols, /CREATE TABLE public\.visits/);
    });

    test("5. disaster: drop the database -> restore the latest snapshot -> the rows are back and served", async () => {
        vpsOk(`systemctl start ${BACKUP_UNIT}.service`); // the latest snapshot: after v2's migration
        assert.equal(snapshots().filter((s) => s.tags.includes(`sha:${world.shas.v2}`) && s.tags.includes(`db:${DB}`)).length, 1, "the retention keeps the release's snapshot");
        const before = Number(psql("SELECT count(*) FROM visits;"));
        psql(`DROP DATABASE ${DB} WITH (FORCE);`, "postgres");
        assert.notEqual((await stage.get("/health/db")).status, 200, "the app lost its database");
        const r = onVps(world, RESTORE);
        assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /stopped .*web@/);
        assert.match(r.stdout, /started .*web@/);
        assert.equal(Number(psql("SELECT count(*) FROM visits;")), before, "every row is back");
        assert.equal(psql(`SELECT count(*) FROM visits WHERE path = '/${MARKER}';`), "1");
        const health = await waitFor200("/health/db");
        assert.equal(health.status, 200, health.body);
        assert.match(health.body, new RegExp(`visits=${before}\\b`));
        assert.match((await stage.get("/")).body, new RegExp(`<span id="visits">${before + 1}</span>`), "the app serves the restored rows");
    });

    test("6. the restore test passes on a good snapshot and fails loudly on a corrupted repository", async () => {
        const ok = onVps(world, `systemctl start ${RESTORE_TEST_UNIT}.service`);
        assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}\n${vpsOk(`journalctl -u ${RESTORE_TEST_UNIT} --no-pager -o cat | tail -30`)}`);
        const good = vpsOk(`journalctl -u ${RESTORE_TEST_UNIT} --no-pager -o cat`);
        assert.match(good, new RegExp(`${DB}: public\\.visits: \\d+ rows`));
        assert.match(good, /OK: 1 database\(s\)/);
        assert.equal(psql(`SELECT count(*) FROM pg_database WHERE datname LIKE '%berth_restore%';`, "postgres"), "0", "scratch database dropped");

        // Flip bytes in the middle of every pack file on the SFTP target.
        sftp(["exec", SFTP, `for f in $(find ${REPO_PATH}/data -type f); do s=$(stat -c %s "$f"); printf 'berth-corruption' | dd of="$f" bs=1 seek=$((s / 2)) conv=notrunc status=none; done`]);
        const bad = onVps(world, `systemctl start ${RESTORE_TEST_UNIT}.service`);
        assert.notEqual(bad.code, 0, "the restore test must fail on a corrupted repository");
        assert.match(vpsOk(`systemctl --failed --no-legend --plain`), new RegExp(`${RESTORE_TEST_UNIT}\\.service`));
        assert.match(vpsOk(`journalctl -u ${RESTORE_TEST_UNIT} --no-pager -o cat`), /FAILED: /);
        assert.equal(psql(`SELECT count(*) FROM pg_database WHERE datname LIKE '%berth_restore%';`, "postgres"), "0", "scratch database dropped after the failure too");
    });

    test("7. bench: backup and restore of a >= 200 MB database, repository growth of an unchanged second backup", { skip: !process.env.BERTH_BACKUP_BENCH_OUT }, async () => {
        // A fresh repository (the one above was corrupted on purpose).
        sftp(["exec", SFTP, `rm -rf ${REPO_PATH}`]);
        vpsOk(`rm -rf /var/cache/berth/${ID}/restic/*`);
        vpsOk(`bash -c 'eval "$(grep "^rs() " ${BACKUP})"; rs init'`);
        psql(`CREATE DATABASE bench OWNER ${DB};`, "postgres");
        // pgbench's tables compress about 100:1 (blank-padded rows); random text beside them
        // keeps the repository figures honest for data that does not compress that well.
        vpsOk(`docker exec ${PG} pgbench -i -q -s 10 -U postgres bench`);
        psql("CREATE TABLE documents AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) AS body FROM generate_series(1, 400000) g; ALTER TABLE documents ADD PRIMARY KEY (id);", "bench");
        figures.databaseBytes = Number(psql("SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datname IN ('bench', 'sample_dev');", "postgres"));
        const size = () => Number(sftp(["exec", SFTP, `du -sb ${REPO_PATH} | cut -f1`]).trim());
        const timed = (cmd: string) => {
            const t0 = Date.now();
            vpsOk(cmd);
            return (Date.now() - t0) / 1000;
        };
        figures.backupSeconds = timed(`${BACKUP} manual`);
        figures.repositoryBytesAfterFirst = size();
        figures.secondBackupSeconds = timed(`${BACKUP} manual`);
        figures.repositoryBytesAfterSecond = size();
        figures.secondBackupAddedPercent = (100 * (figures.repositoryBytesAfterSecond - figures.repositoryBytesAfterFirst)) / figures.repositoryBytesAfterFirst;
        figures.restoreSeconds = timed(RESTORE);
        assert.equal(psql("SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' || (SELECT count(*) FROM documents);", "bench"), "1000000 400000", "the bench database restored whole");
        psql("DROP DATABASE bench WITH (FORCE);", "postgres");
        assert.ok(figures.databaseBytes >= 200e6, `the bench database has ${figures.databaseBytes} bytes`);
    });
});

/**
 * Issue 18's variants on a real host: process types with counts, schedules,
 * an accessory built on the host from Debian packages, and a SQLite app with
 * its uploads, backed up and restored. A fresh Debian 13 VPS of its own
 * (`berth-variants-vps`, services `variants`) deploys the sample repository's
 * `variants` tag with the generic preset: the app as one Python program
 * (bin/berth-e2e-server: rows in the SQLite file of DATABASE_URL, an upload
 * into storage/, a memcached round trip at MEMCACHE_URL), a loop script for
 * the process types and a job script for the schedules
 * (test/e2e/sample-app-patches/08-variants.patch).
 *
 * The backup target is a real sshd/SFTP container, as in backup.test.ts
 * (test/e2e/host/sftp.sh, `berth-variants-sftp`). Run alone:
 *   bash test/e2e/run.sh test/e2e/variants.test.ts
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, parsedConfig, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { BackupTargetStage, sftp, sftpBackup, sftpDown, SftpTarget, sftpUp, sleep, tcpRefused } from "./kit";
import { ROOT } from "../unit/harness";

const VPS = "berth-variants-vps";
const SFTP = "berth-variants-sftp";
const ID = "sample-dev";
const ROOT_DIR = `/srv/berth/${ID}`;
const STORAGE = `${ROOT_DIR}/shared/storage`;
const DB_FILE = `${STORAGE}/production.sqlite3`;
const UPLOAD = `${STORAGE}/uploads/upload.txt`;
const SCHEDULE_STATE = `${ROOT_DIR}/state/schedules`;
const ENV_FILE = `/etc/berth/${ID}/app.env`;
const BACKUP_UNIT = `berth-${ID}-backup`;
const BACKUP = `/usr/local/sbin/berth-${ID}-backup`;
const RESTORE = `/usr/local/sbin/berth-${ID}-restore`;
const REPO_PATH = "/srv/restic/variants";
/** The base image of the memcached build: staged on the VPS (no registry is reachable). */
const DEBIAN = "berth-local/debian:trixie";
const PASSWORD = crypto.randomBytes(24).toString("base64url");

const unit = (process: string, i: number) => `berth-${ID}-${process}@${i}.service`;
const schedule = (name: string) => `berth-${ID}-schedule-${name}`;

/**
 * The generic preset with the variants app: no Ruby; two process types, three
 * schedules (every 20 s: one succeeds, one fails; every 10 s, one that runs
 * 25 s), memcached built from Debian's package on the staged Debian 13 image,
 * SQLite as the database, backups (databases and storage) to the SFTP target.
 */
function variants(target: SftpTarget, workers = 2): Record<string, unknown> {
    return {
        "berth:revision": "variants",
        "berth:preset": "generic",
        "berth:webCommand": "python3 bin/berth-e2e-server",
        "berth:workerCommand": undefined,
        "berth:packages": ["python3"],
        "berth:database": "sqlite",
        "berth:processes": {
            worker: { command: "bin/berth-e2e-loop worker", count: workers },
            clock: { command: "bin/berth-e2e-loop clock", count: 1 },
        },
        "berth:schedules": {
            ok: { command: "bin/berth-e2e-job ok", schedule: "*:*:0/20" },
            fail: { command: "bin/berth-e2e-job fail", schedule: "*:*:0/20" },
            slow: { command: "bin/berth-e2e-job slow", schedule: "*:*:0/10", timeout: 120 },
        },
        "berth:accessories": {
            memcached: {
                build: { from: DEBIAN, debianPackages: ["memcached"] },
                command: "memcached -u nobody -l 0.0.0.0 -p 11211 -m 16",
                port: 11211,
                urlEnv: "MEMCACHE_URL",
                urlScheme: "memcached",
            },
        },
        "berth:backup": sftpBackup(target, REPO_PATH, { schedule: "*-*-* 03:15:00", restoreTestSchedule: "Sun *-*-* 04:30:00" }),
    };
}

let world: World;
let driver: Driver;
let stage: BackupTargetStage;
let target: SftpTarget;
let statePath: string;
let configPath: string;

function vpsOk(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** `npx berth <args>` against this stack (cli/main.ts with the configuration the applier applied). */
function berth(args: string[]): { code: number; stdout: string; stderr: string } {
    const argv = ["--import", "tsx", path.join(ROOT, "cli", "main.ts"), "--config", configPath, "--state", statePath, "--dns-api", world.acme.dnsApi, ...args];
    const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: "utf8", timeout: 5 * 60_000, env: { ...process.env, BERTH_REAL_HOME: "1" }, maxBuffer: 64 << 20 });
    return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** preview + up with these overrides; the configuration is then what `berth` reads. */
async function up(overrides: Record<string, unknown> = {}) {
    const r = await stage.up(overrides);
    fs.writeFileSync(configPath, JSON.stringify(stage.cfg(overrides)), { mode: 0o600 });
    return r;
}

/** systemctl show -P <prop> for each unit, one value per line. */
function show(prop: string, ...units: string[]): string[] {
    return units.map((u) => vpsOk(`systemctl show -P ${prop} ${u}`).trim());
}

/** The release directory a unit's main process runs in. */
function cwdOf(u: string): string {
    const pid = vpsOk(`systemctl show -P MainPID ${u}`).trim();
    assert.notEqual(pid, "0", `${u} has a main process`);
    return vpsOk(`readlink /proc/${pid}/cwd`).trim();
}

async function waitUntil(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
    for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(1000)) if (await check()) return;
    assert.fail(`${what}: not within ${ms / 1000}s`);
}

before(async () => {
    world = makeWorld(VPS, { fresh: true, services: "variants", domain: "variants.berth.test", prodDomain: "prod.variants.berth.test", repo: "variants-sample" });
    // Redis's image and the Debian 13 base the memcached build starts FROM.
    vps(["stage-images", world.vps.name, DEBIAN]);
    target = sftpUp(SFTP);
    assert.match(world.shas.variants ?? "", /^[0-9a-f]{40}$/, "sample-repo.sh printed the variants sha");
    statePath = path.join(world.work, "state.json");
    configPath = path.join(world.work, "stack-config.json");
    driver = await makeDriver(statePath, world.acme.dnsApi, "dev");
    stage = new BackupTargetStage(world, driver, variants(target), target, PASSWORD);
});

after(() => {
    if (!keepHosts()) {
        removeVps(world.vps.name);
        sftpDown(SFTP);
    }
});

describe("variants: processes, schedules, an accessory, SQLite with uploads", () => {
    test("1. fresh host -> up: the app over HTTPS on SQLite, no Postgres container, memcached built on the host", async () => {
        const r = await up();
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/up")).status, 200);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.variants);
        const ps = vpsOk("docker ps --format '{{.Names}}'");
        assert.doesNotMatch(ps, /postgres/, "berth:database sqlite runs no Postgres");
        // The container runs the image built on the host (tagged with its Dockerfile's digest), Debian's memcached in it.
        const tags = vpsOk(`docker image ls berth-${ID}-memcached --format '{{.Repository}}:{{.Tag}}'`).trim().split("\n");
        assert.equal(tags.length, 1, tags.join(" "));
        assert.match(tags[0], new RegExp(`^berth-${ID}-memcached:[0-9a-f]{16}$`));
        assert.equal(vpsOk(`docker inspect -f '{{.Image}}' ${ID}-memcached`).trim(), vpsOk(`docker image inspect -f '{{.Id}}' ${tags[0]}`).trim());
        assert.match(vpsOk(`docker run --rm ${tags[0]} dpkg-query -W -f '\${Package} \${Status}' memcached`), /^memcached install ok installed$/);
        const build = r.commands.find((c) => c.resource.includes("memcached") && c.resource.endsWith("-build"));
        assert.ok(build, `the accessory's build ran: ${r.commands.map((c) => c.resource).join(", ")}`);
        assert.match(build.stdout, /^built berth-sample-dev-memcached:/m);
    });

    test("2. the accessory: reachable from the app at MEMCACHE_URL, not from the test machine", async () => {
        const env = vpsOk(`grep '^MEMCACHE_URL=' ${ENV_FILE}`).trim();
        const port = parsedConfig(stage.cfg()).accessories.memcached.hostPort;
        assert.match(env, new RegExp(`^MEMCACHE_URL="?memcached://127\\.0\\.0\\.1:${port}"?$`), env);
        const a = await stage.get("/accessory");
        assert.equal(a.status, 200, a.body);
        assert.equal(a.body.trim(), "STORED same", "set then get through memcached");
        // Published on the host's loopback only; the container's own port is not published at all.
        assert.ok(await tcpRefused(world.vps.ip, port), `port ${port} refuses the test machine`);
        assert.ok(await tcpRefused(world.vps.ip, 11211), "port 11211 refuses the test machine");
        assert.equal(vpsOk(`docker port ${ID}-memcached`).trim(), `11211/tcp -> 127.0.0.1:${port}`);
    });

    test("3. process types: instances 1..count active in the current release; status lists them; logs show their lines", async () => {
        const current = vpsOk(`readlink -f ${ROOT_DIR}/current`).trim();
        assert.equal(current, `${ROOT_DIR}/releases/${world.shas.variants}`);
        const units = [unit("worker", 1), unit("worker", 2), unit("clock", 1)];
        assert.deepEqual(show("ActiveState", ...units), ["active", "active", "active"]);
        for (const u of units) assert.equal(cwdOf(u), current, `${u} runs the current release`);
        assert.equal(vpsOk(`systemctl show -P ActiveState ${unit("clock", 2)}`).trim(), "inactive", "clock runs one instance");
        const s = berth(["status"]);
        assert.equal(s.code, 0, s.stderr);
        for (const u of units) assert.match(s.stdout, new RegExp(`^  ${u.replace(/[.@]/g, "\\$&")} +active `, "m"), s.stdout);
        await sleep(3000);
        const logs = berth(["logs", "worker", "-n", "40"]);
        assert.equal(logs.code, 0, logs.stderr);
        for (const i of [1, 2]) assert.match(logs.stdout, new RegExp(`worker ${i} alive in ${current}$`, "m"), logs.stdout);
        assert.doesNotMatch(logs.stdout, /clock \d alive/, "logs worker: only the worker's instances");
    });

    test("4. schedules: one succeeds, one fails (status shows ok / FAILED and the marker), a long one never overlaps itself", async () => {
        // The slow job (every 10 s, runs 25 s) needs a minute for a few runs.
        await waitUntil("ok and fail ran, slow ran twice", 150_000, () => {
            const slow = onVps(world, `grep -c '^end ' ${ROOT_DIR}/shared/tmp/job-slow.log 2>/dev/null`).stdout.trim();
            const ok = onVps(world, `systemctl show -P Result ${schedule("ok")}.service; test -e ${SCHEDULE_STATE}/fail.failed && echo marked`).stdout;
            const okRuns = Number(onVps(world, `cat ${ROOT_DIR}/shared/tmp/job-ok.log 2>/dev/null | wc -l`).stdout.trim());
            return Number(slow) >= 2 && okRuns >= 1 && /^success$/m.test(ok) && /^marked$/m.test(ok);
        });
        const marker = vpsOk(`cat ${SCHEDULE_STATE}/fail.failed`).trim();
        assert.match(marker, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ exit-code 3$/, marker);
        assert.equal(onVps(world, `test -e ${SCHEDULE_STATE}/ok.failed`).code, 1, "no marker for the job that succeeds");
        const s = berth(["status"]);
        assert.equal(s.code, 0, s.stderr);
        const line = (name: string) => s.stdout.split("\n").find((l) => l.startsWith(`  ${name} `)) ?? "";
        assert.match(line("ok"), /last .* ok/, s.stdout);
        assert.doesNotMatch(line("ok"), /FAILED/);
        assert.match(line("fail"), /FAILED \S+ \(exit-code, status 3\)/, s.stdout);
        const j = JSON.parse(berth(["status", "--json"]).stdout) as { schedules: { name: string; result: string | null; failed: unknown }[] };
        assert.equal(j.schedules.find((x) => x.name === "fail")?.result, "exit-code");
        assert.equal(j.schedules.find((x) => x.name === "ok")?.failed, null);
        // Never two runs at once: the job's own record (start/end pairs, no "overlap") and the journal.
        const log = vpsOk(`cat ${ROOT_DIR}/shared/tmp/job-slow.log`).trim().split("\n");
        assert.ok(!log.some((l) => l.startsWith("overlap")), log.join("\n"));
        const events = log.map((l) => l.split(" ")[0]);
        for (let i = 0; i < events.length; i++) assert.equal(events[i], i % 2 === 0 ? "start" : "end", `runs alternate start/end: ${log.join(" | ")}`);
        const starts = vpsOk(`journalctl --no-pager -o cat -u ${schedule("slow")}.service | grep -c '^Starting ' || true`).trim();
        const ends = vpsOk(`journalctl --no-pager -o cat -u ${schedule("slow")}.service | grep -c '^Finished ' || true`).trim();
        assert.ok(Number(ends) >= 2 && Number(starts) - Number(ends) <= 1, `journal: ${starts} starts, ${ends} finished`);
        assert.equal(show("ActiveState", `${schedule("slow")}.timer`)[0], "active");
        const logs = berth(["logs", "fail", "-n", "20"]);
        assert.match(logs.stdout, /failing on purpose/, logs.stdout);
    });

    test("5. a release restarts the process instances in the new release", async () => {
        const units = [unit("worker", 1), unit("worker", 2), unit("clock", 1)];
        const before = show("ActiveEnterTimestamp", ...units);
        const r = await up({ "berth:revision": "variants-next" });
        assert.ok(r.ok, r.error);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.variantsNext);
        const after = show("ActiveEnterTimestamp", ...units);
        assert.deepEqual(show("ActiveState", ...units), ["active", "active", "active"]);
        for (let i = 0; i < units.length; i++) assert.notEqual(after[i], before[i], `${units[i]} restarted`);
        for (const u of units) assert.equal(cwdOf(u), `${ROOT_DIR}/releases/${world.shas.variantsNext}`, `${u} runs the new release`);
    });

    test("6. worker count 2 -> 1: worker@2 stopped and disabled, worker@1 and clock@1 keep running", async () => {
        const r = await up({ "berth:revision": "variants-next", "berth:processes": { worker: { command: "bin/berth-e2e-loop worker", count: 1 }, clock: { command: "bin/berth-e2e-loop clock", count: 1 } } });
        assert.ok(r.ok, r.error);
        assert.deepEqual(show("ActiveState", unit("worker", 1), unit("worker", 2), unit("clock", 1)), ["active", "inactive", "active"]);
        assert.equal(onVps(world, `systemctl is-enabled ${unit("worker", 2)}`).stdout.trim(), "disabled");
        const s = berth(["status"]);
        assert.doesNotMatch(s.stdout, /worker@2/, s.stdout);
    });

    test("7. SQLite and uploads: rows written, backed up, the file destroyed, restored with its upload", async () => {
        for (let i = 0; i < 5; i++) assert.equal((await stage.get("/write")).status, 200);
        const rows = Number((await stage.get("/count")).body.trim());
        assert.ok(rows >= 5, `${rows} rows`);
        const up1 = await stage.get("/upload");
        assert.equal(up1.status, 200, up1.body);
        const upload = vpsOk(`cat ${UPLOAD}`);
        assert.equal(upload, `uploaded with ${rows} rows\n`);
        const dbUrl = vpsOk(`grep '^DATABASE_URL=' ${ENV_FILE}`).trim();
        assert.match(dbUrl, new RegExp(`^DATABASE_URL="?sqlite3:${DB_FILE}"?$`), dbUrl);
        // What the timer does.
        vpsOk(`systemctl start ${BACKUP_UNIT}.service`);
        const all = JSON.parse(vpsOk(`bash -c 'eval "$(grep "^rs() " ${BACKUP})"; rs snapshots --json --host ${ID}'`)) as { paths: string[]; tags: string[] }[];
        const snaps = all.filter((x) => x.tags.includes("reason:scheduled"));
        const paths = snaps.flatMap((s) => s.paths).sort();
        assert.deepEqual(paths, ["/sqlite-primary.sqlite3", "/storage.tar"], JSON.stringify(snaps));
        const runs = new Set(snaps.map((s) => s.tags.find((t) => t.startsWith("run:"))));
        assert.equal(runs.size, 1, "database and storage in one run");
        assert.match(sftp(["exec", SFTP, `ls ${REPO_PATH}`]), /^config$/m, "the repository lives on the SFTP target");
        // Disaster: the database file and the upload are gone.
        vpsOk(`rm -f ${DB_FILE} ${DB_FILE}-wal ${DB_FILE}-shm ${UPLOAD}`);
        assert.equal((await stage.get("/count")).body.trim(), "0", "the app lost its rows");
        const r = onVps(world, RESTORE);
        assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /database primary restored/);
        assert.match(r.stdout, /storage restored/);
        await waitUntil("the app answers again", 60_000, async () => (await stage.get("/up").catch(() => ({ status: 0 }))).status === 200);
        assert.equal(Number((await stage.get("/count")).body.trim()), rows, "the rows are back");
        assert.equal(vpsOk(`cat ${UPLOAD}`), upload, "the upload is back");
        assert.equal(vpsOk(`stat -c %U ${DB_FILE}`).trim(), ID, "the restored file is the app's");
        assert.equal((await stage.get("/write")).body.trim(), String(rows + 1), "and writable");
    });
});

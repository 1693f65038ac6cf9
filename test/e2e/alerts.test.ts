/**
 * berth:alerts and berth:autoRollback on a real host (issue 19 items 3-4),
 * one disposable VPS (world `alerts`): a webhook receiver on this machine
 * (a node HTTP server on the test network's gateway, which the VPS reaches
 * as it reaches Pebble) records every body, and each trigger is produced
 * for real on the VPS:
 *
 * - the worker fails: a runtime drop-in turns its `Restart=` off, then a
 *   SIGKILL leaves the unit `failed`, which starts the alert unit through
 *   berth's `OnFailure=` prefix drop-in; restarted, the next check resolves it;
 * - a full disk: a 4 MB tmpfs mounted at /mnt/berth-alerts-disk (the
 *   stack's `diskPaths`), filled to 100 % with dd, then emptied;
 * - an expiring certificate: Pebble issues certificates valid for years, so
 *   the lineage's cert.pem (the file the check reads; nginx serves
 *   fullchain.pem) is replaced by a planted self-signed certificate valid
 *   one day, then put back;
 * - health through nginx: the `hostcheck` release (v2 whose /up answers 500
 *   while /etc/berth-e2e-unhealthy exists) goes live, then the marker is
 *   created: after failMinutes the host moves traffic back to the kept v2
 *   and sends one notice, and never a second; then nginx is stopped: after
 *   healthFailMinutes one health alert, one resolved once it runs again;
 * - a failed backup and restore test: the stack's `berth:backup` goes to an
 *   SFTP container of this world (test/e2e/host/sftp.sh), whose
 *   authorized_keys is moved away (the target refuses berth's key); the
 *   installed backup and restore-test services, started as their timers
 *   would, fail; with the key back, a backup then a restore test succeed.
 *   `berth status` (text and --json) shows the open alerts meanwhile, and
 *   the automatic rollback once it happened.
 *
 * Each condition: exactly one alert and one resolved (per webhook, Slack
 * and JSON formats), and no webhook token or backup secret in any body,
 * and no webhook token in the journal.
 * Short intervals (config): a check every 5 s, 15 s and 30 s of failure.
 * With BERTH_BENCH_OUT the figures (failure to alert, sustained failure to
 * rollback, and the settings they were measured at) are written there;
 * `npm run bench` renders them (test/e2e/bench-alerts.ts).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as crypto from "node:crypto";
import * as http from "node:http";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { BackupTargetStage, berthCli, sftp, sftpBackup, sftpDown, SftpTarget, sftpUp } from "./kit";
import type { StackConfig } from "../unit/harness";

const VPS = "berth-alerts-vps";
const SFTP = "berth-alerts-sftp";
/** The repository password of this run (a secret: never in an alert). */
const PASSWORD = crypto.randomBytes(24).toString("base64url");
const BACKUP_UNIT = "berth-sample-dev-backup.service";
const RESTORE_TEST_UNIT = "berth-sample-dev-restore-test.service";
const ID = "sample-dev";
const TOKEN = "e2eWebhookTokenNeverInABody";
const DISK = "/mnt/berth-alerts-disk";
const CHECK_SECONDS = 5;
const HEALTH_FAIL_MINUTES = 0.5;
const ROLLBACK_FAIL_MINUTES = 0.25;
const figures: Record<string, number> = {};

interface Received {
    at: number;
    format: "slack" | "json";
    body: any;
    raw: string;
}

let world: World;
let driver: Driver;
let stage: AlertStage;
let server: http.Server;
let target: SftpTarget;
let configPath = "";
let hookBase = "";
const received: Received[] = [];

/** The dev stack with berth:alerts (a secret: the webhook URLs carry the token), berth:autoRollback and berth:backup to the SFTP target. */
class AlertStage extends BackupTargetStage {
    override cfg(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
        const sc = super.cfg({ "berth:autoRollback": { afterReleaseMinutes: 5, failMinutes: ROLLBACK_FAIL_MINUTES }, ...overrides }, stack);
        const alerts = {
            webhooks: [
                { url: `${hookBase}/slack/${TOKEN}`, format: "slack" },
                { url: `${hookBase}/json/${TOKEN}`, format: "json" },
            ],
            healthFailMinutes: HEALTH_FAIL_MINUTES,
            diskPaths: [DISK],
            checkSeconds: CHECK_SECONDS,
        };
        sc.values["berth:alerts"] = JSON.stringify(alerts);
        sc.secretKeys.push("berth:alerts");
        sc.secrets.push(...alerts.webhooks.map((w) => w.url));
        return sc;
    }
}

before(async () => {
    world = makeWorld(VPS, { fresh: true, services: "alerts", domain: "alerts.berth.test", prodDomain: "prod.alerts.berth.test", repo: "alerts-sample" });
    vps(["stage-images", world.vps.name]);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    server = http.createServer((req, res) => {
        let raw = "";
        req.on("data", (d) => (raw += d));
        req.on("end", () => {
            const format = (req.url ?? "").startsWith("/slack/") ? "slack" : "json";
            let body: any;
            try {
                body = JSON.parse(raw);
            } catch {
                body = { unparsable: raw };
            }
            received.push({ at: Date.now(), format, body, raw });
            res.writeHead(200).end("ok");
        });
    });
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", () => r()));
    hookBase = `http://${world.acme.gateway}:${(server.address() as any).port}`;
    target = sftpUp(SFTP);
    const backup = sftpBackup(target, "/srv/restic/sample-dev", { schedule: "*-12-31 23:59:00", restoreTestSchedule: "*-12-31 23:59:30" });
    stage = new AlertStage(world, driver, { "berth:drainSeconds": 2, "berth:backup": backup }, target, PASSWORD);
    configPath = path.join(world.work, "stack-config.json");
});

after(() => {
    server?.close();
    process.stderr.write(`alerts figures: ${JSON.stringify(figures)}\n`);
    const settings = { checkSeconds: CHECK_SECONDS, healthFailSeconds: HEALTH_FAIL_MINUTES * 60, autoRollbackFailSeconds: ROLLBACK_FAIL_MINUTES * 60 };
    if (process.env.BERTH_BENCH_OUT) fs.writeFileSync(process.env.BERTH_BENCH_OUT, JSON.stringify({ ...figures, settings }, null, 2));
    if (world && !keepHosts()) {
        removeVps(world.vps.name);
        sftpDown(SFTP);
    }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    return r.stdout;
}

/** The JSON-format messages (one per message; each also went to the Slack webhook). */
const jsonMessages = (pred: (b: any) => boolean = () => true) => received.filter((r) => r.format === "json" && pred(r.body));

/** Waits until `pred` holds for some JSON message; returns when it arrived. */
async function waitFor(what: string, pred: (b: any) => boolean, timeoutMs = 90_000): Promise<Received> {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const m = jsonMessages(pred)[0];
        if (m) return m;
        if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs / 1000}s; received: ${JSON.stringify(received.map((r) => r.body))}`);
        await sleep(500);
    }
}

/** `npx berth status` and `status --json` of the stack (at `overrides`), as test/e2e/ops.test.ts runs them. */
async function berthStatus(overrides: Record<string, unknown> = { "berth:revision": "v2" }): Promise<{ text: string; json: any }> {
    fs.writeFileSync(configPath, JSON.stringify(stage.cfg(overrides)), { mode: 0o600 });
    const stack = { configPath, statePath: path.join(world.work, "state.json"), dnsApi: world.acme.dnsApi };
    const [t, j] = await Promise.all([berthCli(stack, ["status"]), berthCli(stack, ["status", "--json"])]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(j.code, 0, j.stderr);
    return { text: t.stdout, json: JSON.parse(j.stdout) };
}

/** Exactly one alert and one resolved for `what`, in both formats. */
function onceEach(match: (what: string) => boolean): void {
    for (const status of ["firing", "resolved"]) {
        const json = jsonMessages((b) => b.status === status && match(b.what));
        assert.equal(json.length, 1, `${status}: ${JSON.stringify(json.map((j) => j.body))}`);
        const slack = received.filter((r) => r.format === "slack" && match(r.body.text ?? "") && r.body.text.includes(status === "firing" ? "ALERT" : "RESOLVED"));
        assert.equal(slack.length, 1, `slack ${status}`);
    }
}

describe("alerts and automatic rollback on a real host", () => {
    test("setup: v2 with alerts (check every 5 s); the check timer runs, the webhooks file is root's 0600", async () => {
        sh(`mkdir -p ${DISK} && mount -t tmpfs -o size=4m berth-alerts ${DISK}`);
        const r = await stage.up({ "berth:revision": "v2" });
        assert.ok(r.ok, r.error);
        assert.equal(sh(`systemctl is-active berth-${ID}-check.timer`).trim(), "active");
        assert.equal(sh(`stat -c '%a %U' /etc/berth/${ID}/alerts/webhooks`).trim(), "600 root");
        assert.equal(sh(`systemctl show -p OnFailure --value berth-${ID}-worker.service`).trim(), `berth-${ID}-alert@berth-${ID}-worker.service.service`);
        await sleep(3 * CHECK_SECONDS * 1000);
        assert.deepEqual(received.map((x) => x.body), [], "a healthy host sends nothing");
    });

    test("a failed worker, a full disk, an expiring certificate, a failed backup and restore test: one alert each, open in berth status, one resolved each", async () => {
        const worker = `berth-${ID}-worker.service`;
        const cert = `/etc/letsencrypt/live/berth-${ID}/cert.pem`;
        sh(`mkdir -p /run/systemd/system/${worker}.d && printf '[Service]\\nRestart=no\\n' > /run/systemd/system/${worker}.d/zz-e2e.conf && systemctl daemon-reload`);
        try {
            const t0 = Date.now();
            sh(`systemctl kill -s KILL ${worker}`);
            sh(`dd if=/dev/zero of=${DISK}/fill bs=64k count=100 2>/dev/null || true`);
            sh(`mv ${cert} ${cert}.e2e-kept && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=alerts.berth.test -days 1 -out ${cert} 2>/dev/null`);
            // The backup target refuses berth's key; the installed services run as their timers would start them.
            sftp(["exec", SFTP, "mv /home/repo/.ssh/authorized_keys /home/repo/.ssh/authorized_keys.e2e-off"]);
            const tb = Date.now();
            assert.notEqual(onVps(world, `systemctl start ${BACKUP_UNIT}`).code, 0, "the backup fails while the target refuses the key");
            assert.notEqual(onVps(world, `systemctl start ${RESTORE_TEST_UNIT}`).code, 0, "the restore test too");
            const w = await waitFor("worker alert", (b) => b.status === "firing" && b.what === `unit ${worker} failed`);
            figures.unitFailureToAlertMs = w.at - t0;
            assert.equal(w.body.logs, "npx berth logs -s dev worker");
            assert.equal(w.body.stack, "dev");
            const b = await waitFor("backup alert", (x) => x.status === "firing" && x.what === `backup failed (${BACKUP_UNIT})`);
            figures.backupFailureToAlertMs = b.at - tb;
            assert.equal(b.body.logs, `journalctl -u ${BACKUP_UNIT} on host ${b.body.host}`);
            await waitFor("restore test alert", (x) => x.status === "firing" && x.what === `restore test failed (${RESTORE_TEST_UNIT})`);
            await waitFor("disk alert", (x) => x.status === "firing" && x.what.startsWith(`disk ${DISK} is 100% full`));
            await waitFor("certificate alert", (x) => x.status === "firing" && x.what.startsWith(`certificate berth-${ID} expires`));
            // berth status, text and --json, while they are open: each alert as it was sent.
            const firing = jsonMessages((x) => x.status === "firing").map((r) => r.body);
            const st = await berthStatus();
            assert.deepEqual(st.json.alerts.open.map((a: any) => a.what).sort(), firing.map((f) => f.what).sort());
            for (const f of firing) {
                const open = st.json.alerts.open.find((a: any) => a.what === f.what);
                assert.deepEqual([open.since, open.logs], [f.since, f.logs], f.what);
                assert.ok(st.text.includes(`FIRING since ${f.since}  ${f.what}`), `status text names ${f.what}:\n${st.text}`);
            }
            assert.match(st.text, new RegExp(`^alerts +${firing.length} open$`, "m"));
            await sleep(3 * CHECK_SECONDS * 1000);
        } finally {
            // Mended whatever failed above, so that the next tests run on a healthy host.
            sh(`rm -f /run/systemd/system/${worker}.d/zz-e2e.conf && systemctl daemon-reload && systemctl restart ${worker}`);
            sh(`rm -f ${DISK}/fill`);
            sh(`if [ -e ${cert}.e2e-kept ]; then mv -f ${cert}.e2e-kept ${cert}; fi`);
            sftp(["exec", SFTP, "if [ -e /home/repo/.ssh/authorized_keys.e2e-off ]; then mv /home/repo/.ssh/authorized_keys.e2e-off /home/repo/.ssh/authorized_keys; fi"]);
        }
        // The next runs succeed (the restore test needs the backup run first: the first release had no database to back up).
        sh(`systemctl start ${BACKUP_UNIT} && systemctl start ${RESTORE_TEST_UNIT}`);
        await waitFor("worker resolved", (x) => x.status === "resolved" && x.what === `unit ${worker} failed`);
        await waitFor("disk resolved", (x) => x.status === "resolved" && x.what.startsWith(`disk ${DISK}`));
        await waitFor("certificate resolved", (x) => x.status === "resolved" && x.what.startsWith(`certificate berth-${ID}`));
        await waitFor("backup resolved", (x) => x.status === "resolved" && x.what === `backup failed (${BACKUP_UNIT})`);
        await waitFor("restore test resolved", (x) => x.status === "resolved" && x.what === `restore test failed (${RESTORE_TEST_UNIT})`);
        await sleep(2 * CHECK_SECONDS * 1000);
        onceEach((what) => what.includes(worker));
        onceEach((what) => what.includes(`disk ${DISK}`));
        onceEach((what) => what.includes(`certificate berth-${ID}`));
        onceEach((what) => what.includes(`backup failed (${BACKUP_UNIT})`));
        onceEach((what) => what.includes(`restore test failed (${RESTORE_TEST_UNIT})`));
        assert.deepEqual((await berthStatus()).json.alerts.open, [], "nothing open once resolved");
    });

    test("a release unhealthy after its switch: rolled back to the kept release once, one notice, never twice", async () => {
        const hostcheck = (world.shas as any).hostcheck as string;
        assert.ok(hostcheck, "sample-repo.sh printed the hostcheck sha");
        const r = await stage.up({ "berth:revision": "hostcheck" });
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/version")).body.trim(), hostcheck, "hostcheck serves");
        const t0 = Date.now();
        sh("touch /etc/berth-e2e-unhealthy");
        const ev = await waitFor("automatic rollback", (b) => b.status === "event" && b.what.startsWith("automatic rollback:"), 120_000);
        figures.sustainedFailureToRollbackMs = ev.at - t0;
        assert.match(ev.body.what, new RegExp(`^automatic rollback: release ${hostcheck} failed /up through nginx for \\d+s within 300s of its switch; traffic moved back to the kept release ${world.shas.v2} in \\d+ ms`));
        assert.equal((await stage.get("/up")).status, 200, "v2 serves, marker or not");
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2, "the kept release serves again");
        assert.equal(sh(`cat /srv/berth/${ID}/state/revision`).trim(), world.shas.v2);
        const st = await berthStatus({ "berth:revision": "hostcheck" });
        assert.deepEqual(
            st.json.alerts.autoRollbacks.map((x: any) => [x.release, x.restored]),
            [[hostcheck, world.shas.v2]],
        );
        assert.match(st.text, new RegExp(`^automatic rollback \\S+Z: release ${hostcheck} rolled back to ${world.shas.v2} in \\d+ ms$`, "m"));
        await sleep(6 * CHECK_SECONDS * 1000);
        assert.equal(jsonMessages((b) => b.status === "event").length, 1, "one rollback, no flap");
        assert.equal(jsonMessages((b) => b.what?.startsWith("health")).length, 0, "recovered before healthFailMinutes: no health alert");
        sh("rm -f /etc/berth-e2e-unhealthy");
    });

    test("health through nginx failing for healthFailMinutes: one alert with its start, one resolved", async () => {
        const t0 = Date.now();
        sh("systemctl stop nginx");
        try {
            const a = await waitFor("health alert", (b) => b.status === "firing" && b.what.startsWith("health https://alerts.berth.test/up through nginx fails"), 120_000);
            figures.healthFailureToAlertMs = a.at - t0;
            assert.ok(a.at - t0 >= 30_000, `not before healthFailMinutes (${a.at - t0} ms)`);
        } finally {
            sh("systemctl start nginx");
        }
        await waitFor("health resolved", (b) => b.status === "resolved" && b.what.startsWith("health"));
        await sleep(2 * CHECK_SECONDS * 1000);
        onceEach((what) => what.includes("health https://alerts.berth.test/up through nginx fails"));
        assert.equal(jsonMessages((b) => b.status === "event").length, 1, "no second rollback (the restored release is marked)");
    });

    test("no webhook token or backup secret in any body, no token in the journal or the unit files", () => {
        assert.ok(received.length >= 26, `${received.length} messages`);
        const backupKey = fs.readFileSync(target.privateKeyPath, "utf8").split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
        for (const r of received) {
            assert.ok(!r.raw.includes(TOKEN), `a body holds the token: ${r.raw}`);
            assert.ok(!r.raw.includes(PASSWORD), `a body holds the backup password: ${r.raw}`);
            for (const l of backupKey) assert.ok(!r.raw.includes(l), "a body holds the backup key");
        }
        for (const r of received.filter((x) => x.format === "json")) {
            assert.deepEqual(Object.keys(r.body).filter((k) => !["source", "status", "app", "stack", "host", "what", "since", "logs"].includes(k)), []);
        }
        assert.equal(onVps(world, `journalctl --no-pager -o cat | grep -c ${TOKEN}`).stdout.trim(), "0");
        assert.equal(onVps(world, `grep -rl ${TOKEN} /etc/systemd/system /usr/local/sbin /srv/berth/${ID}/state /var/lib/berth 2>/dev/null | wc -l`).stdout.trim(), "0");
    });
});

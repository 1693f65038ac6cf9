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
 *   healthFailMinutes one health alert, one resolved once it runs again.
 *
 * Each condition: exactly one alert and one resolved (per webhook, Slack
 * and JSON formats), and no webhook token in any body or in the journal.
 * Short intervals (config): a check every 5 s, 15 s and 30 s of failure.
 * With BERTH_BENCH_OUT the figures (failure to alert, sustained failure to
 * rollback) are written there.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { Stage } from "./kit";
import type { StackConfig } from "../unit/harness";

const VPS = "berth-alerts-vps";
const ID = "sample-dev";
const TOKEN = "e2eWebhookTokenNeverInABody";
const DISK = "/mnt/berth-alerts-disk";
const CHECK_SECONDS = 5;
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
let hookBase = "";
const received: Received[] = [];

/** The dev stack with berth:alerts (a secret: the webhook URLs carry the token) and berth:autoRollback. */
class AlertStage extends Stage {
    override cfg(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
        const sc = super.cfg({ "berth:autoRollback": { afterReleaseMinutes: 5, failMinutes: 0.25 }, ...overrides }, stack);
        const alerts = {
            webhooks: [
                { url: `${hookBase}/slack/${TOKEN}`, format: "slack" },
                { url: `${hookBase}/json/${TOKEN}`, format: "json" },
            ],
            healthFailMinutes: 0.5,
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
    stage = new AlertStage(world, driver, { "berth:drainSeconds": 2 });
});

after(() => {
    server?.close();
    process.stderr.write(`alerts figures: ${JSON.stringify(figures)}\n`);
    if (process.env.BERTH_BENCH_OUT) fs.writeFileSync(process.env.BERTH_BENCH_OUT, JSON.stringify(figures, null, 2));
    if (world && !keepHosts()) removeVps(world.vps.name);
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

    test("a failed worker, a full disk, an expiring certificate: one alert each, one resolved each", async () => {
        const worker = `berth-${ID}-worker.service`;
        const cert = `/etc/letsencrypt/live/berth-${ID}/cert.pem`;
        sh(`mkdir -p /run/systemd/system/${worker}.d && printf '[Service]\\nRestart=no\\n' > /run/systemd/system/${worker}.d/zz-e2e.conf && systemctl daemon-reload`);
        const t0 = Date.now();
        sh(`systemctl kill -s KILL ${worker}`);
        sh(`dd if=/dev/zero of=${DISK}/fill bs=64k count=100 2>/dev/null || true`);
        sh(`mv ${cert} ${cert}.e2e-kept && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=alerts.berth.test -days 1 -out ${cert} 2>/dev/null`);
        const w = await waitFor("worker alert", (b) => b.status === "firing" && b.what === `unit ${worker} failed`);
        figures.unitFailureToAlertMs = w.at - t0;
        assert.equal(w.body.logs, "npx berth logs -s dev worker");
        assert.equal(w.body.stack, "dev");
        await waitFor("disk alert", (b) => b.status === "firing" && b.what.startsWith(`disk ${DISK} is 100% full`));
        await waitFor("certificate alert", (b) => b.status === "firing" && b.what.startsWith(`certificate berth-${ID} expires`));
        await sleep(3 * CHECK_SECONDS * 1000);
        sh(`rm -f /run/systemd/system/${worker}.d/zz-e2e.conf && systemctl daemon-reload && systemctl restart ${worker}`);
        sh(`rm -f ${DISK}/fill`);
        sh(`mv -f ${cert}.e2e-kept ${cert}`);
        await waitFor("worker resolved", (b) => b.status === "resolved" && b.what === `unit ${worker} failed`);
        await waitFor("disk resolved", (b) => b.status === "resolved" && b.what.startsWith(`disk ${DISK}`));
        await waitFor("certificate resolved", (b) => b.status === "resolved" && b.what.startsWith(`certificate berth-${ID}`));
        await sleep(2 * CHECK_SECONDS * 1000);
        onceEach((what) => what.includes(worker));
        onceEach((what) => what.includes(`disk ${DISK}`));
        onceEach((what) => what.includes(`certificate berth-${ID}`));
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

    test("no webhook token in any body, and none in the journal or the unit files", () => {
        assert.ok(received.length >= 14, `${received.length} messages`);
        for (const r of received) assert.ok(!r.raw.includes(TOKEN), `a body holds the token: ${r.raw}`);
        for (const r of received.filter((x) => x.format === "json")) {
            assert.deepEqual(Object.keys(r.body).filter((k) => !["source", "status", "app", "stack", "host", "what", "since", "logs"].includes(k)), []);
        }
        assert.equal(onVps(world, `journalctl --no-pager -o cat | grep -c ${TOKEN}`).stdout.trim(), "0");
        assert.equal(onVps(world, `grep -rl ${TOKEN} /etc/systemd/system /usr/local/sbin /srv/berth/${ID}/state /var/lib/berth 2>/dev/null | wc -l`).stdout.trim(), "0");
    });
});

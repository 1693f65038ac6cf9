/**
 * Deploy notifications (lib/notify.ts, scripts/notify-deploy.ts) and the
 * uptime workflow's probe (lib/uptime.ts, scripts/uptime.ts): the bodies,
 * the events, the one-message-per-outage rule, and the scripts run for
 * real against a local HTTP receiver (the webhook) with a stand-in `pulumi`
 * that hands them a stack's berth:alerts; no webhook URL printed.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { deployer, eventOf, noticeBody, noticeText, postNotice, webhooksOf, type DeployNotice } from "../../lib/notify";
import { probe, uptimeBody, uptimeMessage, uptimeTargets } from "../../lib/uptime";
import { ROOT } from "./harness";

const N: DeployNotice = { app: "shop", stack: "staging", event: "started", revision: "0123456789abcdef0123", who: "octocat", at: "2026-12-07T03:00:00Z", logs: "https://github.com/o/r/actions/runs/1" };

/** A webhook receiver: records each POST body; answers `status`. */
function receiver(): Promise<{ url: string; bodies: { path: string; body: string }[]; status: { code: number }; close: () => void }> {
    const bodies: { path: string; body: string }[] = [];
    const status = { code: 200 };
    const server = http.createServer((req, res) => {
        let b = "";
        req.on("data", (d) => (b += d));
        req.on("end", () => {
            bodies.push({ path: req.url ?? "", body: b });
            res.writeHead(status.code).end();
        });
    });
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as any).port}`, bodies, status, close: () => server.close() })));
}

function runScript(args: string[], env: Record<string, string>, cwd = ROOT): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
        const p = spawn(process.execPath, ["--import", "tsx", ...args], { cwd, env: { ...process.env, ...env } });
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.stderr.on("data", (d) => (out += d));
        p.on("close", (code) => resolve({ code: code ?? 1, out }));
    });
}

describe("deploy notifications", () => {
    test("Slack text and a flat JSON object, with revision and who", () => {
        assert.equal(noticeText(N), ":rocket: [berth] deploy of shop/staging 0123456789ab started (by octocat, 2026-12-07T03:00:00Z). Logs: https://github.com/o/r/actions/runs/1");
        assert.deepEqual(JSON.parse(noticeBody("slack", N)), { text: noticeText(N) });
        const j = JSON.parse(noticeBody("json", { ...N, event: "failed" }));
        assert.deepEqual(j, { source: "berth", status: "deploy", event: "failed", app: "shop", stack: "staging", revision: N.revision, who: "octocat", since: N.at, what: "deploy failed", logs: N.logs });
        for (const v of Object.values(j)) assert.equal(typeof v, "string", "flat");
    });
    test("events: a finished berth rollback is 'rolled back'; anything but success is 'failed'", () => {
        assert.equal(eventOf("started"), "started");
        assert.equal(eventOf("succeeded", "Pulumi.staging.yaml: app change"), "succeeded");
        assert.equal(eventOf("succeeded", "berth: rollback staging to abc (was def) by octocat"), "rolled back");
        assert.equal(eventOf("failed", "berth: rollback staging to abc"), "failed");
        assert.equal(eventOf("cancelled"), "failed");
    });
    test("who: GITHUB_ACTOR in CI, else the local user", () => {
        assert.equal(deployer({ GITHUB_ACTOR: "octocat" }), "octocat");
        assert.equal(deployer({}), os.userInfo().username);
    });
    test("webhooks from `pulumi config get berth:alerts`; nothing from junk", () => {
        assert.deepEqual(webhooksOf('{"webhooks":[{"url":"https://a.example/x","format":"json"},{"url":"https://b.example/y"}],"diskPercent":80}'), [
            { url: "https://a.example/x", format: "json" },
            { url: "https://b.example/y", format: "slack" },
        ]);
        assert.deepEqual(webhooksOf(""), []);
        assert.deepEqual(webhooksOf("not json"), []);
    });
    test("posted to every webhook; a refusing one is counted, its URL never in the error", async () => {
        const r = await receiver();
        try {
            const ok = await postNotice([{ url: `${r.url}/slack?token=s3cr3tA`, format: "slack" }, { url: `${r.url}/json?token=s3cr3tB`, format: "json" }], N);
            assert.deepEqual(ok, { delivered: 2, errors: [] });
            assert.deepEqual(r.bodies.map((b) => b.path), ["/slack?token=s3cr3tA", "/json?token=s3cr3tB"]);
            r.status.code = 500;
            const bad = await postNotice([{ url: `${r.url}/x?token=s3cr3tC`, format: "json" }, { url: "http://127.0.0.1:1/?token=s3cr3tD", format: "slack" }], N);
            assert.equal(bad.delivered, 0);
            assert.equal(bad.errors.length, 2);
            for (const e of bad.errors) assert.doesNotMatch(e, /s3cr3t|127\.0\.0\.1/);
        } finally {
            r.close();
        }
    });
    test("scripts/notify-deploy.ts with a stand-in pulumi: the started notice reaches the receiver; no URL printed; no alerts, no notice", async () => {
        const r = await receiver();
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "berth-notify-"));
        try {
            const alerts = JSON.stringify({ webhooks: [{ url: `${r.url}/hook?token=tok3nNeverPrinted`, format: "json" }] });
            fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/bash\ncase "$3" in berth:alerts) [ -n "$NO_ALERTS" ] && { echo "error: configuration key 'berth:alerts' not found" >&2; exit 255; }; printf '%s\\n' '${alerts}' ;; berth:app) echo shop ;; esac\n`, { mode: 0o755 });
            const env = { PATH: `${bin}:${process.env.PATH}`, GITHUB_ACTOR: "octocat", GITHUB_RUN_ID: "", NO_ALERTS: "" };
            const s = await runScript(["scripts/notify-deploy.ts", "staging", "started", "abc123"], env);
            assert.equal(s.code, 0, s.out);
            assert.doesNotMatch(s.out, /tok3n/);
            assert.equal(r.bodies.length, 1);
            const j = JSON.parse(r.bodies[0].body);
            assert.equal(j.event, "started");
            assert.equal(j.revision, "abc123");
            assert.equal(j.who, "octocat");
            assert.equal(j.app, "shop");
            const none = await runScript(["scripts/notify-deploy.ts", "staging", "failed", "abc123"], { ...env, NO_ALERTS: "1" });
            assert.equal(none.code, 0, none.out);
            assert.match(none.out, /no berth:alerts webhooks/);
            assert.equal(r.bodies.length, 1);
        } finally {
            r.close();
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });
});

describe("uptime from outside", () => {
    test("targets: every host name on the health path; 503 wanted in maintenance; no domain, nothing", () => {
        assert.deepEqual(uptimeTargets("staging", { "berth:domain": "a.example.com", "berth:extraHostnames": ["www.a.example.com"], "berth:healthPath": "/healthz" }), [
            { stack: "staging", url: "https://a.example.com/healthz", want: 200 },
            { stack: "staging", url: "https://www.a.example.com/healthz", want: 200 },
        ]);
        assert.deepEqual(uptimeTargets("p", { "berth:domain": "p.example.com", "berth:maintenance": true }), [{ stack: "p", url: "https://p.example.com/up", want: 503 }]);
        assert.deepEqual(uptimeTargets("x", {}), []);
    });
    test("one message per outage: an alert after a pass, a resolved after a failure, else nothing", () => {
        const ok = { stack: "s", url: "https://a/up", want: 200, got: 200, ok: true };
        const bad = { ...ok, got: 502, ok: false };
        assert.deepEqual(uptimeMessage([ok, bad], "success"), { status: "firing", what: "uptime: https://a/up answered 502 (want 200)" });
        assert.deepEqual(uptimeMessage([bad], ""), { status: "firing", what: "uptime: https://a/up answered 502 (want 200)" });
        assert.equal(uptimeMessage([bad], "failure"), undefined);
        assert.deepEqual(uptimeMessage([ok], "failure"), { status: "resolved", what: "uptime: every public URL answers again (1)" });
        assert.equal(uptimeMessage([ok], "success"), undefined);
        assert.deepEqual(JSON.parse(uptimeBody("slack", { status: "firing", what: "w" }, "T", "L")), { text: ":rotating_light: ALERT [berth] w (since T). Logs: L" });
    });
    test("probe: the status, no redirect followed, an unreachable host named as such", async () => {
        const server = http.createServer((req, res) => res.writeHead(req.url === "/up" ? 200 : 301, { Location: "https://elsewhere/" }).end());
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        const port = (server.address() as any).port;
        try {
            assert.equal((await probe({ stack: "s", url: `http://127.0.0.1:${port}/up`, want: 200 })).ok, true);
            const moved = await probe({ stack: "s", url: `http://127.0.0.1:${port}/x`, want: 200 });
            assert.deepEqual([moved.got, moved.ok], [301, false]);
            const down = await probe({ stack: "s", url: "http://127.0.0.1:1/up", want: 200 });
            assert.equal(down.ok, false);
            assert.equal(typeof down.got, "string");
        } finally {
            server.close();
        }
    });
    test("scripts/uptime.ts over stack files: failures listed, exit 1, one alert posted after a passing run", async () => {
        const r = await receiver();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-uptime-"));
        try {
            fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), "config:\n  berth:domain: berth-uptime-test.invalid\n");
            const s = await runScript(["scripts/uptime.ts", dir], { BERTH_UPTIME_WEBHOOK: `${r.url}/u?token=upt0ken`, BERTH_UPTIME_FORMAT: "json", PREVIOUS: "success", GITHUB_RUN_ID: "" });
            assert.equal(s.code, 1, s.out);
            assert.match(s.out, /^FAIL staging https:\/\/berth-uptime-test\.invalid\/up /m);
            assert.doesNotMatch(s.out, /upt0ken/);
            assert.equal(r.bodies.length, 1);
            assert.equal(JSON.parse(r.bodies[0].body).status, "firing");
            const again = await runScript(["scripts/uptime.ts", dir], { BERTH_UPTIME_WEBHOOK: `${r.url}/u`, PREVIOUS: "failure", GITHUB_RUN_ID: "" });
            assert.equal(again.code, 1);
            assert.equal(r.bodies.length, 1, "still down: no second message");
        } finally {
            r.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

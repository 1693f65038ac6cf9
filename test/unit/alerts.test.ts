/**
 * berth:alerts and berth:autoRollback (lib/units/alerts.ts,
 * components/host/alerts.ts): the configuration's checks, the goldens
 * (shellcheck, systemd-analyze verify), the program under mocks (one Alerts
 * per host, the webhook URLs only on stdin), and the sender and the check
 * run by real bash against stubs (curl recording each body and its argv,
 * systemctl, df, openssl, systemd-run): exactly one alert and one resolved
 * per condition, no secret in any body or argv, the automatic rollback once.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parseConfig } from "../../lib/config";
import { alertNames } from "../../lib/names";
import { alertUnitFile, checkScript, checkServiceFile, checkTimerFile, onFailureDropIn, selfDropIn, senderScript } from "../../lib/units/alerts";
import { alertFiles, alertsDeleteScript, alertsScript } from "../../components/host/alerts";
import { alertsConfigFor, alertsStack, JSON_URL, SLACK_URL } from "./alertsStack";
import { alertStatusScript, parseAlertStatus } from "../../cli/support/alerts";
import { expectGolden, expectShellcheckClean } from "./golden";
import { byType, isSecretWrapped, plainStrings, runProgram, RunResult, stackConfig, unwrap } from "./harness";
import { verifyInstalled } from "./systemd";

const cfg = alertsConfigFor();
const A = alertNames(cfg.names);
const TOKENS = ["slackTokenNeverInClear42", "jsonTokenNeverInClear42"];

function errorsOf(overrides: Record<string, unknown>, alerts: Record<string, unknown> = {}, secret = true): string[] {
    const sc = alertsStack(overrides, alerts);
    const keys = new Set(sc.secretKeys.filter((k) => secret || k !== "berth:alerts"));
    const r = parseConfig(sc.values, { project: "berth", stack: "alerts", secretKeys: keys });
    return r.ok ? [] : r.errors;
}

describe("alerts: configuration", () => {
    test("defaults: 3 min health, 90 %, 14 days, every 30 s; minutes become seconds", () => {
        const c = alertsConfigFor({ "berth:autoRollback": undefined }, { healthFailMinutes: undefined, diskPercent: undefined, certDays: undefined, diskPaths: undefined });
        assert.equal(c.alerts!.healthFailSeconds, 180);
        assert.equal(c.alerts!.diskPercent, 90);
        assert.equal(c.alerts!.certDays, 14);
        assert.deepEqual(c.alerts!.diskPaths, ["/"]);
        assert.equal(c.alerts!.checkSeconds, 30);
        assert.equal(c.autoRollback, undefined);
        assert.deepEqual(cfg.autoRollback, { afterReleaseSeconds: 600, failSeconds: 120 });
    });
    test("the webhooks must be a secret", () => {
        assert.ok(errorsOf({}, {}, false).includes("berth:alerts: must be a secret (pulumi config set --secret alerts ...)"));
    });
    test("bad values are named by key, every one of them", () => {
        const errs = errorsOf({}, { webhooks: [{ url: "ftp://x", format: "teams" }], diskPercent: 100, checkSeconds: 1 });
        assert.ok(errs.includes("berth:alerts.webhooks[0].url: is not an http(s) URL without spaces or quotes"), errs.join("\n"));
        assert.ok(errs.some((e) => e.startsWith('berth:alerts.webhooks[0].format: "teams" is not a format')), errs.join("\n"));
        assert.ok(errs.some((e) => e.startsWith("berth:alerts.diskPercent: 100 is out of range")), errs.join("\n"));
        assert.ok(errs.some((e) => e.startsWith("berth:alerts.checkSeconds: 1 is out of range")), errs.join("\n"));
    });
    test("a URL with a quote or a space is refused (it goes into curl's config on the host)", () => {
        assert.ok(errorsOf({}, { webhooks: [{ url: 'https://x.example/"a', format: "json" }] }).some((e) => e.startsWith("berth:alerts.webhooks[0].url")));
        assert.ok(errorsOf({}, { webhooks: [] }).includes("berth:alerts.webhooks: must list at least one webhook"));
    });
    test("autoRollback needs alerts, a window that outlasts the failure, and no Solid Queue in Puma", () => {
        const sc = stackConfig("alerts", { "berth:alerts": undefined }, "examples/Pulumi.alerts.yaml");
        const r = parseConfig(sc.values, { project: "berth", stack: "alerts", secretKeys: new Set(sc.secretKeys) });
        assert.ok(!r.ok && r.errors.some((e) => e.startsWith("berth:autoRollback: needs berth:alerts")));
        assert.ok(errorsOf({ "berth:rollbackWindow": 60 }).some((e) => e.startsWith("berth:autoRollback: berth:rollbackWindow (60s) ends before")));
        assert.ok(errorsOf({ "berth:autoRollback": { afterReleaseMinutes: 1, failMinutes: 2 } }).some((e) => e.startsWith("berth:autoRollback.failMinutes: 2 is longer")));
        assert.ok(errorsOf({ "berth:env": { APP_HOST: "a.example.com", SOLID_QUEUE_IN_PUMA: "1" } }).some((e) => e.includes("SOLID_QUEUE_IN_PUMA")));
    });
});

describe("alerts: goldens, shellcheck, systemd-analyze", () => {
    const files: Record<string, string> = {
        "sender.sh": senderScript(cfg),
        "check.sh": checkScript(cfg),
        "install.sh": alertsScript(cfg),
        "install-delete.sh": alertsDeleteScript(cfg),
        "alert@.service": alertUnitFile(cfg),
        "check.service": checkServiceFile(cfg),
        "check.timer": checkTimerFile(cfg),
        "on-failure.conf": onFailureDropIn(cfg),
        "self.conf": selfDropIn(cfg),
    };
    for (const [name, text] of Object.entries(files)) {
        test(`golden alerts/${name}`, () => expectGolden(`alerts/${name}`, text));
        if (name.endsWith(".sh")) test(`shellcheck alerts/${name}`, () => expectShellcheckClean(name, name.startsWith("install") ? `#!/bin/bash\n${text}` : text));
    }
    test("no webhook URL in any script or unit", () => {
        for (const [name, text] of Object.entries(files)) for (const t of TOKENS) assert.ok(!text.includes(t), `${name} holds a webhook token`);
    });
    test("the installed units verify (ExecStart present), the drop-ins name the alert unit and reset it", () => {
        // The drop-ins are not units of their own: verify the units (systemd-analyze refuses a drop-in as a target).
        const r = verifyInstalled(Object.fromEntries(Object.entries(alertFiles(cfg)).filter(([f]) => !f.includes(".service.d/"))));
        assert.ok(r.ok, r.output);
        assert.match(onFailureDropIn(cfg), /^OnFailure=berth-shop-alerts-alert@%n\.service$/m);
        assert.match(selfDropIn(cfg), /^OnFailure=$/m);
        assert.equal(path.basename(A.dropIn), path.basename(A.selfDropIn), "same file name: the more specific directory wins");
        assert.equal(path.dirname(A.dropIn), "/etc/systemd/system/berth-shop-alerts-.service.d");
    });
    test("a worker host without web: no health, certificate or rollback in its check", () => {
        const worker = { ...cfg, host: { ...cfg.host, roles: ["worker" as const] } };
        const text = checkScript(worker);
        assert.doesNotMatch(text, /--resolve|letsencrypt|auto_rollback/);
        assert.match(text, /df --output=pcent/);
    });
    test("maintenance: no health probe, an open health alert resolved", () => {
        const text = checkScript({ ...cfg, maintenance: true });
        assert.doesNotMatch(text, /--resolve/);
        assert.match(text, /"\$alert" resolve health/);
    });
});

describe("alerts: the program under mocks", () => {
    let r: RunResult;
    before(async () => {
        r = await runProgram(alertsStack());
        assert.ifError(r.error);
    });
    test("one Alerts component with one install command; the webhooks only on (secret) stdin", () => {
        const comps = byType(r, "berth:host:Alerts");
        assert.deepEqual(comps.map((c) => c.name), ["shop-alerts-alerts"]);
        const cmd = r.resources.find((x) => x.name === "shop-alerts-alerts-install")!;
        assert.ok(cmd, "install command");
        assert.ok(isSecretWrapped(cmd.inputs.stdin));
        assert.equal(unwrap(cmd.inputs.stdin), `slack ${SLACK_URL}\njson ${JSON_URL}\n`);
        for (const res of r.resources) for (const { path: p, value } of plainStrings(res.inputs)) for (const t of TOKENS) assert.ok(!value.includes(t), `${res.name} ${p} holds a webhook token`);
    });
    test("the install runs after the switch (health is watched once something serves)", () => {
        const cmd = r.resources.find((x) => x.name === "shop-alerts-alerts-install")!;
        assert.ok(cmd.dependsOn.some((d) => d.endsWith("shop-alerts-switch-switch")), cmd.dependsOn.join("\n"));
    });
    test("a stack without berth:alerts has no Alerts", async () => {
        const s = await runProgram(stackConfig("staging"));
        assert.deepEqual(byType(s, "berth:host:Alerts"), []);
    });
});

// ---------------------------------------------------------------------------
// The scripts under real bash, against stubs

const STUBS: Record<string, string> = {
    curl: `#!/bin/bash
printf '%s\\n' "$*" >> "$STUB/argv.log"
for a in "$@"; do
  case "$a" in
    --resolve) cat "$STUB/health" 2>/dev/null || printf 200; exit 0 ;;
    --unix-socket) cat "$STUB/idle" 2>/dev/null || printf 200; exit 0 ;;
  esac
done
prev=
for a in "$@"; do if [ "$prev" = -K ]; then conf=$a; fi; prev=$a; done
url=$(sed -n 's/^url = "\\(.*\\)"$/\\1/p' "$conf")
if [ -e "$STUB/curl-fail" ]; then exit 22; fi
n=$(find "$STUB/bodies" -name '*.body' | wc -l)
cat > "$STUB/bodies/$n.body"
printf '%s' "$url" > "$STUB/bodies/$n.url"
`,
    systemctl: `#!/bin/bash
printf '%s\\n' "$*" >> "$STUB/systemctl.log"
case "$1" in
  list-units) cat "$STUB/failed" 2>/dev/null; exit 0 ;;
  is-active) [ ! -e "$STUB/inactive" ]; exit ;;
esac
exit 0
`,
    "systemd-run": `#!/bin/bash\nprintf '%s\\n' "$*" >> "$STUB/systemd-run.log"\n`,
    df: `#!/bin/bash\necho 'Use%'\necho " $(cat "$STUB/df" 2>/dev/null || echo 40)%"\n`,
    openssl: `#!/bin/bash
case "$*" in
  *-checkend*) [ ! -e "$STUB/cert-expiring" ]; exit ;;
  *-enddate*) echo 'notAfter=Dec 20 00:00:00 2026 GMT' ;;
esac
`,
};

interface Sandbox {
    dir: string;
    root: string;
    stub: string;
    sender: string;
    check: string;
}

function sandbox(c = cfg): Sandbox {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-alerts-"));
    const stub = path.join(dir, "stub");
    const bin = path.join(dir, "bin");
    const root = path.join(dir, "root");
    for (const d of [path.join(stub, "bodies"), bin, path.join(root, A.etc)]) fs.mkdirSync(d, { recursive: true });
    for (const [name, text] of Object.entries(STUBS)) fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
    fs.writeFileSync(path.join(root, A.webhooks), `slack ${SLACK_URL}\njson ${JSON_URL}\n`, { mode: 0o600 });
    const sender = path.join(dir, "sender.sh");
    const check = path.join(dir, "check.sh");
    fs.writeFileSync(sender, senderScript(c), { mode: 0o755 });
    fs.writeFileSync(check, checkScript(c), { mode: 0o755 });
    return { dir, root, stub, sender, check };
}

function run(sb: Sandbox, script: string, args: string[] = []): { status: number | null; stderr: string } {
    const r = spawnSync("bash", [script, ...args], {
        encoding: "utf8",
        env: { PATH: `${path.join(sb.dir, "bin")}:${process.env.PATH}`, STUB: sb.stub, BERTH_ROOT: sb.root, BERTH_ALERT: sb.sender, HOME: sb.dir },
    });
    return { status: r.status, stderr: r.stderr };
}

interface Body {
    url: string;
    text: string;
    json: any;
}

function bodies(sb: Sandbox): Body[] {
    const d = path.join(sb.stub, "bodies");
    const n = fs.readdirSync(d).filter((f) => f.endsWith(".body")).length;
    return Array.from({ length: n }, (_, i) => {
        const text = fs.readFileSync(path.join(d, `${i}.body`), "utf8");
        return { url: fs.readFileSync(path.join(d, `${i}.url`), "utf8"), text, json: JSON.parse(text) };
    });
}

/** What each message says, once per message (a message goes to both webhooks: Slack first). */
function messages(sb: Sandbox): { status: string; what: string }[] {
    const all = bodies(sb);
    const out: { status: string; what: string }[] = [];
    for (let i = 0; i < all.length; i += 2) {
        assert.equal(all[i].url, SLACK_URL, "the Slack webhook first");
        assert.equal(all[i + 1].url, JSON_URL, "then the JSON webhook");
        const j = all[i + 1].json;
        assert.match(all[i].json.text, new RegExp(`${j.status === "firing" ? "ALERT" : j.status === "resolved" ? "RESOLVED" : ""}.*${escape(j.what)}`));
        out.push({ status: j.status, what: j.what });
    }
    return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function noSecrets(sb: Sandbox): void {
    for (const b of bodies(sb)) for (const t of TOKENS) assert.ok(!b.text.includes(t), `a body holds a webhook token: ${b.text}`);
    const argv = fs.readFileSync(path.join(sb.stub, "argv.log"), "utf8");
    for (const t of TOKENS) assert.ok(!argv.includes(t), "a webhook token in curl's argv");
}

describe("alerts: the sender and the check under bash", () => {
    test("a failed unit (OnFailure=): one alert, nothing while it stays failed, one resolved, then nothing", () => {
        const sb = sandbox();
        const unit = "berth-shop-alerts-worker.service";
        assert.equal(run(sb, sb.sender, ["unit", unit]).status, 0);
        fs.writeFileSync(path.join(sb.stub, "failed"), `${unit} loaded failed failed berth worker\n`);
        run(sb, sb.check);
        assert.equal(run(sb, sb.sender, ["unit", unit]).status, 0);
        fs.rmSync(path.join(sb.stub, "failed"));
        run(sb, sb.check);
        run(sb, sb.check);
        assert.deepEqual(messages(sb), [
            { status: "firing", what: `unit ${unit} failed` },
            { status: "resolved", what: `unit ${unit} failed` },
        ]);
        const j = bodies(sb)[1].json;
        assert.deepEqual(Object.keys(j).sort(), ["app", "host", "logs", "since", "source", "stack", "status", "what"]);
        assert.equal(j.stack, "alerts");
        assert.equal(j.host, "main (203.0.113.60)");
        assert.equal(j.logs, "npx berth logs -s alerts worker");
        assert.match(j.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        noSecrets(sb);
    });
    test("a failed backup, restore test, schedule and process name their berth logs command or journalctl", () => {
        const sb = sandbox();
        for (const u of ["berth-shop-alerts-backup.service", "berth-shop-alerts-restore-test.service", "berth-shop-alerts-schedule-digest.service", "berth-shop-alerts-mailer@2.service", "berth-shop-alerts-web@blue.service"]) {
            assert.equal(run(sb, sb.sender, ["unit", u]).status, 0);
        }
        const js = bodies(sb).filter((b) => b.url === JSON_URL).map((b) => [b.json.what, b.json.logs]);
        assert.deepEqual(js, [
            ["backup failed (berth-shop-alerts-backup.service)", "journalctl -u berth-shop-alerts-backup.service on host main (203.0.113.60)"],
            ["restore test failed (berth-shop-alerts-restore-test.service)", "journalctl -u berth-shop-alerts-restore-test.service on host main (203.0.113.60)"],
            ["schedule failed (berth-shop-alerts-schedule-digest.service)", "npx berth logs -s alerts digest"],
            ["unit berth-shop-alerts-mailer@2.service failed", "npx berth logs -s alerts mailer"],
            ["unit berth-shop-alerts-web@blue.service failed", "npx berth logs -s alerts web"],
        ]);
        assert.equal(run(sb, sb.sender, ["unit", "ssh.service"]).status, 64, "not a unit of this stack");
    });
    test("a full disk: one alert, one resolved", () => {
        const sb = sandbox();
        fs.writeFileSync(path.join(sb.stub, "df"), "95");
        run(sb, sb.check);
        run(sb, sb.check);
        fs.writeFileSync(path.join(sb.stub, "df"), "50");
        run(sb, sb.check);
        run(sb, sb.check);
        // diskPaths [/, /srv] both read 95 from the stub: one alert each.
        assert.deepEqual(messages(sb), [
            { status: "firing", what: "disk / is 95% full (alert above 90%)" },
            { status: "firing", what: "disk /srv is 95% full (alert above 90%)" },
            { status: "resolved", what: "disk / is 95% full (alert above 90%)" },
            { status: "resolved", what: "disk /srv is 95% full (alert above 90%)" },
        ]);
        noSecrets(sb);
    });
    test("an expiring certificate: one alert, one resolved once renewed", () => {
        const sb = sandbox();
        const cert = path.join(sb.root, `/etc/letsencrypt/live/${cfg.names.certName}/cert.pem`);
        fs.mkdirSync(path.dirname(cert), { recursive: true });
        fs.writeFileSync(cert, "x");
        fs.writeFileSync(path.join(sb.stub, "cert-expiring"), "");
        run(sb, sb.check);
        run(sb, sb.check);
        fs.rmSync(path.join(sb.stub, "cert-expiring"));
        run(sb, sb.check);
        const what = "certificate berth-shop-alerts expires Dec 20 00:00:00 2026 GMT (less than 14 days left: is its renewal failing?)";
        assert.deepEqual(messages(sb), [
            { status: "firing", what },
            { status: "resolved", what },
        ]);
    });
    test("health through nginx: nothing before healthFailMinutes, then one alert with its start, one resolved", () => {
        const c = alertsConfigFor({ "berth:autoRollback": undefined });
        const sb = sandbox(c);
        fs.writeFileSync(path.join(sb.stub, "health"), "502");
        run(sb, sb.check);
        assert.deepEqual(bodies(sb), [], "failing for less than 3 minutes");
        const since = Math.floor(Date.now() / 1000) - 200;
        fs.writeFileSync(path.join(sb.root, A.stateDir, "health.failing"), `${since}\n`);
        run(sb, sb.check);
        run(sb, sb.check);
        fs.writeFileSync(path.join(sb.stub, "health"), "200");
        run(sb, sb.check);
        const what = "health https://alerts.shop.example.com/up through nginx fails (last answer 502)";
        assert.deepEqual(messages(sb), [
            { status: "firing", what },
            { status: "resolved", what },
        ]);
        assert.equal(bodies(sb)[1].json.since, new Date(since * 1000).toISOString().replace(/\.\d+Z$/, "Z"));
        assert.ok(!fs.existsSync(path.join(sb.root, A.stateDir, "health.failing")));
        noSecrets(sb);
    });
    test("an undelivered alert is not recorded: the next check sends it", () => {
        const sb = sandbox();
        fs.writeFileSync(path.join(sb.stub, "df"), "97");
        fs.writeFileSync(path.join(sb.stub, "curl-fail"), "");
        run(sb, sb.check);
        assert.deepEqual(fs.readdirSync(path.join(sb.root, A.stateDir)).filter((f) => f.endsWith(".firing")), []);
        fs.rmSync(path.join(sb.stub, "curl-fail"));
        run(sb, sb.check);
        assert.equal(messages(sb).filter((m) => m.status === "firing").length, 2);
    });
    test("JSON escaping: quotes, backslashes and newlines in a message stay one valid body", () => {
        const sb = sandbox();
        assert.equal(run(sb, sb.sender, ["event", 'deploy "v2" by a\\b\nnext line\ttab']).status, 0);
        const [slack, json] = bodies(sb);
        assert.equal(json.json.what, 'deploy "v2" by a\\b\nnext line\ttab');
        assert.match(slack.json.text, /deploy "v2" by a\\b\nnext line\ttab/);
        assert.equal(json.json.status, "event");
    });
});

describe("automatic rollback under bash", () => {
    const n = cfg.names;
    function deployed(sb: Sandbox, opts: { switchedAgo: number; failingFor: number }): void {
        const r = (p: string) => path.join(sb.root, p);
        for (const rev of ["bad", "good"]) fs.mkdirSync(r(`${n.root}/releases/${rev}`), { recursive: true });
        fs.mkdirSync(r(`${n.root}/slots`), { recursive: true });
        fs.mkdirSync(r(`${n.root}/state`), { recursive: true });
        fs.mkdirSync(r("/run/lock"), { recursive: true });
        fs.symlinkSync(r(`${n.root}/releases/bad`), r(`${n.root}/slots/blue`));
        fs.symlinkSync(r(`${n.root}/releases/good`), r(`${n.root}/slots/green`));
        fs.writeFileSync(r(`${n.root}/slots/blue.env`), "PORT=1\nREVISION=bad\n");
        fs.writeFileSync(r(`${n.root}/slots/green.env`), "PORT=2\nREVISION=good\n");
        fs.symlinkSync(`${n.runDir}/blue.sock`, r(n.webSocket));
        fs.symlinkSync(`${n.root}/releases/bad`, r(`${n.root}/current`));
        fs.writeFileSync(r(`${n.root}/state/color`), "blue\n");
        fs.writeFileSync(r(`${n.root}/state/revision`), "bad\n");
        const now = Date.now() / 1000;
        fs.utimesSync(r(`${n.root}/state/revision`), now - opts.switchedAgo, now - opts.switchedAgo);
        fs.mkdirSync(r(A.stateDir), { recursive: true });
        fs.writeFileSync(r(`${A.stateDir}/health.failing`), `${Math.floor(now - opts.failingFor)}\n`);
        fs.writeFileSync(path.join(sb.stub, "health"), "500");
    }
    const read = (sb: Sandbox, p: string) => fs.readFileSync(path.join(sb.root, p), "utf8").trim();

    test("health failing 2 min within 10 min of the switch: traffic back to the kept release, one notice, never twice", () => {
        const sb = sandbox();
        deployed(sb, { switchedAgo: 200, failingFor: 130 });
        run(sb, sb.check);
        assert.equal(fs.readlinkSync(path.join(sb.root, n.webSocket)), `${n.runDir}/green.sock`);
        assert.equal(fs.readlinkSync(path.join(sb.root, `${n.root}/current`)), `${n.root}/releases/good`);
        assert.equal(read(sb, `${n.root}/state/color`), "green");
        assert.equal(read(sb, `${n.root}/state/revision`), "good");
        const sys = fs.readFileSync(path.join(sb.stub, "systemctl.log"), "utf8");
        assert.match(sys, /^stop berth-shop-alerts-drain-green\.timer$/m);
        assert.match(sys, /^enable --quiet --no-reload berth-shop-alerts-web@green\.service berth-shop-alerts-proxy@green\.socket$/m);
        assert.match(sys, /^disable --quiet --no-reload berth-shop-alerts-web@blue\.service berth-shop-alerts-proxy@blue\.socket$/m);
        assert.match(sys, /^restart berth-shop-alerts-worker\.service$/m);
        assert.match(fs.readFileSync(path.join(sb.stub, "systemd-run.log"), "utf8"), /--unit=berth-shop-alerts-drain-blue .*Conflicts=berth-shop-alerts-web@blue\.service/);
        // Still failing (the stub), even with the health file's start pushed back: no second rollback, no flap.
        fs.writeFileSync(path.join(sb.root, `${A.stateDir}/health.failing`), `${Math.floor(Date.now() / 1000) - 130}\n`);
        fs.utimesSync(path.join(sb.root, `${n.root}/state/revision`), Date.now() / 1000 - 200, Date.now() / 1000 - 200);
        run(sb, sb.check);
        run(sb, sb.check);
        assert.equal(read(sb, `${n.root}/state/color`), "green");
        const events = messages(sb).filter((m) => m.status === "event");
        assert.equal(events.length, 1, JSON.stringify(messages(sb)));
        assert.match(events[0].what, /^automatic rollback: release bad failed \/up through nginx for 1[23]\ds within 600s of its switch; traffic moved back to the kept release good in \d+ ms\. The stack still names bad: record the rollback with npx berth rollback -s alerts good$/);
        noSecrets(sb);
    });
    test("berth status reads what the sender and the check wrote: the open alerts and the automatic rollback", () => {
        const sb = sandbox();
        deployed(sb, { switchedAgo: 200, failingFor: 130 });
        const backup = "berth-shop-alerts-backup.service";
        assert.equal(run(sb, sb.sender, ["unit", backup]).status, 0);
        fs.writeFileSync(path.join(sb.stub, "failed"), `${backup} loaded failed failed berth backup\n`);
        fs.writeFileSync(path.join(sb.stub, "df"), "95");
        run(sb, sb.check);
        const r = spawnSync("bash", ["-c", alertStatusScript(cfg, sb.root)], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const st = parseAlertStatus(r.stdout);
        const sent = messages(sb).filter((m) => m.status === "firing");
        assert.deepEqual(st.open.map((o) => o.what).sort(), sent.map((m) => m.what).sort(), "every alert sent is open, nothing else");
        const b = st.open.find((o) => o.key === `unit-${backup}`);
        assert.equal(b?.logs, bodies(sb).find((x) => x.url === JSON_URL && x.json.what === b?.what)?.json.logs);
        assert.equal(b?.since, bodies(sb).find((x) => x.url === JSON_URL && x.json.what === b?.what)?.json.since);
        const ev = messages(sb).find((m) => m.status === "event")!;
        assert.equal(st.autoRollbacks.length, 1);
        assert.deepEqual([st.autoRollbacks[0].release, st.autoRollbacks[0].restored], ["bad", "good"]);
        assert.ok(ev.what.includes(`in ${st.autoRollbacks[0].ms} ms`), ev.what);
        assert.ok(Math.abs(Date.parse(st.autoRollbacks[0].at) - Date.now()) < 60_000);
        assert.ok(Math.abs(Date.parse(st.healthFailingSince!) - (Date.now() - 130_000)) < 5_000, "health failing since the start the check keeps");
        // Resolved (the unit no longer failed, the disk emptied, health back): nothing open; the rollback stays on record.
        fs.rmSync(path.join(sb.stub, "failed"));
        fs.writeFileSync(path.join(sb.stub, "df"), "40");
        fs.writeFileSync(path.join(sb.stub, "health"), "200");
        run(sb, sb.check);
        const after = parseAlertStatus(spawnSync("bash", ["-c", alertStatusScript(cfg, sb.root)], { encoding: "utf8" }).stdout);
        assert.deepEqual([after.open, after.healthFailingSince, after.autoRollbacks.length], [[], null, 1]);
    });
    test("not yet (failing 60 s), nor long after the switch (15 min), nor for a failure older than the switch", () => {
        for (const o of [
            { switchedAgo: 200, failingFor: 60 },
            { switchedAgo: 900, failingFor: 300 },
            { switchedAgo: 200, failingFor: 400 },
        ]) {
            const sb = sandbox();
            deployed(sb, o);
            run(sb, sb.check);
            assert.equal(read(sb, `${n.root}/state/color`), "blue", JSON.stringify(o));
            assert.equal(messages(sb).filter((m) => m.status === "event").length, 0, JSON.stringify(o));
        }
    });
    test("the kept release no longer runs (window over): nothing moves, one notice, once", () => {
        const sb = sandbox();
        deployed(sb, { switchedAgo: 200, failingFor: 130 });
        fs.writeFileSync(path.join(sb.stub, "inactive"), "");
        run(sb, sb.check);
        run(sb, sb.check);
        assert.equal(read(sb, `${n.root}/state/color`), "blue");
        assert.deepEqual(
            messages(sb).filter((m) => m.status === "event").map((m) => m.what),
            ["automatic rollback of bad not possible: the kept release good no longer runs (rollback window over)"],
        );
    });
    test("a deploy holding the host lock: the rollback waits for the next check", () => {
        const sb = sandbox();
        deployed(sb, { switchedAgo: 200, failingFor: 130 });
        const lock = path.join(sb.root, "/run/lock/berth-host.lock");
        const holder = spawnSync("bash", ["-c", `flock -o -n "${lock}" env STUB="${sb.stub}" BERTH_ROOT="${sb.root}" BERTH_ALERT="${sb.sender}" PATH="${path.join(sb.dir, "bin")}:$PATH" bash "${sb.check}"`], { encoding: "utf8" });
        assert.equal(holder.status, 0, holder.stderr);
        assert.match(holder.stderr, /holds the host lock/);
        assert.equal(read(sb, `${n.root}/state/color`), "blue");
        run(sb, sb.check);
        assert.equal(read(sb, `${n.root}/state/color`), "green");
    });
});

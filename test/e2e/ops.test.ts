/**
 * Day-2 operations (`berth <op>`, cli/main.ts + cli/) against the dev
 * stack on its own disposable VPS (world `ops`): status, releases, logs,
 * console, exec, verify and repair of hand-made drift (with the site
 * answering throughout), rollback and maintenance mode, and no secret in any
 * output. The operations read the stack the way the applier applies it:
 * `--config <StackConfig file> --state <applier state> --dns-api <url>`.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { Stage, underLoad } from "./kit";
import { ROOT } from "../unit/harness";

let world: World;
let driver: Driver;
let stage: Stage;
let statePath: string;
let configPath: string;
/** Everything the operations printed, for the secret check. */
const printed: string[] = [];

const ID = "sample-dev";

before(async () => {
    world = makeWorld("berth-ops-vps", { fresh: true, services: "ops", domain: "ops.berth.test", prodDomain: "prod.ops.berth.test", repo: "ops-sample" });
    vps(["stage-images", world.vps.name]);
    statePath = path.join(world.work, "state.json");
    configPath = path.join(world.work, "stack-config.json");
    driver = await makeDriver(statePath, world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, { "berth:secretEnv": { SAMPLE_API_TOKEN: { secure: "x" } } });
});

after(() => {
    if (!keepHosts()) removeVps(world.vps.name);
});

/** The stack's configuration as the applier applies it, written where `berth --config` reads it. */
function writeConfig(overrides: Record<string, unknown>): void {
    fs.writeFileSync(configPath, JSON.stringify(stage.cfg(overrides)), { mode: 0o600 });
}

function cliArgs(args: string[]): string[] {
    return ["--import", "tsx", path.join(ROOT, "cli", "main.ts"), "--config", configPath, "--state", statePath, "--dns-api", world.acme.dnsApi, ...args];
}

const CLI_ENV = () => ({ ...process.env, BERTH_REAL_HOME: "1" });

function berth(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, cliArgs(args), { cwd: ROOT, encoding: "utf8", input, timeout: 15 * 60_000, env: CLI_ENV(), maxBuffer: 64 << 20 });
    const out = { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    printed.push(out.stdout, out.stderr);
    return out;
}

/** The same without blocking the event loop (a load loop runs meanwhile). */
function berthAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const p = spawn(process.execPath, cliArgs(args), { cwd: ROOT, env: CLI_ENV(), stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stderr += d));
        p.on("error", reject);
        p.on("close", (code) => {
            printed.push(stdout, stderr);
            resolve({ code: code ?? 1, stdout, stderr });
        });
    });
}

/** GET over plain HTTP (port 80) with curl: the ACME challenge side of the site. */
function httpGet(p: string, host: string): { status: number; body: string } {
    const r = spawnSync("curl", ["-s", "--max-time", "5", "--resolve", `${host}:80:${world.vps.ip}`, "-w", "\n%{http_code}", `http://${host}${p}`], { encoding: "utf8" });
    const lines = (r.stdout ?? "").split("\n");
    return { status: Number(lines.pop()), body: lines.join("\n") };
}

describe("berth operations on the dev stack", () => {
    test("setup: v1 then v2 released (two kept releases)", async () => {
        for (const rev of ["v1", "v2"]) {
            const r = await stage.up({ "berth:revision": rev });
            assert.ok(r.ok, r.error);
        }
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
        writeConfig({ "berth:revision": "v2" });
    });

    test("status: the serving sha and slot, releases, units, containers, certificate expiry", () => {
        const r = berth(["status"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^serving +${world.shas.v2} on (blue|green)`, "m"));
        const j = JSON.parse(berth(["status", "--json"]).stdout);
        assert.equal(j.revision.serving, world.shas.v2);
        assert.match(j.revision.slot, /^(blue|green)$/);
        assert.equal(j.slots[j.revision.slot].release, world.shas.v2);
        assert.deepEqual(j.releases.map((x: any) => x.sha).sort(), [world.shas.v1, world.shas.v2].sort());
        assert.equal(j.units[`berth-${ID}-web@${j.revision.slot}.service`].active, "active");
        assert.equal(j.units[`berth-${ID}-worker.service`].active, "active");
        assert.equal(j.containers[`${ID}-postgres`].status, "running");
        assert.equal(j.containers[`${ID}-postgres`].health, "healthy");
        assert.ok(j.certificates[world.domain].daysLeft > 21, JSON.stringify(j.certificates));
        assert.equal(j.maintenance, false);
    });

    test("releases: kept releases with dates, the serving one marked", () => {
        const r = berth(["releases"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^\\* ${world.shas.v2}  built \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z  serving`, "m"));
        assert.match(r.stdout, new RegExp(`^  ${world.shas.v1}  built \\d{4}-`, "m"));
    });

    test("logs: the web unit's lines, nginx's access log, postgres", async () => {
        await stage.get("/up");
        const web = berth(["logs", "web", "-n", "50"]);
        assert.equal(web.code, 0, web.stderr);
        assert.match(web.stdout, new RegExp(`${ID}-web-(blue|green)\\[\\d+\\]: `), web.stdout);
        const nginx = berth(["logs", "nginx", "-n", "20"]);
        assert.match(nginx.stdout, /"GET \/up HTTP\/[\d.]+" 200/, nginx.stdout);
        const worker = berth(["logs", "worker", "-n", "20"]);
        assert.match(worker.stdout, /worker: \d+ visits/, worker.stdout);
        const pg = berth(["logs", "postgres", "-n", "20"]);
        assert.equal(pg.code, 0, pg.stderr);
        assert.match(pg.stdout + pg.stderr, /database system is ready to accept connections/);
    });

    test("console evaluates Ruby in the app's environment; exec runs as the app user", () => {
        const c = berth(["console"], 'puts "APP_HOST=#{ENV.fetch("APP_HOST")}"\nputs "VISITS=#{Visit.count}"\n');
        assert.equal(c.code, 0, c.stderr);
        assert.match(c.stdout, new RegExp(`^APP_HOST=${world.domain.replace(/\./g, "\\.")}$`, "m"), c.stdout);
        assert.match(c.stdout, /^VISITS=\d+$/m, c.stdout);
        const who = berth(["exec", "--", "id", "-un"]);
        assert.equal(who.code, 0, who.stderr);
        assert.equal(who.stdout.trim(), ID);
        const env = berth(["exec", 'echo "$RAILS_ENV $(pwd -P)"']);
        assert.equal(env.stdout.trim(), `production /srv/berth/${ID}/releases/${world.shas.v2}`);
        assert.notEqual(berth(["exec", "--", "false"]).code, 0, "exec passes the exit status on");
    });

    test("verify: nothing on a clean host", () => {
        const r = berth(["verify"]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^no drift on sample-dev: \d+ files, \d+ units, 2 containers, 1 certificate name,/m);
    });

    test("verify reports a hand-edited site, a stopped worker, a deleted env file, a changed unit; repair fixes them while the site answers", async (t) => {
        const site = `/etc/nginx/sites-available/berth-${ID}-https.conf`;
        const unit = `/etc/systemd/system/berth-${ID}-web@.service`;
        const envFile = `/etc/berth/${ID}/app.env`;
        const edit = onVps(world, [`echo '# hand edit' >> ${site}`, `systemctl stop berth-${ID}-worker.service`, `rm -f ${envFile}`, `sed -i 's/^RestartSec=.*/RestartSec=9/' ${unit}`].join(" && "));
        assert.equal(edit.code, 0, edit.stderr);
        const v = berth(["verify"]);
        assert.equal(v.code, 1, v.stdout);
        const lines = v.stdout.split("\n").filter((l) => l.startsWith("drift: "));
        const expect = [
            new RegExp(`^drift: file ${site}: content differs`),
            new RegExp(`^drift: unit berth-${ID}-worker\\.service: inactive, declared active`),
            new RegExp(`^drift: file ${envFile}: missing`),
            new RegExp(`^drift: file ${unit.replace(/[.@]/g, "\\$&")}: content differs`),
        ];
        for (const e of expect) assert.ok(lines.some((l) => e.test(l)), `${e} not in:\n${v.stdout}`);
        assert.equal(lines.length, expect.length, `only the four differences:\n${v.stdout}`);
        const j = JSON.parse(berth(["verify", "--json"]).stdout);
        assert.equal(j.ok, false);
        assert.equal(j.differences.length, 4);

        const load = stage.loadLoop();
        const t0 = Date.now();
        const r = await berthAsync(["repair"]);
        const stats = await load.stop();
        t.diagnostic(`repair: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${stats.sent} requests, ${stats.failed} failed`);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^no drift on sample-dev/m);
        assert.ok(stats.sent > 10, `only ${stats.sent} requests during the repair`);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
        assert.equal(berth(["verify"]).code, 0);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2, "no release: the same revision serves");
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-worker.service`).stdout.trim(), "active");
    });

    test("rollback: to a kept release, through berth:revision and the switch", async () => {
        const dry = berth(["rollback", world.shas.v1.slice(0, 10), "--dry-run"]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(dry.stdout, new RegExp(`changes berth:revision "v2" -> "${world.shas.v1}"`));
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2, "a dry run changes nothing");
        const r = berth(["rollback", world.shas.v1.slice(0, 10)]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, new RegExp(`rolled back: serving ${world.shas.v1}`));
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        assert.equal(JSON.parse(fs.readFileSync(configPath, "utf8")).values["berth:revision"], world.shas.v1, "the stack's configuration says what runs");
        assert.match(berth(["status"]).stdout, new RegExp(`^serving +${world.shas.v1} `, "m"));
    });

    test("maintenance on: 503 with the page on every path, ACME challenges still served; off: 200 again", async () => {
        const on = berth(["maintenance", "on"]);
        assert.equal(on.code, 0, `${on.stdout}\n${on.stderr}`);
        for (const p of ["/", "/up", "/assets/x.css"]) {
            const res = await stage.get(p);
            assert.equal(res.status, 503, p);
            assert.match(res.body, /Down for maintenance/, p);
        }
        // The release's own page wins when it has one.
        onVps(world, `printf '<h1>sample is resting</h1>\\n' > /srv/berth/${ID}/current/public/maintenance.html`);
        const own = await stage.get("/");
        assert.equal(own.status, 503);
        assert.equal(own.body.trim(), "<h1>sample is resting</h1>");
        const webroot = `/var/www/berth-acme/${ID}/.well-known/acme-challenge`;
        onVps(world, `install -d ${webroot} && printf 'ops-probe-token' > ${webroot}/ops-probe && chmod 0644 ${webroot}/ops-probe`);
        const acme = httpGet("/.well-known/acme-challenge/ops-probe", world.domain);
        assert.equal(acme.status, 200);
        assert.equal(acme.body, "ops-probe-token");
        assert.equal(JSON.parse(berth(["status", "--json"]).stdout).maintenance, true);
        // Maintenance is what the stack now records: verify finds no drift, repair keeps it on.
        const v = berth(["verify"]);
        assert.equal(v.code, 0, `maintenance is declared, not drift:\n${v.stdout}${v.stderr}`);
        const rep = berth(["repair"]);
        assert.equal(rep.code, 0, `${rep.stdout}\n${rep.stderr}`);
        assert.equal((await stage.get("/up")).status, 503, "repair converges toward the recorded maintenance, not away from it");
        const off = berth(["maintenance", "off"]);
        assert.equal(off.code, 0, `${off.stdout}\n${off.stderr}`);
        assert.equal((await stage.get("/up")).status, 200);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1, "no release");
        onVps(world, `rm -f ${webroot}/ops-probe /srv/berth/${ID}/current/public/maintenance.html`);
    });

    test("restart: the web moves to the idle instance under load with 0 failures; restart worker only restarts the worker; an unknown name is refused", async () => {
        const before = JSON.parse(berth(["status", "--json"]).stdout);
        const workerPid = () => onVps(world, `systemctl show -p MainPID --value berth-${ID}-worker.service`).stdout.trim();
        const pid0 = workerPid();
        const load = stage.loadLoop();
        const r = await underLoad(load, () => berthAsync(["restart"]));
        const stats = await load.stop();
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.equal(stats.failed, 0, `failed requests during the restart: ${stats.failures.slice(0, 5).join("; ")}`);
        assert.ok(stats.sent > 10, `${stats.sent} requests`);
        const after = JSON.parse(berth(["status", "--json"]).stdout);
        assert.equal(after.revision.serving, before.revision.serving, "the same release serves");
        assert.notEqual(after.revision.slot, before.revision.slot, "on the other instance");
        assert.notEqual(workerPid(), pid0, "restart restarts the worker too");

        const slot = after.revision.slot;
        const pid1 = workerPid();
        const w = berth(["restart", "worker"]);
        assert.equal(w.code, 0, `${w.stdout}\n${w.stderr}`);
        assert.notEqual(workerPid(), pid1, "the worker restarted");
        assert.equal(JSON.parse(berth(["status", "--json"]).stdout).revision.slot, slot, "the web did not move");

        const bad = berth(["restart", "nope"]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /known: .*web.*worker/);
        const v = berth(["verify"]);
        assert.equal(v.code, 0, `no drift after the restarts:\n${v.stdout}`);
    });

    test("stop: maintenance recorded and the worker stopped; start: serving again with the worker", async () => {
        const stop = berth(["stop", "--yes"]);
        assert.equal(stop.code, 0, `${stop.stdout}\n${stop.stderr}`);
        assert.equal((await stage.get("/up")).status, 503);
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-worker.service`).stdout.trim(), "inactive");
        assert.equal(JSON.parse(berth(["status", "--json"]).stdout).maintenance, true);
        const start = berth(["start", "--yes"]);
        assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}`);
        assert.equal((await stage.get("/up")).status, 200);
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-worker.service`).stdout.trim(), "active");
        assert.equal(JSON.parse(berth(["status", "--json"]).stdout).maintenance, false);
    });

    test("db: SQL as the app role on stdin or -c, errors exit non-zero, no password in the host's process list", () => {
        const who = berth(["db", "-c", "select current_user"]);
        assert.equal(who.code, 0, who.stderr);
        assert.match(who.stdout, /sample_dev/);
        const piped = berth(["db"], "select count(*) from visits;\n");
        assert.equal(piped.code, 0, piped.stderr);
        assert.match(piped.stdout, /^\s*\d+\s*$/m);
        assert.notEqual(berth(["db", "-c", "select 1/0"]).code, 0, "an SQL error is the exit status");
    });

    test("no secret value appears in any output of the operations", () => {
        const secrets = driver.secrets();
        assert.ok(secrets.length >= 6, `knows ${secrets.length} secrets`);
        const text = printed.join("\n");
        assert.ok(text.length > 2000, "inspected real output");
        for (const s of secrets) {
            assert.ok(!text.includes(s), "a secret appears in the output of an operation");
            for (const line of s.split("\n")) if (line.length >= 16) assert.ok(!text.includes(line), "a line of a secret key appears in an output");
        }
    });
});

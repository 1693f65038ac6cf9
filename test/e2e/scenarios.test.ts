/**
 * End-to-end scenarios on a disposable VPS (see test/e2e/README.md). The
 * program is driven by the test applier (test/e2e/applier.ts) or, when a
 * `pulumi` binary is on PATH, by the real engine through the Automation API
 * (test/e2e/automation.ts). Scenarios run in order and share the host.
 *
 * BERTH_BENCH_OUT=<file> writes the figures of scenarios 1-5 as JSON.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { devConfig, keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { Stage, tcpRefused } from "./kit";

let world: World;
let driver: Driver;
let stage: Stage;
const figures: Record<string, unknown> = {};
/** The passwords as scenario 8 leaves them rotated (later scenarios keep them, so nothing else changes). */
const ROTATED = { "berth:redis": { image: "berth-local/redis:7", passwordRotation: "3" }, "berth:postgres": { image: "berth-local/postgres:15", passwordRotation: "2" } };

before(async () => {
    world = makeWorld(undefined, { fresh: true });
    // No registry is reachable: the locally built Postgres and Redis images
    // are staged on the fresh host and loaded when berth's docker step first
    // starts the engine (what a registry pull would have provided).
    vps(["stage-images", world.vps.name]);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, { "berth:secretEnv": { SAMPLE_API_TOKEN: { secure: "x" } } });
});

after(() => {
    if (process.env.BERTH_BENCH_OUT) fs.writeFileSync(process.env.BERTH_BENCH_OUT, JSON.stringify(figures, null, 2));
    if (!keepHosts()) removeVps(world.vps.name);
});

describe("berth on a disposable VPS", () => {
    test("1. fresh host -> up: HTTPS, health, units, closed data ports, hardened SSH, firewall", async () => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        figures.freshProvisionSeconds = r.seconds;
        await stage.fetchPebbleRoot();
        for (const p of ["/up", "/health/db", "/health/redis"]) {
            const res = await stage.get(p);
            assert.equal(res.status, 200, `${p}: ${res.body}`);
        }
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        const active = onVps(world, "systemctl is-active berth-sample-dev-web@blue.service berth-sample-dev-web@green.service");
        assert.match(active.stdout, /^active$/m);
        assert.equal(workerRelease(), world.shas.v1, "the worker runs the current release");
        const pgPort = Number(r.outputs.postgresPort ?? 0) || portsFromState().postgres;
        const redisPort = portsFromState().redis;
        assert.ok(await tcpRefused(world.vps.ip, pgPort), `postgres ${pgPort} reachable from outside`);
        assert.ok(await tcpRefused(world.vps.ip, redisPort), `redis ${redisPort} reachable from outside`);
        const inside = onVps(world, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${pgPort}' && echo open`);
        assert.match(inside.stdout, /open/, "postgres answers on the host's loopback");
        const methods = stage.ssh(["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=0", `tester@${world.vps.ip}`, "true"]);
        assert.match(methods, /Permission denied \(publickey\)/, methods);
        assert.match(onVps(world, "ufw status").stdout, /Status: active/);
    });

    test("1b. the app as rails new wrote it: GET /, and a form POST with its CSRF token creates a row that is listed", async () => {
        const home = await stage.get("/");
        assert.equal(home.status, 200, home.body);
        assert.match(home.body, /<h1>berth sample app<\/h1>/);
        const form = await stage.request("GET", "/notes/new");
        assert.equal(form.status, 200, form.body);
        const token = /name="authenticity_token" value="([^"]+)"/.exec(form.body)?.[1];
        assert.ok(token, "the generated form carries a CSRF token");
        const cookie = ([] as string[]).concat(form.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
        assert.match(cookie, /_sample_session=/, "the session cookie holds the token's secret");
        const title = `note ${Date.now()}`;
        const body = new URLSearchParams({ authenticity_token: token, "note[title]": title, "note[body]": "written through the generated scaffold" }).toString();
        const headers = { "content-type": "application/x-www-form-urlencoded", cookie };
        const forged = await stage.request("POST", "/notes", { headers: { "content-type": headers["content-type"] }, body });
        assert.equal(forged.status, 422, `a POST without the session's CSRF secret is refused: ${forged.status}`);
        const created = await stage.request("POST", "/notes", { headers, body });
        assert.equal(created.status, 302, created.body);
        assert.match(String(created.headers.location), /^https:\/\/[^/]+\/notes\/\d+$/, "redirected to the new note over https");
        const list = await stage.get("/notes");
        assert.equal(list.status, 200);
        assert.ok(list.body.includes(title), "the new row is listed");
    });

    test("2. second up with no change: nothing runs", async () => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        figures.noopSeconds = r.seconds;
        figures.noopCommands = r.commands.length;
        assert.deepEqual(r.commands.map((c) => `${c.phase} ${c.resource}`), []);
        assert.deepEqual(r.dockerChanges, []);
    });

    test("3. new revision under load: zero failed requests", async () => {
        const load = stage.loadLoop();
        const r = await stage.up({ "berth:revision": "v2" });
        const stats = await load.stop();
        assert.ok(r.ok, r.error);
        figures.releaseSeconds = r.seconds;
        figures.releaseRequests = stats.sent;
        figures.releaseFailedRequests = stats.failed;
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
        assert.equal(workerRelease(), world.shas.v2, "the worker restarted on the new release");
        assert.ok(stats.sent > 10, `only ${stats.sent} requests sent`);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
    });

    test("4. broken revision: up fails clearly, the old release keeps serving", async () => {
        const load = stage.loadLoop();
        const r = await stage.up({ "berth:revision": "broken" });
        const stats = await load.stop();
        figures.brokenRequests = stats.sent;
        figures.brokenFailedRequests = stats.failed;
        assert.equal(r.ok, false, "the broken release must fail the up");
        assert.match(r.error ?? "", new RegExp(`release ${world.shas.broken} is unhealthy`));
        assert.match(r.error ?? "", /Last log lines/);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
    });

    test("5. rollback to the previous revision: fast, no rebuild", async () => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        figures.rollbackSeconds = r.seconds;
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        const checkout = r.commands.find((c) => c.resource.endsWith("-checkout"));
        assert.ok(checkout, "the checkout ran for the new revision");
        assert.match(checkout.stdout, /already built; reusing it/);
        assert.ok(r.seconds < 30, `rollback took ${r.seconds}s`);
    });

    test("6. secret rotation (Redis password and role password): the app keeps working", async () => {
        const before = onVps(world, "cat /etc/berth/sample-dev/app.env").stdout;
        const r = await stage.up({ "berth:revision": "v1", "berth:redis": { image: "berth-local/redis:7", passwordRotation: "2" }, "berth:postgres": { image: "berth-local/postgres:15", passwordRotation: "2" } });
        assert.ok(r.ok, r.error);
        const after = onVps(world, "cat /etc/berth/sample-dev/app.env").stdout;
        assert.notEqual(after, before, "the env file changed");
        for (const p of ["/up", "/health/db", "/health/redis"]) assert.equal((await stage.get(p)).status, 200, p);
    });

    test("8. secret hygiene: no secret in ps, journal, unit files, nginx files or recorded outputs", async () => {
        // Watch the process list during a deploy that restarts the app.
        const watcher = stage.onVpsBackground("for i in $(seq 1 600); do ps -eo args; sleep 0.1; done > /root/ps.log");
        const r = await stage.up({ "berth:revision": "v2", ...ROTATED });
        watcher.kill();
        assert.ok(r.ok, r.error);
        const secrets = driver.secrets();
        assert.ok(secrets.length >= 6, `knows ${secrets.length} secrets`);
        const places: Record<string, string> = {
            ps: onVps(world, "cat /root/ps.log").stdout,
            journal: onVps(world, "journalctl --no-pager -o cat").stdout,
            units: onVps(world, "cat /etc/systemd/system/berth-* 2>/dev/null").stdout,
            nginx: onVps(world, "cat /etc/nginx/sites-available/berth-* /etc/nginx/berth/* 2>/dev/null").stdout,
            outputs: JSON.stringify(driver.allCommandRuns()),
        };
        assert.ok(places.ps.length > 1000 && places.units.includes("ExecStart"), "inspected something real");
        for (const [where, text] of Object.entries(places)) {
            for (const s of secrets) assert.ok(!text.includes(s), `a secret appears in ${where}`);
        }
    });

    test("9. an app that redirects the probe: up fails saying so, the old release keeps serving", async () => {
        const r = await stage.up({ "berth:revision": "redirect", ...ROTATED });
        assert.equal(r.ok, false, "a release whose /up redirects must fail the up");
        assert.match(r.error ?? "", new RegExp(`release ${world.shas.redirect} is unhealthy`));
        assert.match(r.error ?? "", new RegExp(`/up answered 301 to https://www\\.${world.domain.replace(/\./g, "\\.")}/up`), r.error);
        assert.match(r.error ?? "", /redirects the probe/, r.error);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
    });

    test("10. JS bundling: the release installs the lockfile and serves its bundle; a rollback keeps the old manifest and the kept release's assets", async () => {
        const r = await stage.up({ "berth:revision": "jsbundling", ...ROTATED });
        assert.ok(r.ok, r.error);
        const home = await stage.get("/");
        assert.equal(home.status, 200, home.body);
        const script = /<script src="(\/assets\/application-[0-9a-f]+\.js)"/.exec(home.body)?.[1];
        assert.ok(script, `the layout links the bundle: ${home.body.slice(0, 400)}`);
        const bundle = await stage.get(script);
        assert.equal(bundle.status, 200);
        assert.match(bundle.body, /berth-jsbundling-ok/, "the bundle holds the dependency npm ci installed");
        const checkout = r.commands.find((c) => c.resource.endsWith("-checkout"));
        assert.match(checkout?.stdout ?? "", /npm ci/, "the build ran the lockfile-exact install");
        // Back to v2 (kept, inside the rollback window): its own manifest serves (no script tag),
        // and the bundle of the kept jsbundling release still answers for pages rendered before.
        const back = await stage.up({ "berth:revision": "v2", ...ROTATED });
        assert.ok(back.ok, back.error);
        const v2home = await stage.get("/");
        assert.doesNotMatch(v2home.body, /application-[0-9a-f]+\.js/, "v2's page links no bundle: its own manifest");
        assert.equal((await stage.get(script)).status, 200, "a kept release's fingerprinted asset stays available");
    });

    test("7. destroy: dev removes everything; production destroy is refused and production keeps serving", async () => {
        const r = await driver.destroy(stage.cfg());
        assert.ok(r.ok, r.error);
        const left = onVps(world, "ls /etc/systemd/system | grep -c berth-sample-dev; ls /etc/nginx/sites-enabled | grep -c berth-sample-dev; docker ps -a --format '{{.Names}}' | grep -c sample-dev; ls /srv/berth | grep -c sample-dev; true");
        assert.deepEqual(left.stdout.trim().split("\n"), ["0", "0", "0", "0"], left.stdout);

        const prodDriver = await makeDriver(path.join(world.work, "state-production.json"), world.acme.dnsApi, "production");
        const prod = devConfig(world, { "berth:revision": world.shas.v1, "berth:domain": world.prodDomain, "berth:env": { APP_HOST: world.prodDomain } }, "production");
        const upProd = await prodDriver.up(prod);
        assert.ok(upProd.ok, upProd.error);
        const rows = () => onVps(world, "docker exec sample-production-postgres psql -U postgres -d sample_production -Atc 'select count(*) from visits'");
        assert.equal((await stage.get("/up", 5000, world.prodDomain)).status, 200);
        await stage.get("/", 5000, world.prodDomain); // a visit row
        const rowsBefore = rows().stdout.trim();
        // The real destroy semantics: every unprotected resource is deleted, protected ones fail on their own.
        const refused = await prodDriver.destroy(prod);
        assert.equal(refused.ok, false, "a production destroy is refused");
        assert.match(refused.error ?? "", /cannot be deleted\nbecause it is protected/);
        for (const p of ["/up", "/health/db", "/health/redis"]) {
            const res = await stage.get(p, 5000, world.prodDomain);
            assert.equal(res.status, 200, `production after the refused destroy: ${p}: ${res.body}`);
        }
        assert.equal(rows().stdout.trim(), rowsBefore, "production rows intact");
        prodDriver.unprotectAll();
        const destroyed = await prodDriver.destroy(prod);
        assert.ok(destroyed.ok, destroyed.error);
        const vols = onVps(world, "docker volume ls --format '{{.Name}}'").stdout;
        assert.match(vols, /^sample-production-pgdata$/m, "production Postgres data survives");
        assert.match(vols, /^sample-production-redisdata$/m);
    });
});

/** The release the worker process runs in (its working directory, resolved). */
function workerRelease(): string {
    const r = onVps(world, "systemctl is-active --quiet berth-sample-dev-worker.service && readlink /proc/$(systemctl show -p MainPID --value berth-sample-dev-worker.service)/cwd");
    assert.equal(r.code, 0, `worker not running: ${r.stdout}${r.stderr}`);
    return path.basename(r.stdout.trim());
}

function portsFromState(): { postgres: number; redis: number } {
    const ports = driver.containerPorts();
    return { postgres: ports["sample-dev-postgres"], redis: ports["sample-dev-redis"] };
}




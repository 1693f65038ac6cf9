/**
 * berth:frontend and the soak (issue 19 items 1 and 2) on a fresh Debian 13
 * VPS of its own (world `frontend`): the dev stack with a static frontend at
 * the root and the app under /api/, `berth:soakSeconds` 6. The frontend's
 * build needs no package: it writes an index.html naming the revision
 * ($REVISION) and one fingerprinted stylesheet into $OUT.
 *
 * 1. v1 + frontend v1: the site answers at /, the app at /api/, the cache
 *    headers (HTML no-cache, fingerprinted files immutable for a year).
 * 2. v2 + frontend v2 go live in order: the backend's switch (the socket
 *    symlink's time on the host), then the soak, then the frontend's publish
 *    (its recorded time), at least soakSeconds apart.
 * 3. A frontend-only change (back to frontend v1) under load on /: no switch
 *    and no soak run, the serving instance's PID unchanged, 0 failed requests.
 * 4. A backend that turns unhealthy during the soak (`hostcheck`, whose /up
 *    fails once /etc/berth-e2e-unhealthy exists, made 2.5 s after the
 *    switch, so the first probes pass): the up fails naming the probe, v2
 *    serves again, the frontend stays on v1.
 * 5. The same configuration again, healthy: the soak switches to the release
 *    again, passes, and the frontend is published.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { Stage, underLoad, writeBenchSection } from "./kit";
import { deriveNames, frontendNames } from "../../lib/names";

let world: World;
let driver: Driver;
let stage: Stage;

const SOAK = 6;
const names = deriveNames("sample", "dev");
const fe = frontendNames(names);
const MARKER = "/etc/berth-e2e-unhealthy";
const BUILD = 'mkdir -p "$OUT/css" && printf "<!doctype html><title>berth</title><p id=rev>%s</p>" "$REVISION" > "$OUT/index.html" && printf "body{color:#123}" > "$OUT/css/site.0123abcd.css"';

const frontend = (sha: string) => ({ "berth:frontend": { build: BUILD, revision: sha, mount: "root", appPath: "/api" } });

before(async () => {
    world = makeWorld("berth-frontend-vps", { fresh: true, services: "frontend", domain: "frontend.berth.test", prodDomain: "prod.frontend.berth.test", repo: "frontend-sample" });
    vps(["stage-images", world.vps.name]);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, { "berth:soakSeconds": SOAK });
});

/** Figures for `npm run bench` (BERTH_FRONTEND_BENCH_OUT): bench/frontend.json and the "Frontend and soak" section of bench/README.md. */
const figures: Record<string, number> = {};

after(() => {
    const out = process.env.BERTH_FRONTEND_BENCH_OUT;
    if (out && Object.keys(figures).length > 0) writeBench(out);
    if (!keepHosts()) removeVps(world.vps.name);
});

function writeBench(out: string): void {
    const results = { measuredAt: new Date().toISOString(), soakSeconds: SOAK, ...figures };
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    const s = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "n/a" : v.toFixed(2));
    writeBenchSection(path.join(path.dirname(out), "README.md"), "frontend", [
        "## Frontend and soak",
        "",
        `Measured by \`npm run bench\` (test/e2e/frontend.test.ts), ${results.measuredAt}: a release of backend and frontend with \`berth:soakSeconds\` ${SOAK}, then a frontend-only change under load on \`/\`.`,
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        `| soak command beyond soakSeconds (s) | ${s(figures.soakOverheadSeconds)} |  |`,
        `| frontend published, seconds after the backend's switch | ${s(figures.publishAfterSwitchSeconds)} | >= ${SOAK} |`,
        `| frontend-only change: up (s) | ${s(figures.frontendOnlyUpSeconds)} |  |`,
        `| frontend-only change: requests on / / failed | ${figures.frontendOnlyRequests} / ${figures.frontendOnlyFailed} | 0 failed |`,
    ]);
}

function sh(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    return r.stdout.trim();
}

/** The serving instance: colour and its unit's main PID. */
function serving(): { color: string; pid: string } {
    const color = sh(`cat ${names.root}/state/color`);
    return { color, pid: sh(`systemctl show -p MainPID --value ${names.webUnit}${color}.service`) };
}

const ran = (r: { commands: { resource: string }[] }, suffix: string) => r.commands.some((c) => c.resource.endsWith(suffix));
const shas = () => world.shas as World["shas"] & { hostcheck: string };

describe("a static frontend published after the backend's soak", () => {
    test("1. v1 + frontend v1: the frontend at /, the app under /api/, cache headers", async () => {
        const r = await stage.up({ "berth:revision": "v1", ...frontend(world.shas.v1) });
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        const home = await stage.request("GET", "/");
        assert.equal(home.status, 200);
        assert.match(home.body, new RegExp(`<p id=rev>${world.shas.v1}</p>`));
        assert.equal(home.headers["cache-control"], "no-cache");
        const css = await stage.request("GET", "/css/site.0123abcd.css");
        assert.equal(css.status, 200);
        assert.equal(css.headers["cache-control"], "public, max-age=31536000, immutable");
        assert.equal((await stage.get("/api/version")).body.trim(), world.shas.v1);
        assert.equal((await stage.get("/api/up")).status, 200);
        assert.match(sh(`cat ${fe.soakState}`), new RegExp(` ${world.shas.v1} passed \\d+ probes`));
    });

    test("2. v2 + frontend v2 go live in order: switch, soak, then the frontend", async (t) => {
        const r = await stage.up({ "berth:revision": "v2", ...frontend(world.shas.v2) });
        assert.ok(r.ok, r.error);
        const switched = Number(sh(`stat -c %.9Y ${names.webSocket}`));
        const [published, publishedSha] = sh(`cat ${fe.published}`).split(" ");
        assert.equal(publishedSha, world.shas.v2);
        const soakMs = r.commands.find((c) => c.resource.endsWith("-soak-soak"))?.ms ?? NaN;
        t.diagnostic(`soak command: ${(soakMs / 1000).toFixed(2)} s for soakSeconds ${SOAK} (overhead ${(soakMs / 1000 - SOAK).toFixed(2)} s); up ${r.seconds.toFixed(1)} s`);
        t.diagnostic(`backend switched at ${switched}, frontend published at ${published} (${(Number(published) - switched).toFixed(2)} s later; soak ${SOAK} s)`);
        figures.soakOverheadSeconds = soakMs / 1000 - SOAK;
        figures.publishAfterSwitchSeconds = Number(published) - switched;
        assert.ok(Number(published) - switched >= SOAK, `the frontend went live ${Number(published) - switched} s after the switch`);
        assert.equal((await stage.get("/api/version")).body.trim(), world.shas.v2);
        assert.match((await stage.get("/")).body, new RegExp(world.shas.v2));
        assert.match(sh(`cat ${fe.soakState}`), new RegExp(` ${world.shas.v2} passed \\d+ probes`));
    });

    test("3. a frontend-only change under load on /: no switch, no soak, the same PID, 0 failed requests", async (t) => {
        const before = serving();
        const load = stage.loadLoop(20000, 10 * 60_000, "/");
        const r = await underLoad(load, () => stage.up({ "berth:revision": "v2", ...frontend(world.shas.v1) }));
        const stats = load.stats;
        assert.ok(r.ok, r.error);
        t.diagnostic(`frontend switch: ${r.seconds.toFixed(1)} s, ${stats.sent} requests on /, ${stats.failed} failed`);
        Object.assign(figures, { frontendOnlyUpSeconds: r.seconds, frontendOnlyRequests: stats.sent, frontendOnlyFailed: stats.failed });
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
        assert.ok(stats.sent > 5, `only ${stats.sent} requests`);
        assert.ok(ran(r, "-frontend-build") && ran(r, "-frontend-publish"), r.commands.map((c) => c.resource).join(", "));
        assert.ok(!ran(r, "-switch-switch") && !ran(r, "-soak-soak"), r.commands.map((c) => c.resource).join(", "));
        assert.deepEqual(serving(), before);
        assert.match((await stage.get("/")).body, new RegExp(world.shas.v1));
        assert.equal((await stage.get("/api/version")).body.trim(), world.shas.v2);
    });

    test("4. a backend unhealthy during the soak: rolled back to v2, the frontend stays on v1, the up names the probe", async (t) => {
        const hc = shas().hostcheck;
        assert.ok(hc, "sample-repo.sh printed the hostcheck sha");
        onVps(world, `rm -f ${MARKER}`);
        const up = stage.up({ "berth:revision": hc, ...frontend(hc) });
        // Healthy through its switch; /up starts failing 2.5 s after the switch moved traffic (state/revision is written then).
        let marked = false;
        const t0 = Date.now();
        while (!marked && Date.now() - t0 < 5 * 60_000) {
            if (onVps(world, `[ "$(cat ${names.root}/state/revision)" = ${hc} ] && sleep 2.5 && touch ${MARKER}`).code === 0) marked = true;
            else await sleep(200);
        }
        const r = await up;
        onVps(world, `rm -f ${MARKER}`);
        assert.ok(marked, "the switch to hostcheck happened");
        assert.equal(r.ok, false);
        t.diagnostic((r.error ?? "").split("\n").filter((l) => l.includes("berth:")).join("\n"));
        assert.match(r.error ?? "", new RegExp(`soak of release ${hc} failed: probe ([2-9]|\\d\\d): GET https://${world.domain.replace(/\./g, "\\.")}/api/up answered 500 at \\d{4}-`));
        assert.match(r.error ?? "", new RegExp(`rolled back: ${world.shas.v2} serves again`));
        assert.equal((await stage.get("/api/version")).body.trim(), world.shas.v2);
        assert.match((await stage.get("/")).body, new RegExp(world.shas.v1), "the frontend was not published");
        assert.match(sh(`cat ${fe.soakState}`), new RegExp(` ${hc} failed: probe`));
    });

    test("5. the same release again, healthy: switched again by the soak, soaked, then published", async () => {
        const hc = shas().hostcheck;
        const r = await stage.up({ "berth:revision": hc, ...frontend(hc) });
        assert.ok(r.ok, r.error);
        assert.ok(ran(r, "-soak-soak") && ran(r, "-frontend-publish"));
        assert.equal((await stage.get("/api/version")).body.trim(), hc);
        assert.match((await stage.get("/")).body, new RegExp(hc));
    });
});

/**
 * berth on several hosts (see test/e2e/README.md, "Several hosts"): one
 * `berth:hosts` stack on three disposable VPS of its own — web1 (web +
 * worker), web2 (web), data (Postgres and Redis) — with certificates over
 * DNS-01 (certbot's manual hooks writing into the world's test DNS) and one A
 * record per web host. Scenarios run in order and share the hosts; every `up`
 * follows a preview whose announced steps must match.
 *
 * BERTH_E2E_PRIVATE_NETWORK=network gives each host a `privateAddress` (its
 * address on the test network, standing in for a provider's private
 * network) instead of berth's WireGuard mesh (the default: no
 * `privateAddress`). BERTH_E2E_KEEP=1 leaves the hosts running.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Fleet, FLEET_HOSTS, FLEET_WEB_HOSTS, FleetHost, keepHosts, makeFleet, removeFleet } from "./world";
import { Driver, makeDriver } from "./driver";
import { berthCli, FleetStage, neighbourConnects, pemFingerprint256, tcpRefused, underLoad, writeBenchSection } from "./kit";
import { certificatePaths } from "../../components/web/certificate";
import { sitePath } from "../../components/web/nginxSite";
import { dataFirewallNames, scheduleUnitNames } from "../../lib/names";
import { dataAddress } from "../../lib/topology";
import type { CommandRun } from "./providers";

let fleet: Fleet;
let driver: Driver;
let stage: FleetStage;
/** Figures for `npm run bench` (BERTH_MULTI_BENCH_OUT: bench/fleet.json and a section of bench/README.md). */
const figures: Record<string, number> = {};
/** The fleet release's commands: start (s after the first command started) and duration, by resource. */
let releaseTimeline: { resource: string; start: number; seconds: number }[] = [];

before(async () => {
    const privateNetwork = process.env.BERTH_E2E_PRIVATE_NETWORK === "network" ? "network" : "mesh";
    fleet = makeFleet({ privateNetwork });
    driver = await makeDriver(path.join(fleet.work, "state.json"), fleet.acme.dnsApi, "dev");
    stage = new FleetStage(fleet, driver);
});

after(() => {
    if (process.env.BERTH_MULTI_BENCH_OUT && Object.keys(figures).length > 0) writeBench(process.env.BERTH_MULTI_BENCH_OUT);
    if (fleet && !keepHosts()) removeFleet(fleet);
});

describe("berth on three hosts (two web, one data)", () => {
    test("1. fresh hosts -> up: HTTPS 200 from both web hosts, each serving its own certificate from Pebble", async () => {
        const t0 = Date.now();
        const r = await stage.up({ "berth:revision": "v1" });
        figures.freshFleetSeconds = (Date.now() - t0) / 1000;
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        const cfg = stage.config();
        const fingerprints: string[] = [];
        for (const h of FLEET_WEB_HOSTS) {
            for (const p of ["/up", "/health/db", "/health/redis"]) {
                const res = await stage.getVia(h, p);
                assert.equal(res.status, 200, `${h} ${p}: ${res.body}`);
            }
            assert.equal((await stage.getVia(h, "/version")).body.trim(), fleet.shas.v1, `${h} serves v1`);
            // Served on this host's address for the domain: chains to Pebble's root only and names the domain.
            const served = await stage.certificate(h);
            assert.ok(served.authorized, `${h}: the certificate it serves does not verify against Pebble's root: ${served.error}`);
            const own = stage.onHost(h, `cat ${certificatePaths(cfg).cert}`);
            assert.equal(own.code, 0, `${h}: no certificate at ${certificatePaths(cfg).cert}: ${own.stderr}`);
            assert.equal(served.fingerprint256, pemFingerprint256(own.stdout), `${h} serves the certificate it holds`);
            fingerprints.push(served.fingerprint256);
        }
        assert.equal(new Set(fingerprints).size, FLEET_WEB_HOSTS.length, "each web host has a certificate of its own");
        // Roles: the data host serves no HTTPS; the worker runs on web1 only.
        assert.ok(await tcpRefused(fleet.hosts.data.ip, 443), "the data host has no web server");
        assert.equal(stage.onHost("web1", `systemctl is-active ${cfg.names.workerUnit}.service`).stdout.trim(), "active", "the worker runs on web1");
        assert.notEqual(stage.onHost("web2", `systemctl is-active ${cfg.names.workerUnit}.service`).stdout.trim(), "active", "no worker on web2");
    });

    test("2. DNS: the test DNS answers both web hosts' addresses for the domain", async () => {
        assert.deepEqual(await stage.resolve(fleet.domain, "A"), FLEET_WEB_HOSTS.map((h) => fleet.hosts[h].ip).sort());
    });

    test("3. Postgres and Redis on the data host: only the app hosts connect", async () => {
        const cfg = stage.config();
        const addr = dataAddress(cfg);
        const data = fleet.hosts.data.ip;
        const ports = { postgres: cfg.postgres.port, redis: cfg.redis.port };
        const addresses = [...new Set([data, addr])];
        // From the test machine, on the test network. Not to a mesh address: the test machine has no
        // route there, and its default route may accept any TCP connection (a sandbox's uplink does),
        // which says nothing about the data host; the neighbour below routes it to the data host instead.
        for (const [what, port] of Object.entries(ports)) assert.ok(await tcpRefused(data, port), `${what} at ${data}:${port} reachable from the test machine`);
        // From a neighbour on the test network that is none of the stack's hosts, routing the private address via the data host.
        const routes = addr === data ? [] : [{ to: `${addr}/32`, via: data }];
        const seen = neighbourConnects(fleet, [{ address: data, port: 22 }, ...addresses.flatMap((a) => Object.values(ports).map((port) => ({ address: a, port })))], routes);
        assert.equal(seen[`${data}:22`], true, `the neighbour reaches the data host at all (ssh): ${JSON.stringify(seen)}`);
        const open = Object.entries(seen).filter(([k, v]) => v && k !== `${data}:22`).map(([k]) => k);
        assert.deepEqual(open, [], `a neighbour connects to the data services: ${open.join(", ")}`);
        // From each app host, as root: Postgres answers an SSLRequest (N or S), Redis answers PING (NOAUTH: it wants the password).
        for (const h of FLEET_HOSTS.filter((x) => x !== "data")) {
            const pg = stage.onHost(h, `timeout 5 bash -c 'exec 3<>/dev/tcp/${addr}/${ports.postgres}; printf "\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f" >&3; head -c 1 <&3'`);
            assert.match(pg.stdout, /^[NS]$/, `${h} -> postgres ${addr}:${ports.postgres}: ${pg.stdout}${pg.stderr}`);
            const redis = stage.onHost(h, `timeout 5 bash -c 'exec 3<>/dev/tcp/${addr}/${ports.redis}; printf "PING\\r\\n" >&3; head -c 7 <&3'`);
            assert.match(redis.stdout, /^(-NOAUTH|\+PONG)/, `${h} -> redis ${addr}:${ports.redis}: ${redis.stdout}${redis.stderr}`);
        }
    });

    test("4. new revision under load on both web hosts, each loaded as the single host is in its release bench: zero failed requests", async (t) => {
        // One requester per web host, one request at a time with the single-host loop's pause
        // (scenarios.test.ts 3, kit.ts loadLoop), over a kept-alive connection: the fleet's
        // release time compares with the single host's under the same load per host. Test 5
        // below loads both hosts with four connections each.
        const load = stage.load({ connections: 1, pauseMs: 20 });
        const t0 = Date.now();
        const r = await underLoad(load, () => stage.up({ "berth:revision": "v2" }));
        figures.fleetReleaseSeconds = (Date.now() - t0) / 1000 - 3; // minus the 1.5 s of load before and after
        // The engine's own time (the single-host bench's figure), and where it went: every command laid out in time.
        figures.fleetReleaseEngineSeconds = r.seconds;
        releaseTimeline = timeline(r.commands);
        const stats = load.stats;
        figures.fleetReleaseRequests = stats.sent;
        figures.fleetReleaseFailed = stats.failed;
        assert.ok(r.ok, r.error);
        assert.deepEqual(await stage.versions(), { web1: fleet.shas.v2, web2: fleet.shas.v2 });
        for (const h of FLEET_WEB_HOSTS) assert.ok(stats.byTarget[h].sent > 20, `only ${stats.byTarget[h].sent} requests to ${h}`);
        t.diagnostic(`requests: ${FLEET_WEB_HOSTS.map((h) => `${h} ${stats.byTarget[h].sent}`).join(", ")}; failed ${stats.failed}`);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
    });

    test("5. a revision unhealthy on web2 only: up fails naming web2, both hosts keep serving the old revision", async (t) => {
        const marker = "/etc/berth-e2e-unhealthy";
        assert.equal(stage.onHost("web2", `touch ${marker}`).code, 0);
        try {
            const load = stage.load();
            const r = await underLoad(load, () => stage.up({ "berth:revision": "hostcheck" }));
            const stats = load.stats;
            assert.equal(r.ok, false, "the release unhealthy on web2 must fail the up");
            assert.match(r.error ?? "", /web2/, r.error);
            assert.match(r.error ?? "", new RegExp(fleet.shas.hostcheck), r.error);
            assert.deepEqual(await stage.versions(), { web1: fleet.shas.v2, web2: fleet.shas.v2 }, "both hosts still serve v2");
            t.diagnostic(`error: ${(r.error ?? "").split("\n").find((l) => /unhealthy/.test(l)) ?? ""}`);
            t.diagnostic(`requests: ${FLEET_WEB_HOSTS.map((h) => `${h} ${stats.byTarget[h].sent}`).join(", ")}; failed ${stats.failed}`);
            assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
        } finally {
            stage.onHost("web2", `rm -f ${marker}`);
        }
    });

    test("6. rollback to v1 moves both hosts", async () => {
        const t0 = Date.now();
        const r = await stage.up({ "berth:revision": "v1" });
        figures.fleetRollbackSeconds = (Date.now() - t0) / 1000;
        figures.fleetRollbackEngineSeconds = r.seconds;
        assert.ok(r.ok, r.error);
        assert.deepEqual(await stage.versions(), { web1: fleet.shas.v1, web2: fleet.shas.v1 });
        assert.deepEqual(await stage.resolve(fleet.domain, "A"), FLEET_WEB_HOSTS.map((h) => fleet.hosts[h].ip).sort(), "the records are still both there");
    });

    test("7. second up with no change: nothing runs on any host", async () => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        assert.deepEqual(r.commands.map((c) => `${c.phase} ${c.resource}`), []);
        assert.deepEqual(r.dockerChanges, []);
    });

    test("8. drift on the fleet: verify --all-hosts holds each host against its roles; hand edits on web2 and the data host are reported and repaired", async () => {
        const cli = { configPath: path.join(fleet.work, "stack-config.json"), statePath: path.join(fleet.work, "state.json"), dnsApi: fleet.acme.dnsApi };
        fs.writeFileSync(cli.configPath, JSON.stringify(stage.cfg({ "berth:revision": "v1" })), { mode: 0o600 });
        const drift = (out: string) => out.split("\n").filter((l) => l.startsWith("drift: "));
        const clean = await berthCli(cli, ["verify", "--all-hosts"]);
        assert.equal(clean.code, 0, `a clean fleet (web-only, worker and data hosts, the WireGuard mesh) shows no drift:\n${clean.stdout}${clean.stderr}`);
        assert.deepEqual(drift(clean.stdout), []);
        for (const h of FLEET_HOSTS) assert.match(clean.stdout, new RegExp(`== host ${h} `), `a section for ${h}`);

        const cfg = stage.config();
        const site = sitePath(cfg, "full");
        const firewall = dataFirewallNames(cfg).script;
        stage.onHost("web2", `echo '# a hand edit' >> ${site}`);
        stage.onHost("data", `echo '# a hand edit' >> ${firewall}`);
        const seen = await berthCli(cli, ["verify", "--all-hosts"]);
        assert.equal(seen.code, 1, seen.stdout);
        const lines = drift(seen.stdout);
        assert.equal(lines.length, 2, `exactly the two hand edits:\n${lines.join("\n")}`);
        assert.ok(lines.some((l) => l.includes(site)), `web2's site: ${lines.join("; ")}`);
        assert.ok(lines.some((l) => l.includes(firewall)), `the data host's firewall script: ${lines.join("; ")}`);

        const repaired = await berthCli(cli, ["repair", "--all-hosts"]);
        assert.equal(repaired.code, 0, `${repaired.stdout}\n${repaired.stderr}`);
        const after = await berthCli(cli, ["verify", "--all-hosts"]);
        assert.equal(after.code, 0, after.stdout);
        assert.doesNotMatch(stage.onHost("web2", `cat ${site}`).stdout, /a hand edit/);
        assert.doesNotMatch(stage.onHost("data", `cat ${firewall}`).stdout, /a hand edit/);
        assert.deepEqual(await stage.versions(), { web1: fleet.shas.v1, web2: fleet.shas.v1 }, "repair released nothing");
    });

    test("9. a schedule runs once per fleet: its timer only on the release host (web1), runs there in the journal, none on web2 or the data host", async () => {
        // Every 10 s, a run that lasts 4 s: it runs, on one host only.
        const r = await stage.up({ "berth:revision": "v1", "berth:schedules": { tick: { command: "sh -c 'echo fleet-tick-start; sleep 4; echo fleet-tick-end'", schedule: "*:*:0/10" } } });
        assert.ok(r.ok, r.error);
        const u = scheduleUnitNames(stage.config().names, "tick");
        const timers = (h: FleetHost) => stage.onHost(h, `systemctl list-timers --all --no-legend ${u.unit}.timer | wc -l; test -e ${u.timerPath} && echo file || echo nofile`).stdout.trim().split("\n");
        assert.deepEqual(timers("web1"), ["1", "file"], "the release host has the timer");
        for (const h of ["web2", "data"] as const) assert.deepEqual(timers(h), ["0", "nofile"], `${h} has no schedule timer`);
        const ran = await waitForJournal(() => stage.onHost("web1", `journalctl -q -o cat -t ${u.syslogIdentifier} --no-pager | grep -c fleet-tick-end || true`).stdout.trim(), 40_000);
        assert.ok(Number(ran) >= 1, `the schedule ran on web1 (${ran} runs ended)`);
        for (const h of ["web2", "data"] as const) {
            assert.equal(stage.onHost(h, `journalctl -q -o cat -t ${u.syslogIdentifier} --no-pager | grep -c fleet-tick || true`).stdout.trim(), "0", `no run on ${h}`);
        }
        // Removing the schedule removes its timer.
        const off = await stage.up({ "berth:revision": "v1" });
        assert.ok(off.ok, off.error);
        assert.deepEqual(timers("web1"), ["0", "nofile"], "the schedule's timer is gone");
    });
});

/** Polls `count` (a number as text) until it is at least 1 or `ms` pass; returns the last answer. */
async function waitForJournal(count: () => string, ms: number): Promise<string> {
    const t0 = Date.now();
    let last = count();
    while (Number(last) < 1 && Date.now() - t0 < ms) {
        await new Promise((r) => setTimeout(r, 2000));
        last = count();
    }
    return last;
}

// ---------------------------------------------------------------------------

function timeline(commands: CommandRun[]): { resource: string; start: number; seconds: number }[] {
    const first = Math.min(...commands.map((c) => c.startedAt ?? Infinity));
    return commands.map((c) => ({ resource: c.resource, start: Number((((c.startedAt ?? first) - first) / 1000).toFixed(2)), seconds: c.ms / 1000 }));
}

/** The single-host release (test/e2e/scenarios.test.ts scenario 3, the engine's time) from bench/results.json, when this bench run made it. */
function singleHostRelease(dir: string): number | undefined {
    const f = path.join(dir, "results.json");
    return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")).releaseSeconds as number | undefined) : undefined;
}

function writeBench(out: string): void {
    const single = singleHostRelease(path.dirname(out));
    const results = { measuredAt: new Date().toISOString(), cpus: os.cpus().length, ...figures, singleHostReleaseSeconds: single, releaseTimeline, targets: { fleetReleaseFailed: 0, fleetToSingleReleaseAtMost: 1.3 } };
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    const s = (x: number | undefined) => (x === undefined ? "n/a" : x.toFixed(1));
    const ratio = single && figures.fleetReleaseEngineSeconds ? `${(figures.fleetReleaseEngineSeconds / single).toFixed(2)} (${s(figures.fleetReleaseEngineSeconds)} / ${s(single)})` : "n/a";
    const step = (re: RegExp, none = "n/a") => releaseTimeline.filter((c) => re.test(c.resource)).map((c) => `${c.start.toFixed(1)}+${c.seconds.toFixed(1)}`).join(", ") || none;
    writeBenchSection(path.join(path.dirname(out), "README.md"), "fleet", [
        "## Several hosts",
        "",
        `Measured by \`npm run bench\` (test/e2e/multi.test.ts) on ${results.cpus} cores, ${results.measuredAt}: three VPS containers (web1 web+worker, web2 web, data) joined by berth's WireGuard mesh (wireguard-go), certificates over DNS-01 from Pebble. All three share the machine's cores (the single host had them to itself).`,
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        `| fresh fleet provision, three hosts (s) | ${s(figures.freshFleetSeconds)} |  |`,
        `| fleet release v1 -> v2 under load on both web hosts, one requester each paced as the single host's (s) | ${s(figures.fleetReleaseSeconds)} |  |`,
        `| fleet release: the engine's own time (s) | ${s(figures.fleetReleaseEngineSeconds)} |  |`,
        `| fleet release / single-host release (engine's time, same machine; the single host's from bench/results.json) | ${ratio} | <= 1.3 |`,
        `| fleet release: checkout + build on each app host, start+duration after the first command (s) | ${step(/-checkout$/)} |  |`,
        `| fleet release: release command, start+duration (s) | ${step(/-release-command$/)} |  |`,
        `| fleet release: start and health check on each web host (prepare), start+duration (s) | ${step(/-prepare$/)} |  |`,
        `| fleet release: traffic moves on each web host (switch), start+duration (s) | ${step(/-switch$/)} |  |`,
        `| fleet release: data host's backup before the release, start+duration (s) | ${step(/-before-release$/, "none: this stack has no berth:backup (the order is held by test/unit/fleet.test.ts)")} |  |`,
        `| fleet release: requests / failed | ${figures.fleetReleaseRequests ?? "n/a"} / ${figures.fleetReleaseFailed ?? "n/a"} | 0 failed |`,
        `| fleet rollback (s) / the engine's own time (s) | ${s(figures.fleetRollbackSeconds)} / ${s(figures.fleetRollbackEngineSeconds)} |  |`,
    ]);
}

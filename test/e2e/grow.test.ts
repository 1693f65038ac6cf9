/**
 * A single-host stack grows into web + data hosts by the README's procedure
 * ("Several hosts" > "Moving a single-host stack to web + data hosts"), on two
 * VPS of its own (world `grow`: berth-grow-web1, berth-grow-data), and loses
 * no data. The dev stack runs on web1 alone (`berth:host`) and the app writes
 * rows; then the README's code block is read and each of its lines runs as
 * its test-stack equivalent:
 *
 * - `npx berth maintenance on|off -s staging`: cli/main.ts with `--config` (the
 *   stack's configuration file, which the CLI rewrites as `pulumi config set`
 *   would) `--state` (the applier's state) `--dns-api`, as ops.test.ts does;
 * - the `ssh root@<host> docker exec ...` dump and restore lines: run as they
 *   stand by bash, with the example's addresses and names replaced by the
 *   hosts' and the stack's, and ssh given the hosts' pinned keys (`-F`);
 * - `pulumi config rm host/hostKey` and the `berth:hosts` list: the same
 *   change of the configuration file (world.ts configRm; the hosts in the
 *   README's order and roles);
 * - `pulumi preview --diff` then `pulumi up`: the driver (kit.ts previewThenUp).
 *
 * Then: the rows (count and a digest of every row) and a marker row are on
 * the data host exactly as they were, the app reads them from there through
 * the mesh, web1 runs no Postgres any more, and the site answered only the
 * maintenance page (503) from `maintenance on` to `maintenance off`.
 *
 * Scenario 9 runs README "Moving a stack to a new VPS" the same way: the
 * stack (by then one `berth:hosts` entry, web1, with every role) moves to the
 * other VPS under the same name; `berth prepare` refuses the bare address
 * change (the preview shows why: the Postgres container would stay `same`,
 * recorded on the old host), the documented state edit forgets the old
 * host's Docker resources, the up builds everything on the new VPS, the old
 * one is powered off, and the rows restored from the dump are served there.
 * BERTH_E2E_KEEP=1 leaves the hosts running.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { configRm, Fleet, fleetHosts, FLEET_ROLES, keepHosts, makeFleet, onHost, parsedConfig, removeFleet } from "./world";
import { Driver, makeDriver } from "./driver";
import { berthCli, httpsGet, previewThenUp, sleep, Stage } from "./kit";
import { TestDns } from "./providers";
import { ROOT, StackConfig } from "../unit/harness";
import { BerthConfig } from "../../lib/config";
import { dataAddress } from "../../lib/topology";

/** The grow world's names (none shared with another world: see test/e2e/README.md). */
const GROW_WORLD = { vpsPrefix: "berth-grow", services: "grow", domain: "grow.berth.test", prodDomain: "prod.grow.berth.test", repo: "grow-sample" } as const;
const HOSTS = ["web1", "data"] as const;
type GrowHost = (typeof HOSTS)[number];

/** The README example's values, replaced by the test stack's when a documented line runs. */
const EXAMPLE = { oldHost: "203.0.113.10", dataHost: "203.0.113.11", id: "shop-staging", database: "shop_staging" } as const;

/** README "Moving a stack to a new VPS": the example's new VPS, and each line as this file runs it (in order). */
const NEW_VPS = "203.0.113.12";
const MOVE_DOCUMENTED = [
    { step: "maintenance on", re: /^npx berth maintenance on -s staging$/ },
    { step: "dump", re: /^ssh root@203\.0\.113\.10 docker exec shop-staging-postgres pg_dump .*> shop_staging\.dump$/ },
    { step: "host", re: /^pulumi config set host 203\.0\.113\.12 -s staging && pulumi config set hostKey "ssh-ed25519 AAAA\.\.\." -s staging$/ },
    { step: "prepare refuses", re: /^npx berth prepare staging$/ },
    { step: "state delete", re: /^pulumi state delete --target-dependents --force --yes --stack staging 'URN_FROM_STEP_4'$/ },
    { step: "prepare", re: /^npx berth prepare staging$/ },
    { step: "up", re: /^pulumi up -s staging$/ },
    { step: "poweroff", re: /^ssh root@203\.0\.113\.10 systemctl poweroff$/ },
    { step: "restore", re: /^ssh root@203\.0\.113\.12 docker exec -i shop-staging-postgres pg_restore .*--clean --if-exists --dbname shop_staging < shop_staging\.dump$/ },
    { step: "maintenance off", re: /^npx berth maintenance off -s staging$/ },
] as const;

/** What each line of the README's procedure must look like for this file to run it (in order). */
const DOCUMENTED = [
    { step: "maintenance on", re: /^npx berth maintenance on -s staging$/ },
    { step: "dump", re: /^ssh root@203\.0\.113\.10 docker exec shop-staging-postgres pg_dump .*> shop_staging\.dump$/ },
    { step: "config rm", re: /^pulumi config rm host -s staging && pulumi config rm hostKey -s staging$/ },
    { step: "preview", re: /^pulumi preview -s staging --diff$/ },
    { step: "up", re: /^pulumi up -s staging$/ },
    { step: "restore", re: /^ssh root@203\.0\.113\.11 docker exec -i shop-staging-postgres pg_restore .*< shop_staging\.dump$/ },
    { step: "maintenance off", re: /^npx berth maintenance off -s staging$/ },
] as const;

let fleet: Fleet<GrowHost>;
let driver: Driver;
let stage: Stage;
let cfg: BerthConfig;
/** The stack's configuration file (Pulumi.<stack>.yaml's stand-in) and the applier's state, for the CLI. */
let cli: { configPath: string; statePath: string; dnsApi: string };
/** Where the documented shell lines run (the dump file lands here). */
let moveDir: string;
let sshConfig: string;
const procedure = documentedProcedure("### Moving a single-host stack to web + data hosts");
const moveProcedure = documentedProcedure("### Moving a stack to a new VPS");
/** The rows before the move and the marker row's path. */
let rowsBefore: Rows;
const marker = `grow-marker-${crypto.randomBytes(6).toString("hex")}`;
/** Requests to web1 from `maintenance on` until just before `maintenance off`. */
let probe: ReturnType<typeof siteProbe> | undefined;

before(async () => {
    fleet = makeFleet({ ...GROW_WORLD, hosts: HOSTS, imagesOn: HOSTS });
    const statePath = path.join(fleet.work, "state.json");
    driver = await makeDriver(statePath, fleet.acme.dnsApi, "dev");
    stage = new Stage(fleet, driver);
    cfg = parsedConfig(stage.cfg());
    cli = { configPath: path.join(fleet.work, "stack-config.json"), statePath, dnsApi: fleet.acme.dnsApi };
    moveDir = path.join(fleet.work, "move");
    fs.mkdirSync(moveDir);
    sshConfig = path.join(fleet.work, "ssh_config");
    const block = (h: GrowHost) => {
        const v = fleet.hosts[h];
        return [`Host ${v.ip}`, `  Port ${v.sshPort}`, `  IdentityFile ${v.privateKeyPath}`, "  IdentitiesOnly yes", "  BatchMode yes", "  StrictHostKeyChecking yes", `  UserKnownHostsFile ${path.join(fleet.work, "known_hosts")}`];
    };
    fs.writeFileSync(sshConfig, `${HOSTS.flatMap(block).join("\n")}\n`, { mode: 0o600 });
});

after(async () => {
    if (probe) await probe.stop();
    if (fleet && !keepHosts()) removeFleet(fleet);
});

describe("a single-host stack grows into web + data hosts by the README's procedure", () => {
    test("0. the README's procedure is the one this file runs", () => {
        assert.equal(procedure.lines.length, DOCUMENTED.length, `the README's procedure changed (update grow.test.ts):\n${procedure.lines.join("\n")}`);
        DOCUMENTED.forEach((d, i) => assert.match(procedure.lines[i], d.re, `README procedure line ${i + 1} (${d.step})`));
        // The berth:hosts of step 3: the old host first as web + worker, the new one as data.
        assert.deepEqual(procedure.hosts.map((h) => ({ address: h.address, roles: h.roles })), [
            { address: EXAMPLE.oldHost, roles: ["web", "worker"] },
            { address: EXAMPLE.dataHost, roles: ["data"] },
        ]);
        assert.deepEqual(procedure.hosts.map((h) => h.name), [...HOSTS], "the README's host names are the fleet's");
        for (const h of HOSTS) assert.deepEqual([...FLEET_ROLES[h]], procedure.hosts.find((x) => x.name === h)!.roles);
    });

    test("1. single host: v1 on web1 serves and the app writes rows", async (t) => {
        const r = await stage.up({ "berth:revision": "v1" });
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        for (const p of ["/up", "/health/db"]) assert.equal((await stage.get(p)).status, 200, p);
        for (let i = 0; i < 10; i++) assert.equal((await stage.get("/", 10_000)).status, 200, "GET / records a visit");
        const ins = psql("web1", `insert into visits (path, created_at, updated_at) values ('${marker}', now(), now())`);
        assert.equal(ins.code, 0, ins.stderr);
        rowsBefore = rows("web1");
        assert.equal(rowsBefore.count, 11, `10 visits and the marker: ${rowsBefore.count}`);
        assert.equal(markerRows("web1"), 1);
        fs.writeFileSync(cli.configPath, JSON.stringify(stage.cfg({ "berth:revision": "v1" })), { mode: 0o600 });
        t.diagnostic(`rows before the move: ${rowsBefore.count} (digest ${rowsBefore.digest.slice(0, 12)})`);
    });

    test("2. step 1, maintenance on: 503 with the page on every path, no write gets through", async () => {
        const on = await berth(procedure.lines[0]);
        assert.equal(on.code, 0, `${on.stdout}\n${on.stderr}`);
        for (const p of ["/", "/up", "/health/db"]) {
            const res = await stage.get(p);
            assert.equal(res.status, 503, p);
            assert.match(res.body, /Down for maintenance/, p);
        }
        assert.deepEqual(rows("web1"), rowsBefore, "a GET / in maintenance writes nothing");
        assert.equal(configFile().values["berth:maintenance"], "true", "the stack's configuration says maintenance");
        probe = siteProbe(["/", "/health/db"]);
    });

    test("3. step 2: pg_dump over ssh, off the host", async () => {
        const r = await documented(procedure.lines[1]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr.trim(), "", "pg_dump reported nothing");
        const dump = path.join(moveDir, `${cfg.postgres.database}.dump`);
        assert.ok(fs.existsSync(dump), `no ${dump}`);
        const head = fs.readFileSync(dump).subarray(0, 5).toString("latin1");
        assert.equal(head, "PGDMP", "a custom-format dump");
    });

    test("4. step 3: berth:hosts with web1 first and the data host, preview then up", async (t) => {
        const moved = configFile();
        configRm(moved, "berth:host");
        configRm(moved, "berth:hostKey");
        moved.values["berth:hosts"] = JSON.stringify(fleetHosts(fleet));
        fs.writeFileSync(cli.configPath, JSON.stringify(moved), { mode: 0o600 });
        const t0 = Date.now();
        const { planned, up } = await previewThenUp(driver, moved);
        t.diagnostic(`preview: ${summary(planned.steps)}; up ${up.ok ? "ok" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${summary(up.steps)}; docker: ${up.dockerChanges.join(", ")}`);
        assert.ok(planned.ok, planned.error);
        assert.ok(up.ok, up.error);
        // "The old host FIRST (its web resources are adopted by alias)": on web1's web side nothing is
        // created, replaced or deleted; only the data path moves (the env file and the switch are updates).
        const web = Object.entries(up.steps)
            .filter(([urn, st]) => st.op !== "same" && st.op !== "update" && /::sample-dev-(certificate|site-https?|release|units|switch|dns)(-|$)/.test(urn))
            .map(([urn, st]) => `${st.op} ${urn.split("::").pop()}`);
        assert.deepEqual(web, [], "web1's web resources are adopted, not replaced");
        const containers = (h: GrowHost) => onHost(fleet, h, "docker ps -a --format '{{.Names}}'").stdout.split("\n").filter(Boolean).sort();
        assert.deepEqual(containers("data"), [cfg.names.postgresContainer, cfg.names.redisContainer].sort(), "the data containers run on the data host");
        assert.ok(!containers("web1").includes(cfg.names.postgresContainer), "web1 runs no Postgres any more");
    });

    test("5. step 4: pg_restore into the data host's Postgres: every row as it was", async () => {
        const r = await documented(procedure.lines[5]);
        assert.equal(r.code, 0, `pg_restore failed (${r.code}): ${r.stderr}`);
        assert.equal(r.stderr.trim(), "", "pg_restore reported nothing (no error or warning)");
        assert.deepEqual(rows("data"), rowsBefore, "the data host holds exactly the rows of before the move");
        assert.equal(markerRows("data"), 1, "the marker row is there");
    });

    test("6. step 5: check, then maintenance off; only the maintenance page was served meanwhile", async (t) => {
        // The documented check of /health/db: through the site it is still the maintenance page.
        const health = await stage.get("/health/db");
        t.diagnostic(`GET /health/db in maintenance, after the restore: ${health.status}`);
        // What an operator can check before opening: the app's own view, through its environment (npx berth console).
        const seen = await berthCli(cli, ["console"], { input: `puts "VISITS=#{Visit.count}"\nputs "MARKER=#{Visit.where(path: ${JSON.stringify(marker)}).count}"\n` });
        assert.equal(seen.code, 0, seen.stderr);
        assert.match(seen.stdout, new RegExp(`^VISITS=${rowsBefore.count}$`, "m"), seen.stdout);
        assert.match(seen.stdout, /^MARKER=1$/m, seen.stdout);
        const stats = await probe!.stop();
        probe = undefined;
        t.diagnostic(`during the move: ${stats.sent} requests to web1, answers ${JSON.stringify(stats.byAnswer)}`);
        assert.ok(stats.sent >= 20, `only ${stats.sent} requests during the move`);
        assert.deepEqual(Object.keys(stats.byAnswer), ["503 maintenance"], `not only the maintenance page: ${stats.odd.slice(0, 5).join("; ")}`);
        const off = await berth(procedure.lines[6]);
        assert.equal(off.code, 0, `${off.stdout}\n${off.stderr}`);
        assert.equal(configFile().values["berth:maintenance"], "false");
    });

    test("7. after the move: the site serves the same rows from the data host's Postgres through the mesh", async (t) => {
        const moved = parsedConfig(configFile());
        const addr = dataAddress(moved);
        assert.notEqual(addr, "127.0.0.1");
        assert.equal(addr, moved.hosts.find((h) => h.name === "data")!.privateAddress, "the data host's private address");
        assert.equal((await stage.get("/up")).status, 200, "/up");
        const health = await stage.get("/health/db");
        assert.equal(health.status, 200, health.body);
        assert.match(health.body, new RegExp(`visits=${rowsBefore.count}\\b`), `the app counts the rows of before the move: ${health.body}`);
        assert.deepEqual(rows("data"), rowsBefore, "no row lost or added by the move");
        // web1's env file: DATABASE_URL's host and port only (the password never leaves the host).
        const url = onHost(fleet, "web1", `sed -nE 's#^DATABASE_URL="postgres://[^@]*@([^:/"]+):([0-9]+)/.*#\\1 \\2#p' ${cfg.names.envFile}`);
        assert.equal(url.code, 0, url.stderr);
        assert.equal(url.stdout.trim(), `${addr} ${moved.postgres.port}`, "DATABASE_URL on web1 names the data host's mesh address");
        assert.match(onHost(fleet, "data", "ip -4 -o addr show").stdout, new RegExp(`inet ${addr.replace(/\./g, "\\.")}/`), "the data host holds that address");
        // The old host: no Postgres container, and (off production) no volume either.
        const web1 = onHost(fleet, "web1", "docker ps -a --format '{{.Names}}'; echo ---; docker volume ls --format '{{.Name}}'").stdout.split("---");
        assert.doesNotMatch(web1[0], new RegExp(`^${cfg.names.postgresContainer}$`, "m"), "web1 runs no Postgres");
        t.diagnostic(`volumes left on web1: ${web1[1].trim().split("\n").filter(Boolean).join(", ") || "none"}`);
        assert.doesNotMatch(web1[1], new RegExp(`^${cfg.names.postgresVolume}$`, "m"), "off production the up drops the old volume (README)");
        // A new visit lands on the data host.
        assert.equal((await stage.get("/", 10_000)).status, 200);
        assert.equal(rows("data").count, rowsBefore.count + 1, "GET / wrote its row into the data host's Postgres");
        assert.equal(markerRows("data"), 1);
        // The worker runs on web1 against the moved database; the record still names web1 only.
        assert.equal(await waitFor(() => onHost(fleet, "web1", `systemctl is-active ${cfg.names.workerUnit}.service`).stdout.trim() === "active", 60_000), true, "the worker runs on web1");
        const a = await new TestDns(fleet.acme.dnsApi, fleet.acme.dnsServer).addresses("A", fleet.domain);
        assert.deepEqual(a, [fleet.hosts.web1.ip], "the A record still names web1 only");
    });

    test("8. the data host leaves the stack; the next up on a fresh runner: without `berth prepare` it cannot reach the old host, with it the old containers go", async (t) => {
        // Data back on web1; the data host is no longer in the configuration, only in the state.
        const next = configFile();
        next.values["berth:hosts"] = JSON.stringify([{ ...fleetHosts(fleet).find((h) => h.name === "web1"), roles: ["web", "worker", "data"] }]);
        fs.writeFileSync(cli.configPath, JSON.stringify(next), { mode: 0o600 });
        // A fresh runner (a new CI machine): none of this stack's SSH key files exist.
        // (os.homedir(), not os.userInfo(): test/unit/harness.ts points the latter at a temporary home in test processes.)
        const keyDir = path.join(os.homedir(), ".berth", "ssh");
        const ours = (f: string) => f.startsWith(`berth-dev-`) && HOSTS.some((h) => f === `berth-dev-${fleet.hosts[h].ip}.key`);
        const dropKeys = () => {
            for (const f of fs.existsSync(keyDir) ? fs.readdirSync(keyDir) : []) if (ours(f)) fs.rmSync(path.join(keyDir, f));
        };
        dropKeys();
        const without = await driver.up(next);
        t.diagnostic(`without prepare: ${without.ok ? "ok" : (without.error ?? "").split("\n")[0]}`);
        assert.equal(without.ok, false, "the old host's containers cannot be deleted without its key file");

        dropKeys();
        const prep = await berthCli(cli, ["prepare", "dev"]);
        assert.equal(prep.code, 0, prep.stderr);
        assert.match(prep.stdout, /^sha=[0-9a-f]{40}$/m);
        assert.ok(fs.existsSync(path.join(keyDir, `berth-dev-${fleet.hosts.data.ip}.key`)), "prepare wrote the old data host's key file from the state");
        const up = await driver.up(next);
        assert.ok(up.ok, up.error);
        const names = (h: GrowHost) => onHost(fleet, h, "docker ps -a --format '{{.Names}}'").stdout.split("\n").filter(Boolean);
        assert.deepEqual(names("data"), [], "the old data host runs no container of the stack");
        assert.ok(names("web1").includes(cfg.names.postgresContainer), "Postgres runs on web1 again");
        assert.equal((await stage.get("/up")).status, 200);
    });

    test("9. README 'Moving a stack to a new VPS': prepare refuses the bare move, the state edit forgets the old host's data resources, the rows are served from the new VPS", async (t) => {
        const lines = moveProcedure.lines;
        assert.equal(lines.length, MOVE_DOCUMENTED.length, `the README's procedure changed (update grow.test.ts):\n${lines.join("\n")}`);
        MOVE_DOCUMENTED.forEach((d, i) => assert.match(lines[i], d.re, `README procedure line ${i + 1} (${d.step})`));
        // Scenario 8 left web1 an empty Postgres without the database (no release since): release v2
        // (its release command makes and migrates the database), then rows: visits and a marker.
        const v2 = configFile();
        v2.values["berth:revision"] = "v2";
        fs.writeFileSync(cli.configPath, JSON.stringify(v2), { mode: 0o600 });
        const rel = await driver.up(v2);
        assert.ok(rel.ok, rel.error);
        for (let i = 0; i < 5; i++) assert.equal((await stage.get("/", 10_000)).status, 200);
        const ins = psql("web1", `insert into visits (path, created_at, updated_at) values ('${marker}-move', now(), now())`);
        assert.equal(ins.code, 0, ins.stderr);

        const on = await berth(lines[0]);
        assert.equal(on.code, 0, `${on.stdout}\n${on.stderr}`);
        const before = rows("web1");
        assert.ok(before.count >= 6, `rows on web1: ${before.count}`);
        const dump = await documented(lines[1]);
        assert.equal(dump.code, 0, dump.stderr);

        // Step 3, as a berth:hosts entry (this stack's form): web1's address and key become the other VPS's.
        const moved = configFile();
        const entry = fleetHosts(fleet).find((h) => h.name === "web1")!;
        moved.values["berth:hosts"] = JSON.stringify([{ ...entry, address: fleet.hosts.data.ip, hostKey: fleet.hosts.data.hostKey, roles: ["web", "worker", "data"] }]);
        fs.writeFileSync(cli.configPath, JSON.stringify(moved), { mode: 0o600 });

        // Step 4: refused, naming the key, both hosts and the state edit with the provider's URN.
        const refused = await berthCli(cli, ["prepare", "dev"]);
        assert.notEqual(refused.code, 0, "prepare refuses the bare move");
        assert.match(refused.stderr, /berth:hosts \(web1\): the data services' Docker resources .* are recorded on ssh:\/\/root@/);
        assert.ok(refused.stderr.includes(`ssh://root@${fleet.hosts.web1.ip}:22`) && refused.stderr.includes(`ssh://root@${fleet.hosts.data.ip}:22`), refused.stderr);
        const urn = /pulumi state delete --target-dependents --force --yes --stack dev '(urn:pulumi:[^']+)'/.exec(refused.stderr)?.[1];
        assert.ok(urn, refused.stderr);
        // A day-2 converge refuses it too (step 9's maintenance off, run too early): nothing applied.
        const stateBefore = fs.readFileSync(cli.statePath, "utf8");
        const early = await berth(lines[9]);
        assert.notEqual(early.code, 0, "maintenance off refuses the bare move");
        assert.match(early.stdout + early.stderr, /berth:hosts \(web1\): the data services' Docker resources .* are recorded on ssh:\/\/root@/);
        assert.equal(fs.readFileSync(cli.statePath, "utf8"), stateBefore, "the applier did not run");
        // Why: the engine would keep Postgres "same" (recorded on web1) while the provider points at the new VPS.
        const bare = await driver.preview(moved);
        const pg = Object.entries(bare.steps).find(([u]) => u.endsWith(`::${cfg.names.id}-data-web1-postgres`));
        assert.ok(pg, Object.keys(bare.steps).filter((u) => u.includes("postgres")).join(" "));
        assert.equal(pg[1].op, "same", "a bare move would leave the Postgres container recorded, not created on the new VPS");

        // Step 5: the state edit (nothing runs on a host); then steps 6 and 7.
        const forgotten = driver.stateDelete(urn);
        t.diagnostic(`state delete: ${forgotten.length} resources forgotten`);
        assert.ok(forgotten.some((u) => u.endsWith(`::${cfg.names.id}-data-web1-postgres`)), "the Postgres container left the state");
        const prep = await berthCli(cli, ["prepare", "dev"]);
        assert.equal(prep.code, 0, prep.stderr);
        const t0 = Date.now();
        const up = await driver.up(moved);
        assert.ok(up.ok, up.error);
        t.diagnostic(`up on the new VPS: ${((Date.now() - t0) / 1000).toFixed(1)} s: ${summary(up.steps)}`);
        const names = (h: GrowHost) => onHost(fleet, h, "docker ps --format '{{.Names}}'").stdout.split("\n").filter(Boolean);
        assert.ok(names("data").includes(cfg.names.postgresContainer), "Postgres runs on the new VPS");
        const a = await new TestDns(fleet.acme.dnsApi, fleet.acme.dnsServer).addresses("A", fleet.domain);
        assert.deepEqual(a, [fleet.hosts.data.ip], "the A record names the new VPS");

        // Step 8 (poweroff of the old VPS), then the restore and maintenance off.
        // Off = its container stopped (systemd's shutdown ran to the end), not "ssh fails": sshd stops
        // early in a shutdown that may then wait on a unit's stop timeout (90 s by default).
        const off = await documented(lines[7]);
        const state = () => spawnSync("docker", ["inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}", fleet.hosts.web1.name], { encoding: "utf8" }).stdout.trim();
        const t1 = Date.now();
        const stopped = await waitFor(() => state().startsWith("exited"), 240_000);
        t.diagnostic(`poweroff of the old VPS: ssh exit ${off.code}; ${state()} after ${((Date.now() - t1) / 1000).toFixed(1)} s`);
        assert.equal(stopped, true, `the old VPS is off: ${state()}`);
        assert.notEqual(onHost(fleet, "web1", "true").code, 0, "the old VPS answers no ssh");
        const restore = await documented(lines[8]);
        assert.equal(restore.code, 0, `pg_restore failed (${restore.code}): ${restore.stderr}`);
        assert.deepEqual(rows("data"), before, "the new VPS holds exactly the rows of before the move");
        const open = await berth(lines[9]);
        assert.equal(open.code, 0, `${open.stdout}\n${open.stderr}`);
        const health = await httpsGet({ ip: fleet.hosts.data.ip, domain: fleet.domain, ca: stage.pebbleRoot }, "/health/db", 10_000);
        assert.equal(health.status, 200, health.body);
        assert.match(health.body, new RegExp(`visits=${before.count}\\b`), `the app on the new VPS counts the rows of before the move: ${health.body}`);
    });
});

// ---------------------------------------------------------------------------

interface Rows {
    count: number;
    /** md5 of every row (id, path, created_at) in id order. */
    digest: string;
}

function psql(host: GrowHost, sql: string): { code: number; stdout: string; stderr: string } {
    return onHost(fleet, host, `docker exec ${cfg.names.postgresContainer} psql -X -q -U postgres -d ${cfg.postgres.database} -v ON_ERROR_STOP=1 -Atc "${sql}"`);
}

function rows(host: GrowHost): Rows {
    const r = psql(host, "select count(*) || ' ' || coalesce(md5(string_agg(id || '|' || coalesce(path, '') || '|' || created_at, ',' order by id)), '-') from visits");
    assert.equal(r.code, 0, `${host}: psql: ${r.stderr}`);
    const [count, digest] = r.stdout.trim().split(" ");
    return { count: Number(count), digest };
}

function markerRows(host: GrowHost): number {
    const r = psql(host, `select count(*) from visits where path = '${marker}'`);
    assert.equal(r.code, 0, `${host}: psql: ${r.stderr}`);
    return Number(r.stdout.trim());
}

/** The stack's configuration file as it is now (the CLI rewrites it). */
function configFile(): StackConfig {
    return JSON.parse(fs.readFileSync(cli.configPath, "utf8")) as StackConfig;
}

/** A documented `npx berth <op> -s staging` line, on the test stack. */
function berth(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const m = /^npx berth (.*) -s staging$/.exec(line);
    assert.ok(m, line);
    return berthCli(cli, m[1].split(/\s+/));
}

/** A documented shell line, run as it stands with the example's hosts and names replaced by the test stack's. */
function documented(line: string): Promise<{ code: number; stderr: string }> {
    const subst: [string, string][] = [
        [EXAMPLE.oldHost, fleet.hosts.web1.ip],
        [EXAMPLE.dataHost, fleet.hosts.data.ip],
        [NEW_VPS, fleet.hosts.data.ip],
        [EXAMPLE.id, cfg.names.id],
        [EXAMPLE.database, cfg.postgres.database],
    ];
    let run = subst.reduce((l, [from, to]) => l.split(from).join(to), line);
    assert.match(run, /^ssh /, line);
    run = `ssh -F ${sshConfig} ${run.slice(4)}`;
    return new Promise((resolve, reject) => {
        const p = spawn("bash", ["-o", "pipefail", "-c", run], { cwd: moveDir, stdio: ["ignore", "ignore", "pipe"], timeout: 5 * 60_000 });
        let stderr = "";
        p.stderr.on("data", (d) => (stderr += d));
        p.on("error", reject);
        p.on("close", (code) => resolve({ code: code ?? 1, stderr }));
    });
}

/** The README's procedure: its command lines (comments dropped) and the `berth:hosts` entries of step 3. */
function documentedProcedure(heading: string): { lines: string[]; hosts: { name: string; address: string; roles: string[] }[] } {
    const md = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const start = md.indexOf(heading);
    if (start < 0) return { lines: [], hosts: [] };
    const block = /```sh\n([\s\S]*?)\n```/.exec(md.slice(start))?.[1] ?? "";
    const all = block.split("\n");
    return {
        lines: all.filter((l) => l.trim() !== "" && !l.trim().startsWith("#")).map((l) => l.replace(/\s+#.*$/, "").trim()),
        hosts: all.filter((l) => /^#\s+- \{/.test(l)).map((l) => YAML.parse(l.replace(/^#\s+- /, ""))),
    };
}

/**
 * Bounded probe of the site on web1 (test network only): GET of each path in
 * turn, one at a time, every 250 ms, until stopped or 1,500 requests or 10
 * minutes. Answers are counted as "503 maintenance" (the maintenance page),
 * "<status>" or "error"; anything but the maintenance page is kept in `odd`.
 */
function siteProbe(paths: string[], maxRequests = 1500, maxMs = 10 * 60_000) {
    let stop = false;
    const stats = { sent: 0, byAnswer: {} as Record<string, number>, odd: [] as string[] };
    const t0 = Date.now();
    const done = (async () => {
        while (!stop && stats.sent < maxRequests && Date.now() - t0 < maxMs) {
            const p = paths[stats.sent % paths.length];
            stats.sent++;
            let answer: string;
            try {
                const r = await stage.get(p, 10_000);
                answer = r.status === 503 && /Down for maintenance/.test(r.body) ? "503 maintenance" : String(r.status);
            } catch (e) {
                answer = "error";
                if (stats.odd.length < 20) stats.odd.push(`${p}: ${(e as Error).message}`);
            }
            stats.byAnswer[answer] = (stats.byAnswer[answer] ?? 0) + 1;
            if (answer !== "503 maintenance" && answer !== "error" && stats.odd.length < 20) stats.odd.push(`${p}: HTTP ${answer}`);
            await sleep(250);
        }
    })();
    return { stats, stop: async () => ((stop = true), await done, stats) };
}

/** Polls `check` every second until it holds or `ms` pass. */
async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
    const t0 = Date.now();
    for (;;) {
        if (check()) return true;
        if (Date.now() - t0 > ms) return false;
        await sleep(1000);
    }
}

/** Steps by operation, the unchanged ones left out: "create 12, delete 9, ...". */
function summary(steps: Record<string, { op: string }>): string {
    const by: Record<string, number> = {};
    for (const s of Object.values(steps)) if (s.op !== "same") by[s.op] = (by[s.op] ?? 0) + 1;
    return Object.entries(by).map(([op, n]) => `${op} ${n}`).join(", ") || "nothing";
}

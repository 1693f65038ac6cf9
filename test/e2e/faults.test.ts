/**
 * Faults and hardening (issue 11) on a disposable VPS of its own
 * (berth-faults-vps): heavy keep-alive traffic across a release and a
 * rollback inside the rollback window, a reboot, dependencies down,
 * interrupted releases, a full disk, two operations at once, and the
 * auditors' view of the host (ssh-audit, systemd-analyze security, nginx).
 * Scenarios run in order and share the host.
 *
 * BERTH_BENCH_OUT=<file> writes the figures (hardening scores, switch and
 * rollback figures under 16 keep-alive connections) as JSON.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { berthCli, sleep, Stage, underLoad } from "./kit";
import { UpReport } from "./applier";
import { HOST_HARDENING } from "../../lib/names";

const VPS = "berth-faults-vps";
const ID = "sample-dev";
const ROOT = `/srv/berth/${ID}`;
let world: World;
let driver: Driver;
let stage: Stage;
const figures: Record<string, unknown> = {};
/**
 * Config every scenario shares: a short drain (the slow endpoint takes 3 s), a rollback window that covers the suite,
 * and Puma taking its socket from systemd (berth:webSocket: activation; scenario 1 starts on the proxy and measures both).
 */
const BASE = { "berth:drainSeconds": 10, "berth:rollbackWindow": 600, "berth:webSocket": "activation" };

before(async () => {
    const opts = { fresh: true, services: "faults", domain: "faults.berth.test", prodDomain: "prod.faults.berth.test", repo: "faults-sample" };
    try {
        world = makeWorld(VPS, opts);
    } catch (e) {
        // vps.sh asks systemd for its state right after `docker run`; on a busy machine that
        // `docker exec` can fail before systemd answers (state ''), twice in a row (makeWorld
        // retries once at once). Give the machine a moment, then start over once more.
        process.stderr.write(`${(e as Error).message}\nretrying the world in 10 s\n`);
        await sleep(10_000);
        world = makeWorld(VPS, opts);
    }
    vps(["stage-images", world.vps.name]);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, BASE);
});

after(() => {
    if (process.env.BERTH_BENCH_OUT) fs.writeFileSync(process.env.BERTH_BENCH_OUT, JSON.stringify(figures, null, 2));
    if (!keepHosts()) removeVps(world.vps.name);
});

describe("faults and hardening on a disposable VPS", () => {
    test("1. hardening measured by ssh-audit, systemd-analyze security, nginx and lynis, after a fresh up", async (t) => {
        const r = await stage.up({ "berth:revision": "v1", "berth:webSocket": "proxy" });
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        assert.equal((await stage.get("/up")).status, 200);

        // ssh-audit (Debian package) against the SSH server berth configured.
        const audit = spawnSync("ssh-audit", ["-n", "-p", String(world.vps.sshPort), world.vps.ip], { encoding: "utf8", timeout: 60_000 });
        const auditOut = `${audit.stdout}${audit.stderr}`;
        assert.match(auditOut, /\(kex\)|\(key\)/, `ssh-audit ran: ${auditOut.slice(0, 500)}`);
        const fails = auditOut.split("\n").filter((l) => /\[fail\]|-- \[fail\]|\(fail\)/i.test(l) || /^\(\w+\).*\[fail\]/.test(l));
        figures.sshAuditFails = fails.length;
        assert.deepEqual(fails, [], auditOut);
        assert.doesNotMatch(auditOut, /\(key\) (ecdsa-sha2|ssh-rsa )/, "no ECDSA or SHA-1 RSA host key offered");
        // berth's own connections (pinned ed25519) and git still work: the up above connected and cloned; once more:
        assert.equal(onVps(world, "true").code, 0);

        // systemd-analyze security on the host, for every unit berth writes and for nginx.
        const units = [`berth-${ID}-web@blue.service`, `berth-${ID}-proxy@blue.service`, `berth-${ID}-worker.service`, "nginx.service"];
        const scores: Record<string, number> = {};
        for (const u of units) {
            const out = onVps(world, `systemd-analyze security --no-pager ${u} | tail -n 1`).stdout;
            const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(out);
            assert.ok(m, `${u}: ${out}`);
            scores[u] = Number(m[1]);
        }
        figures.securityScores = scores;
        for (const u of units.slice(0, 3)) assert.ok(scores[u] <= 2.0, `${u}: ${scores[u]}`);
        assert.ok(scores["nginx.service"] <= 5.0, `nginx.service: ${scores["nginx.service"]}`);

        // nginx: no version; TLS 1.2/1.3 only; renewal with the hardened nginx reloads it.
        const server = onVps(world, `curl -sk -o /dev/null -D - --resolve ${world.domain}:443:127.0.0.1 https://${world.domain}/up | grep -i '^server:'`).stdout;
        assert.match(server, /^server: nginx\s*$/im, server);
        assert.equal(await tlsHandshake("TLSv1.1"), false, "TLS 1.1 refused");
        assert.equal(await tlsHandshake("TLSv1.2"), true, "TLS 1.2 offered");
        const pid = onVps(world, "systemctl show -p MainPID --value nginx").stdout.trim();
        // With the environment certbot.service has (berth's drop-in points it at the ACME CA's bundle).
        const renew = onVps(world, `export $(systemctl show -p Environment --value certbot.service); certbot renew --force-renewal --cert-name berth-${ID} --no-random-sleep-on-renew 2>&1; echo rc=$?`);
        assert.match(renew.stdout, /rc=0/, renew.stdout);
        assert.equal(onVps(world, "systemctl show -p MainPID --value nginx").stdout.trim(), pid, "renewal reloads, it does not restart");
        assert.equal(onVps(world, "systemctl is-active nginx").stdout.trim(), "active");
        assert.equal((await stage.get("/up")).status, 200);

        // lynis (Debian's package, installed for the measurement only) on the freshly provisioned host.
        // The report's warnings and suggestions go into the failure message: what a lower index lost is in the CI log.
        // A test VPS is a container: the kernel's global sysctls (kernel.*, fs.protected_*, net.core.bpf_jit_harden...)
        // are this machine's, read-only inside it, whatever berth's /etc/sysctl.d file says (a real VPS applies
        // it at boot). lynis's KRNL-6000 scores them all, so the index moved with the machine (75 on one, 71 on
        // another, same berth). The figure skips those keys (lynis's own skip-test=KRNL-6000:<key>, in
        // /etc/lynis/custom.prf): the index of what berth controls; the unskipped one is a diagnostic. The keys
        // berth sets are checked in its sysctl file below.
        const lynisAudit = (profile: string) =>
            `${profile}; lynis audit system --quick --no-colors >/dev/null 2>&1; grep -E '^(hardening_index=|warning\\[\\]=|suggestion\\[\\]=)' /var/log/lynis-report.dat`;
        const readOnlyKeys =
            "for k in $(sed -n 's/^config-data=sysctl;\\([^;]*\\);.*/\\1/p' /etc/lynis/default.prf); do f=/proc/sys/$(printf %s \"$k\" | tr . /); if [ -e \"$f\" ] && [ ! -w \"$f\" ]; then echo \"skip-test=KRNL-6000:$k\"; fi; done > /etc/lynis/custom.prf";
        const lynis = onVps(
            world,
            `DEBIAN_FRONTEND=noninteractive apt-get install -y -q lynis >/dev/null 2>&1; ${lynisAudit("rm -f /etc/lynis/custom.prf")}; echo ---; ${lynisAudit(readOnlyKeys)}; echo ---; sed 's/.*://' /etc/lynis/custom.prf | paste -sd' '; apt-get purge -y -q lynis >/dev/null 2>&1`,
        );
        const [whole, ownPart, skippedKeys] = lynis.stdout.split("\n---\n");
        const indexOf = (text: string) => Number(/^hardening_index=(\d+)$/m.exec(text ?? "")?.[1]);
        const report = (ownPart ?? "").trim().split("\n");
        const index = indexOf(ownPart);
        figures.lynisHardeningIndex = index;
        figures.lynisHardeningIndexWithMachineSysctls = indexOf(whole);
        t.diagnostic(`lynis hardening index: ${index} (the machine's read-only kernel sysctls skipped: ${(skippedKeys ?? "").trim()}); ${indexOf(whole)} with them`);
        const sysctlFile = onVps(world, `cat ${HOST_HARDENING.sysctl}`).stdout;
        for (const key of (skippedKeys ?? "").trim().split(/\s+/).filter((k) => /^(fs\.protected_|kernel\.(kptr_restrict|dmesg_restrict|core_uses_pid)|net\.core\.bpf_jit_harden)/.test(k))) {
            assert.match(sysctlFile, new RegExp(`^${key.replace(/\./g, "\\.")} = `, "m"), `berth's sysctl file sets ${key} (skipped by the lynis figure)`);
        }
        // 64 on a host berth provisioned before lib/hostHardening.ts; 74 with it, 75 with libpam-pwquality
        // (issue 20's goal; the figure is in bench/). This holds the hardening in place.
        // Asserted at the end of this test: the rest of it (the socket-activation switch) is what tests 2-4 start from.
        const lynisHolds = () =>
            assert.ok(index >= 75, `lynis hardening index ${index}: below the goal of 75 (issue 20), the host hardening (lib/hostHardening.ts, libpam-pwquality in components/host/host.ts) is not all in effect. Its report:\n${report.filter((l) => !l.startsWith("hardening_index=")).join("\n")}`);

        // The extra hop (issue 20 item 5a): the same load before any release, through systemd-socket-proxyd,
        // then with Puma on the activated socket (an up that only changes berth:webSocket: a switch).
        figures.latencyProxy = await latency();
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-proxy@blue.service`).stdout.trim(), "active", "the proxy carried that load");
        const act = await stage.up({ "berth:revision": "v1" });
        assert.ok(act.ok, act.error);
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-proxy@green.service`).stdout.trim(), "inactive", "no proxy in front of the activated instance");
        // Puma itself holds the instance's listening socket (its inode, flags __SO_ACCEPTCON, among the main process's descriptors),
        // and config/puma.rb's TCP port ($PORT of the slot) is not bound: nothing answers there.
        const sock = `${ROOT.replace("/srv/berth/", "/run/berth-")}/green.sock`;
        const held = onVps(world, `pid=$(systemctl show -p MainPID --value berth-${ID}-web@green.service); ino=$(awk '$8 == "${sock}" && $4 == "00010000" { print $7; exit }' /proc/net/unix); echo "$(cat /proc/$pid/comm) $ino"; ls -l /proc/$pid/fd | grep -c "socket:\\[$ino\\]"`).stdout.trim().split("\n");
        assert.match(held[0], /^\S+ \d+$/, `the listening socket's inode: ${held.join(" | ")}`);
        assert.ok(Number(held[1]) >= 1, `Puma holds ${sock}: ${held.join(" | ")}`);
        assert.equal(onVps(world, `. ${ROOT}/slots/green.env; curl -s -o /dev/null -w '%{http_code}' --max-time 3 http://127.0.0.1:$PORT/up`).stdout.trim(), "000", "no TCP port bound");
        figures.latencyActivation = await latency();
        // The machine is shared: A/B rounds interleaved on the same release, nginx's symlink pointed by hand at
        // blue (still up for the rollback window, behind the proxy) and at green (activated), then left on green.
        const rounds: { proxy: Latency; activation: Latency }[] = [];
        const point = (c: string) => onVps(world, `ln -sfn /run/berth-${ID}/${c}.sock ${ROOT}/web.sock.ab && mv -T ${ROOT}/web.sock.ab ${ROOT}/web.sock`);
        try {
            for (let i = 0; i < 3; i++) {
                point("blue");
                const proxy = await latency();
                point("green");
                rounds.push({ proxy, activation: await latency() });
            }
            // The same A/B below capacity: an open loop at a fixed rate (no request waits for another's answer),
            // each latency counted from its scheduled start, so a stall shows in the tail instead of slowing the sender.
            // A figure for `npm run bench` (about 70 s): measured only when the bench asks for figures.
            const paced: { proxy: Latency; activation: Latency }[] = [];
            for (let i = 0; i < (process.env.BERTH_BENCH_OUT ? 3 : 0); i++) {
                point("blue");
                const proxy = await pacedLatency();
                point("green");
                paced.push({ proxy, activation: await pacedLatency() });
            }
            if (paced.length > 0) figures.latencyPaced = { rate: PACED_RATE, seconds: PACED_SECONDS, rounds: paced };
            for (const [i, r] of paced.entries()) t.diagnostic(`${PACED_RATE} requests/s, pair ${i + 1}: p50/p99 ms, proxy ${r.proxy.p50}/${r.proxy.p99}, activation ${r.activation.p50}/${r.activation.p99}`);
        } finally {
            point("green");
        }
        figures.latencyRounds = rounds;
        figures.webActivationSecurity = Number(/: (\d+\.\d+)/.exec(onVps(world, `systemd-analyze security --no-pager berth-${ID}-web@green.service | tail -n 1`).stdout)?.[1]);
        t.diagnostic(`p50/p99 ms, proxy ${JSON.stringify(figures.latencyProxy)}, activation ${JSON.stringify(figures.latencyActivation)}`);
        lynisHolds();
    });

    test("2. heavy traffic across a release: 16 keep-alive connections and in-flight slow requests, 0 errors", async () => {
        const load = keepAliveLoad();
        const r = await underLoad(load, () => stage.up({ "berth:revision": "v2" }));
        const stats = load.stats;
        assert.ok(r.ok, r.error);
        figures.releaseUnderKeepAliveSeconds = r.seconds;
        figures.releaseSwitchSeconds = switchSeconds(r);
        figures.releaseTrafficMovedSeconds = Number(/traffic moved to \w+ ([\d.]+)s after/.exec(r.commands.find((c) => c.resource.endsWith("-switch"))?.stdout ?? "")?.[1]);
        figures.releaseKeepAliveRequests = stats.sent;
        figures.releaseKeepAliveFailed = stats.failed;
        figures.releaseSlowRequests = stats.slow;
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v2);
        assert.ok(stats.sent > 200 && stats.slow >= 3, `${stats.sent} requests, ${stats.slow} slow`);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
        assert.ok(stats.slowServedBy.has(world.shas.v1), "a slow request that started before the switch finished on the old release");
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-web@blue.service berth-${ID}-web@green.service`).stdout.trim(), "active\nactive", "the previous instance stays up for the rollback window");
        // The drain that stops it after the window: a transient timer + service (lib/units/drain.ts),
        // loaded while the timer waits; its sandbox measured like the units berth writes.
        const drain = onVps(world, `systemctl list-units --all --plain --no-legend 'berth-${ID}-drain-*.service' | awk '{print $1}' | head -n 1`).stdout.trim();
        assert.match(drain, new RegExp(`^berth-${ID}-drain-\\w+\\.service$`), "the drain is scheduled");
        const exposure = /Overall exposure level for \S+: (\d+\.\d+)/.exec(onVps(world, `systemd-analyze security --no-pager ${drain} | tail -n 1`).stdout);
        assert.ok(exposure, `systemd-analyze security ${drain}`);
        const drainExposure = Number(exposure[1]);
        figures.drainExposure = drainExposure;
        assert.ok(drainExposure <= 2.0, `the drain unit's exposure ${drainExposure}`);
    });

    test("3. rollback inside the window under the same load: traffic moves only, 0 errors", async (t) => {
        const load = keepAliveLoad();
        const r = await underLoad(load, () => stage.up({ "berth:revision": "v1" }));
        const stats = load.stats;
        assert.ok(r.ok, r.error);
        const sw = r.commands.find((c) => c.resource.endsWith("-switch"));
        assert.ok(sw, "the switch ran");
        assert.match(sw.stdout, /still running on (blue|green) \(rollback window\): moving traffic only/);
        figures.rollbackWindowUpSeconds = r.seconds;
        figures.rollbackWindowSwitchSeconds = switchSeconds(r);
        // Inside the switch: from its start (host lock taken, checks done) to the rename that moved traffic.
        figures.rollbackWindowTrafficMovedSeconds = Number(/traffic moved to \w+ ([\d.]+)s after/.exec(sw.stdout)?.[1]);
        figures.rollbackKeepAliveRequests = stats.sent;
        figures.rollbackKeepAliveFailed = stats.failed;
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));

        // `berth rollback` as a person runs it (cli/main.ts with the applier as its converge), twice inside
        // the window (to v2, then back to v1), under the same load: the whole command's wall time, and its phases.
        fs.writeFileSync(cliConfig(), JSON.stringify(stage.cfg({ "berth:revision": world.shas.v1 })), { mode: 0o600 });
        const runs: { wall: number; phases: unknown }[] = [];
        for (const to of [world.shas.v2, world.shas.v1]) {
            const l = keepAliveLoad();
            let seconds = 0;
            const cli = await underLoad(l, async () => {
                const t0 = Date.now();
                const out = await berthCli({ configPath: cliConfig(), statePath: path.join(world.work, "state.json"), dnsApi: world.acme.dnsApi }, ["rollback", to.slice(0, 12), "--json"]);
                seconds = (Date.now() - t0) / 1000;
                return out;
            });
            assert.equal(cli.code, 0, `${cli.stdout}\n${cli.stderr}`);
            // The JSON is the last thing printed (the converge's log goes to stderr).
            const out = JSON.parse(cli.stdout.slice(cli.stdout.lastIndexOf("\n{") + 1));
            assert.equal(out.serving, to);
            assert.equal(out.movedFirst, true, `traffic moved on the host before the converge (the kept instance runs it with the serving one's env and units):\n${cli.stderr}`);
            assert.match(cli.stderr, /still running on (blue|green) \(rollback window\): moving traffic only/);
            assert.equal((await stage.get("/version")).body.trim(), to);
            assert.equal(l.stats.failed, 0, l.stats.failures.slice(0, 5).join("; "));
            runs.push({ wall: seconds, phases: out.seconds });
            // Where the converge's time went: its commands (the applier's log) and the switch's own lines.
            for (const l of cli.stderr.split("\n").filter((x) => /\(\d+ ms, exit|berth: (release|traffic|not a)/.test(x))) t.diagnostic(`rollback to ${to.slice(0, 7)}: ${l.trim()}`);
        }
        figures.rollbackCommand = runs;
    });

    test("4. reboot: serving again within 60 s without an up, data intact, the next up runs nothing", async () => {
        await stage.get("/"); // a visit row
        const rows = () => onVps(world, `docker exec ${ID}-postgres psql -U postgres -d sample_dev -Atc 'select count(*) from visits'`).stdout.trim();
        const before = rows();
        assert.match(before, /^\d+$/);
        const t0 = Date.now();
        assert.equal(spawnSync("docker", ["restart", world.vps.name], { encoding: "utf8" }).status, 0);
        const ip = JSON.parse(vps(["info", world.vps.name])).ip;
        assert.equal(ip, world.vps.ip, "the VPS kept its address");
        let up = 0;
        while (Date.now() - t0 < 90_000) {
            try {
                if ((await stage.get("/up", 2000)).status === 200) {
                    up = (Date.now() - t0) / 1000;
                    break;
                }
            } catch {
                /* booting */
            }
            await sleep(500);
        }
        figures.rebootTo200Seconds = up;
        assert.ok(up > 0 && up <= 60, `200 after ${up}s`);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        for (let i = 0; i < 60 && onVps(world, `systemctl is-active --quiet berth-${ID}-worker.service`).code !== 0; i++) await sleep(500);
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-worker.service`).stdout.trim(), "active");
        assert.equal((await stage.get("/health/db")).status, 200);
        assert.equal((await stage.get("/health/redis")).status, 200);
        assert.equal(rows(), before, "Postgres rows intact");
        // (the sha, as `berth rollback` wrote it in scenario 3)
        const r = await stage.up({ "berth:revision": world.shas.v1 });
        assert.ok(r.ok, r.error);
        assert.deepEqual(r.commands.map((c) => c.resource), [], "the next up runs no command");
    });

    test("5. Redis stopped: the up fails naming the health path that needs it, the old release keeps serving", async () => {
        onVps(world, `docker stop ${ID}-redis`);
        try {
            const r = await stage.up({ "berth:revision": "v1", "berth:healthPath": "/health/redis", "berth:healthTimeout": 10 });
            assert.equal(r.ok, false);
            assert.match(r.error ?? "", /unhealthy: \/health\/redis/);
            assert.match(r.error ?? "", /Redis::CannotConnectError/);
            assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        } finally {
            onVps(world, `docker start ${ID}-redis`);
        }
        await waitFor(async () => (await stage.get("/health/redis")).status === 200);
    });

    test("6. Postgres stopped during the release command: the up fails naming the database, the old release keeps serving", async () => {
        const sha = commitAndPush("c3");
        onVps(world, `docker stop ${ID}-postgres`);
        try {
            const load = stage.loadLoop(20000, 5 * 60_000, "/version");
            const r = await stage.up({ "berth:revision": sha }).finally(load.stop);
            const stats = load.stats;
            assert.equal(r.ok, false);
            assert.match(r.error ?? "", /release-command/);
            assert.match(r.error ?? "", /postgres|database|PG::/i);
            assert.equal(stats.failed, 0, stats.failures.slice(0, 5).join("; "));
            assert.equal((await stage.get("/version")).body.trim(), world.shas.v1);
        } finally {
            onVps(world, `docker start ${ID}-postgres`);
        }
        await sleep(3000);
        const r = await stage.up({ "berth:revision": sha });
        assert.ok(r.ok, r.error);
        assert.equal((await stage.get("/version")).body.trim(), sha);
    });

    test("7. disk full on the releases filesystem during the build: fails clearly, old serves, next up succeeds", async () => {
        const sha = commitAndPush("c4");
        const used = Number(onVps(world, `du -sm ${ROOT}/releases | cut -f1`).stdout.trim());
        // A small tmpfs holding a copy of the kept releases, mounted over releases/, then filled up.
        const mount = onVps(world, `set -e; d=$(mktemp -d); mount -t tmpfs -o size=${used + 64}m berth-full "$d"; cp -a ${ROOT}/releases/. "$d"/; mount --bind "$d" ${ROOT}/releases; dd if=/dev/zero of=${ROOT}/releases/.filler bs=64k 2>/dev/null || true; df -m ${ROOT}/releases | tail -1`);
        assert.equal(mount.code, 0, mount.stderr);
        const r = await stage.up({ "berth:revision": sha });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /No space left on device/);
        const prev = onVps(world, `cat ${ROOT}/state/revision`).stdout.trim();
        assert.equal((await stage.get("/version")).body.trim(), prev);
        onVps(world, `rm -f ${ROOT}/releases/.filler`); // space freed
        const ok = await stage.up({ "berth:revision": sha });
        assert.ok(ok.ok, ok.error);
        assert.equal((await stage.get("/version")).body.trim(), sha);
        assert.equal(onVps(world, `ls -a ${ROOT}/releases | grep -c partial || true`).stdout.trim(), "0", "no .partial left");
    });

    test("8. interrupted release: the applier killed mid-build, then mid-switch; old serves; the next up completes", async () => {
        const prev = onVps(world, `cat ${ROOT}/state/revision`).stdout.trim();
        const sha = commitAndPush("c5");
        const load = stage.loadLoop(20000, 8 * 60_000, "/version");
        try {
            const killedBuild = await upKilledWhen({ "berth:revision": sha }, `ls -d ${ROOT}/releases/.${sha}.partial >/dev/null 2>&1 && systemctl list-units --no-legend 'berth-${ID}-build-*' | grep -q .`);
            assert.ok(killedBuild, "killed the applier during the build");
            assert.equal((await stage.get("/version")).body.trim(), prev);
            const r = await stage.up({ "berth:revision": sha });
            assert.ok(r.ok, r.error);
            assert.equal((await stage.get("/version")).body.trim(), sha);
            assert.equal(onVps(world, `ls -a ${ROOT}/releases | grep -c partial || true`).stdout.trim(), "0", "no .partial left");

            // Mid-switch: an env change starts the idle instance; kill once it runs and traffic has not moved.
            const env = { "berth:revision": sha, "berth:env": { APP_HOST: world.domain, FAULTS: "1" } };
            const idle = onVps(world, `cat ${ROOT}/state/color`).stdout.trim() === "blue" ? "green" : "blue";
            const killedSwitch = await upKilledWhen(env, `[ ! -e ${ROOT}/state/${idle}.stamp ] && systemctl is-active --quiet berth-${ID}-web@${idle}.service`);
            assert.ok(killedSwitch, "killed the applier during the switch");
            await sleep(2000);
            const r2 = await stage.up(env);
            assert.ok(r2.ok, r2.error);
        } finally {
            await load.stop();
        }
        assert.equal(load.stats.failed, 0, load.stats.failures.slice(0, 5).join("; "));
        assert.equal((await stage.get("/version")).body.trim(), sha);
        const active = onVps(world, `cat ${ROOT}/state/color`).stdout.trim();
        assert.equal(onVps(world, `readlink ${ROOT}/web.sock`).stdout.trim(), `/run/berth-${ID}/${active}.sock`);
        assert.equal(onVps(world, `ls -a ${ROOT} /etc/nginx/berth | grep -c 'berth-new\\|berth-prev' || true`).stdout.trim(), "0", "no half-written files");
        // The serving instance runs the env file of the last up (FAULTS=1): its stamp holds that file's digest.
        // (Not /proc/<pid>/environ: puma 6 writes its long process title over that memory.)
        assert.match(onVps(world, `grep '^FAULTS=' /etc/berth/${ID}/app.env`).stdout, /^FAULTS="1"$/m);
        const envDigest = onVps(world, `sha256sum /etc/berth/${ID}/app.env | cut -c1-16`).stdout.trim();
        assert.match(onVps(world, `cat ${ROOT}/state/${active}.stamp`).stdout, new RegExp(` env:${envDigest} `), "the serving instance started with the current env file");
        assert.equal(onVps(world, `systemctl is-active berth-${ID}-web@${active}.service`).stdout.trim(), "active");
    });

    test("9. two operations at once: host-level steps wait for the host lock, both end correct", async () => {
        // Another operation (a second stack's switch, an apt run) holds the host lock until the test lets go.
        onVps(world, "touch /root/hold-lock");
        const holder = stage.onVpsBackground("flock /run/lock/berth-host.lock sh -c 'touch /root/lock-held; while [ -e /root/hold-lock ]; do sleep 0.2; done; rm -f /root/lock-held'");
        try {
            await waitFor(async () => onVps(world, "test -e /root/lock-held").code === 0);
            const sha = onVps(world, `cat ${ROOT}/state/revision`).stdout.trim();
            const up = stage.up({ "berth:revision": sha, "berth:env": { APP_HOST: world.domain, FAULTS: "2" } });
            // The switch is waiting on the lock (its flock is running), and the site is untouched meanwhile.
            await waitFor(async () => onVps(world, "pgrep -f '^flock -w [0-9]+ 9$'").code === 0, 120_000);
            await sleep(2000);
            assert.equal((await stage.get("/up")).status, 200);
            const released = Date.now();
            onVps(world, "rm -f /root/hold-lock");
            const r = await up;
            assert.ok(r.ok, r.error);
            assert.ok(Date.now() >= released);
            const sw = r.commands.find((c) => c.resource.endsWith("-switch"));
            assert.ok(sw, "the switch ran");
            assert.match(`${sw.stdout}${sw.stderr}`, /switch of sample-dev: waiting for another berth operation on this host/);
            assert.equal((await stage.get("/version")).body.trim(), sha);
            assert.equal((await stage.get("/up")).status, 200);
        } finally {
            onVps(world, "rm -f /root/hold-lock");
            holder.kill();
        }
    });
});

// ---------------------------------------------------------------------------


async function waitFor(check: () => Promise<boolean>, ms = 60_000): Promise<void> {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
        try {
            if (await check()) return;
        } catch {
            /* not yet */
        }
        await sleep(500);
    }
    throw new Error("timed out");
}


/** Where `berth --config` reads the stack's configuration (as the applier applies it). */
function cliConfig(): string {
    return path.join(world.work, "stack-config.json");
}

/**
 * Latency under a fixed load before any release: 16 keep-alive HTTPS connections
 * sending GET /up back to back, 300 requests to warm up, then 4,000 measured.
 * p50/p99 in milliseconds (the client runs on this machine: test network only).
 */
type Latency = { p50: number; p99: number; requests: number; failed: number };

async function latency(total = 4000): Promise<Latency> {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: stage.pebbleRoot, servername: world.domain });
    const times: number[] = [];
    let failed = 0;
    const run = async (n: number, keep: boolean) => {
        let left = n;
        const worker = async () => {
            while (left-- > 0) {
                const t0 = process.hrtime.bigint();
                try {
                    const r = await stage.get("/up", 10_000, world.domain, agent);
                    if (r.status !== 200) failed++;
                } catch {
                    failed++;
                }
                if (keep) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
            }
        };
        await Promise.all(Array.from({ length: 16 }, worker));
    };
    await run(300, false);
    await run(total, true);
    agent.destroy();
    return percentiles(times, failed, "latency");
}

/** p50/p99 of the measured times (ms); every request of the load answered 200. */
function percentiles(times: number[], failed: number, load: string): Latency {
    times.sort((a, b) => a - b);
    const at = (q: number) => Number(times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2));
    assert.equal(failed, 0, `every request of the ${load} load answered 200`);
    return { p50: at(0.5), p99: at(0.99), requests: times.length, failed };
}

/** The open-loop measure's rate (requests per second) and length: well below what 16 back-to-back connections get. */
const PACED_RATE = 100;
const PACED_SECONDS = 10;

/**
 * Latency below capacity: GET /up started every 1/PACED_RATE s for PACED_SECONDS
 * (an open loop: a slow answer does not delay the next request), one second of
 * the same to warm up; each latency runs from the request's scheduled start.
 * Bounded: PACED_RATE x (PACED_SECONDS + 1) requests, 10 s timeout each.
 */
async function pacedLatency(): Promise<Latency> {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca: stage.pebbleRoot, servername: world.domain });
    const times: number[] = [];
    let failed = 0;
    const warm = PACED_RATE;
    const total = PACED_RATE * PACED_SECONDS + warm;
    const start = process.hrtime.bigint();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
        const due = start + BigInt(Math.round((i * 1e9) / PACED_RATE));
        const wait = Number(due - process.hrtime.bigint()) / 1e6;
        if (wait > 0) await sleep(wait);
        pending.push(
            stage.get("/up", 10_000, world.domain, agent).then(
                (r) => {
                    if (r.status !== 200) failed++;
                    if (i >= warm) times.push(Number(process.hrtime.bigint() - due) / 1e6);
                },
                () => {
                    failed++;
                },
            ),
        );
    }
    await Promise.all(pending);
    agent.destroy();
    return percentiles(times, failed, "paced");
}

/** Seconds the switch command took in an up (the time traffic needs to move, plus the health check when an instance starts). */
function switchSeconds(r: UpReport): number | undefined {
    const sw = r.commands.find((c) => c.resource.endsWith("-switch"));
    return sw ? sw.ms / 1000 : undefined;
}

/**
 * 16 keep-alive HTTPS connections sending GET /up back to back, plus one
 * slow request (3 s) started every second on its own connection, until
 * stopped (bounded: 200,000 requests, 10 minutes). Test network only.
 */
function keepAliveLoad() {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: stage.pebbleRoot, servername: world.domain });
    const stats = { sent: 0, failed: 0, slow: 0, failures: [] as string[], slowServedBy: new Set<string>() };
    let stop = false;
    const t0 = Date.now();
    const bounded = () => !stop && stats.sent < 200_000 && Date.now() - t0 < 10 * 60_000;
    const get = (p: string, a: https.Agent | false) => stage.get(p, 30_000, world.domain, a);
    const record = (e: unknown) => {
        stats.failed++;
        stats.failures.push((e as Error).message);
    };
    const worker = async () => {
        while (bounded()) {
            stats.sent++;
            try {
                const r = await get("/up", agent);
                if (r.status !== 200) record(new Error(`HTTP ${r.status}`));
            } catch (e) {
                record(e);
            }
        }
    };
    const slow = async () => {
        const inflight: Promise<void>[] = [];
        while (bounded()) {
            inflight.push(
                get("/slow?seconds=3", false).then(
                    (r) => {
                        stats.slow++;
                        if (r.status !== 200) record(new Error(`slow: HTTP ${r.status}`));
                        else stats.slowServedBy.add(r.body.trim().split(" ").pop() ?? "");
                    },
                    (e) => record(new Error(`slow: ${(e as Error).message}`)),
                ),
            );
            await sleep(1000);
        }
        await Promise.all(inflight);
    };
    const done = Promise.all([...Array.from({ length: 16 }, worker), slow()]);
    return {
        stats,
        stop: async () => {
            stop = true;
            await done;
            agent.destroy();
            return stats;
        },
    };
}

/** Can a TLS client limited to `version` complete a handshake with the site? */
function tlsHandshake(version: "TLSv1.1" | "TLSv1.2"): Promise<boolean> {
    return new Promise((resolve) => {
        const s = tls.connect({ host: world.vps.ip, port: 443, servername: world.domain, ca: stage.pebbleRoot, minVersion: version, maxVersion: version, ciphers: "DEFAULT:@SECLEVEL=0" }, () => {
            s.end();
            resolve(true);
        });
        s.on("error", () => resolve(false));
        s.setTimeout(5000, () => (s.destroy(), resolve(false)));
    });
}

/** Commits a harmless change on top of main in the world's sample repository, pushes it, returns its sha. */
function commitAndPush(label: string): string {
    const dir = path.join(world.work, "sample");
    const env = { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_AUTHOR_NAME: "berth e2e", GIT_AUTHOR_EMAIL: "e2e@berth.invalid", GIT_COMMITTER_NAME: "berth e2e", GIT_COMMITTER_EMAIL: "e2e@berth.invalid" };
    const git = (...args: string[]) => {
        const r = spawnSync("git", ["-C", dir, ...args], { encoding: "utf8", env });
        assert.equal(r.status, 0, `git ${args.join(" ")}: ${r.stderr}`);
        return r.stdout.trim();
    };
    fs.writeFileSync(path.join(dir, "public", "faults.txt"), `${label}\n`);
    git("add", "-A");
    git("commit", "-q", "--no-verify", "-m", `faults ${label}`);
    const push = spawnSync("bash", [path.join(__dirname, "host", "vps.sh"), "gitserver", "push", dir, world.repo], { encoding: "utf8", env: { ...process.env, BERTH_E2E_INSTANCE: world.services } });
    assert.equal(push.status, 0, push.stderr);
    return git("rev-parse", "HEAD");
}

/**
 * Runs `up` in its own applier process (as the driver does) and SIGKILLs it
 * (and its ssh children) once `probe` succeeds on the VPS: the operator's
 * machine or connection dying mid-operation. True when it was killed before
 * it finished.
 */
async function upKilledWhen(overrides: Record<string, unknown>, probe: string): Promise<boolean> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-kill-"));
    const configPath = path.join(dir, "config.json");
    fs.writeFileSync(configPath, JSON.stringify(stage.cfg(overrides)), { mode: 0o600 });
    const p = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "apply-cli.ts"), "up", path.join(world.work, "state.json"), configPath, path.join(dir, "report.json"), world.acme.dnsApi], {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, BERTH_REAL_HOME: "1" },
        detached: true,
    });
    let exited = false;
    const closed = new Promise<void>((r) => p.on("close", () => ((exited = true), r())));
    let killed = false;
    const t0 = Date.now();
    while (!exited && Date.now() - t0 < 5 * 60_000) {
        if (onVps(world, probe).code === 0) {
            process.kill(-p.pid!, "SIGKILL");
            killed = true;
            break;
        }
        await sleep(300);
    }
    await closed;
    fs.rmSync(dir, { recursive: true, force: true });
    return killed;
}

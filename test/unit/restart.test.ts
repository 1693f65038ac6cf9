/**
 * `berth restart | stop | start [process]` (cli/commands/restart.ts): the names
 * each stack knows and the refusal of others, the scripts (golden +
 * shellcheck), the web restart run with real bash against a fake host tree
 * and stub systemctl/curl/systemd-run (traffic moves only to a healthy
 * instance; the serving stamp moves with it), and the order of maintenance
 * and unit stops on a stack whose converge and hosts are recorded.
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BerthConfig } from "../../lib/config";
import { HOST_LOCK } from "../../lib/names";
import { actionScript, knownTargets, processUnitsOn, resolveTarget, runAction, scheduleTimersOn, webRestartLines } from "../../cli/commands/restart";
import type { Stack } from "../../cli/support/stack";
import { script } from "../../lib/shell";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, quietStderr as quiet } from "./harness";

/** production: the example with berth:workerCommand (the single worker unit). */
const staging = configFor("production");
const PROC_FILE = "examples/Pulumi.processes.yaml";
const procs = configFor("processes", {}, PROC_FILE);

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-restart-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("the names restart, stop and start take", () => {
    test("production (berth:workerCommand): web and worker; the processes example: web and its process types", () => {
        assert.deepEqual(knownTargets(staging), ["web", "worker"]);
        assert.deepEqual(knownTargets(procs), ["web", ...Object.keys(procs.processes)]);
        assert.ok(Object.keys(procs.processes).length >= 2, "the example declares process types");
    });
    test("an unknown name is refused, listing the known ones", () => {
        assert.throws(() => resolveTarget(staging, "sidekiq"), /stack production has no process "sidekiq"; known: web, worker$/);
        assert.throws(() => resolveTarget(procs, "worker2"), new RegExp(`known: ${knownTargets(procs).join(", ")}$`));
        assert.equal(resolveTarget(staging, undefined), undefined);
        assert.equal(resolveTarget(staging, "web"), "web");
        assert.deepEqual(resolveTarget(staging, "worker"), { process: "worker" });
    });
    test("each name selects its own units only", () => {
        const [first, second] = Object.keys(procs.processes);
        const one = processUnitsOn(procs, { process: first });
        assert.ok(one.length === procs.processes[first].count && one.every((u) => u.startsWith(`berth-${procs.names.id}-${first}@`)), one.join(" "));
        assert.ok(!processUnitsOn(procs, { process: first }).some((u) => u.includes(`-${second}@`)));
        assert.deepEqual(processUnitsOn(procs, "web"), []);
        assert.deepEqual(processUnitsOn(staging, undefined), [`${staging.names.workerUnit}.service`]);
        // Schedules' timers: only stop/start of everything.
        assert.equal(scheduleTimersOn(procs, undefined).length, Object.keys(procs.schedules).length);
        assert.deepEqual(scheduleTimersOn(procs, { process: first }), []);
    });
});

describe("the scripts", () => {
    const cases: [string, BerthConfig, "restart" | "stop" | "start", Parameters<typeof actionScript>[2]][] = [
        ["restart-all", procs, "restart", undefined],
        ["restart-web", staging, "restart", "web"],
        ["restart-worker", staging, "restart", { process: "worker" }],
        ["stop-all", procs, "stop", undefined],
        ["start-all", procs, "start", undefined],
    ];
    for (const [name, cfg, action, target] of cases) {
        test(`${name}: golden, shellcheck-clean, holds the host lock`, () => {
            const body = actionScript(cfg, action, target)!;
            assert.ok(body.includes(HOST_LOCK));
            expectGolden(`ops/${name}.sh`, body);
            expectShellcheckClean(name, body);
        });
    }
    test("restart of a process does not touch the web; restart of the web restarts no worker", () => {
        const worker = actionScript(staging, "restart", { process: "worker" })!;
        assert.doesNotMatch(worker, /web@|web\.sock/);
        assert.match(worker, new RegExp(`systemctl restart ${staging.names.workerUnit}\\.service`));
        assert.doesNotMatch(actionScript(staging, "restart", "web")!, /worker/);
    });
    test("stop stops the timers before the workers; start starts them after", () => {
        const stop = actionScript(procs, "stop", undefined)!;
        const start = actionScript(procs, "start", undefined)!;
        assert.ok(stop.indexOf(".timer") < stop.indexOf("@1.service"));
        assert.ok(start.indexOf(".timer") > start.indexOf("@1.service"));
        assert.doesNotMatch(stop, /web@/, "stop leaves the web to the maintenance page");
    });
    test("nothing to do on a host that runs nothing of the target", () => {
        assert.equal(actionScript(staging, "stop", "web"), undefined);
    });
});

/** A host tree in `root` with the instance `color` serving; stub commands on PATH that log to `log`. */
function fakeHost(root: string, opts: { color?: string; health: string; failed?: boolean }) {
    const cfg = staging;
    const n = cfg.names;
    const at = (p: string) => path.join(root, p);
    const names = { ...n, root: at(n.root), runDir: at(n.runDir), webSocket: at(n.webSocket) };
    const hcfg = { ...cfg, names } as BerthConfig;
    const rel = `${names.root}/releases/${"a".repeat(40)}`;
    fs.mkdirSync(rel, { recursive: true });
    fs.mkdirSync(`${names.root}/state`, { recursive: true });
    fs.mkdirSync(`${names.root}/slots`, { recursive: true });
    fs.mkdirSync(names.runDir, { recursive: true });
    if (opts.color) {
        const port = opts.color === "blue" ? cfg.ports.webBlue : cfg.ports.webGreen;
        fs.writeFileSync(`${names.root}/state/color`, `${opts.color}\n`);
        fs.writeFileSync(`${names.root}/state/${opts.color}.stamp`, "aaaa env:1 units:2\n");
        fs.symlinkSync(rel, `${names.root}/slots/${opts.color}`);
        fs.writeFileSync(`${names.root}/slots/${opts.color}.env`, `# Managed by berth (project shop, stack production)\nPORT=${port}\nREVISION=${"a".repeat(40)}\n`);
        fs.symlinkSync(`${names.runDir}/${opts.color}.sock`, names.webSocket);
    }
    const bin = at("bin");
    fs.mkdirSync(bin);
    const log = at("log");
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\necho "${name} $*" >> ${JSON.stringify(log)}\n${body}\n`, { mode: 0o755 });
    stub("systemctl", `case "$1" in is-failed) exit ${opts.failed ? 0 : 1} ;; esac; exit 0`);
    stub("curl", `printf '%s' ${JSON.stringify(opts.health)}`);
    stub("journalctl", "echo 'puma: boom'");
    stub("systemd-run", "exit 0");
    stub("sleep", "exit 0");
    const body = script(webRestartLines(hcfg)).split(HOST_LOCK).join(at("lock"));
    const r = spawnSync("bash", ["-c", body], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
    return { r, calls, names, rel };
}

describe("restart web, run with bash against a fake host", () => {
    test("a healthy restart moves traffic to the other instance on the same release, with the serving stamp, and drains the old one", () => {
        const { r, calls, names, rel } = fakeHost(path.join(scratch, "ok"), { color: "green", health: "200" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(`${names.root}/state/color`, "utf8").trim(), "blue");
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/blue.sock`);
        assert.equal(fs.readlinkSync(`${names.root}/slots/blue`), rel);
        assert.equal(fs.readFileSync(`${names.root}/state/blue.stamp`, "utf8"), "aaaa env:1 units:2\n");
        assert.equal(fs.readFileSync(`${names.root}/slots/blue.env`, "utf8"), fs.readFileSync(`${names.root}/slots/green.env`, "utf8").replace(`PORT=${staging.ports.webGreen}`, `PORT=${staging.ports.webBlue}`));
        assert.match(calls, new RegExp(`systemctl start ${names.webUnit}blue\\.service ${names.proxyUnit}blue\\.socket`));
        assert.match(calls, new RegExp(`systemd-run .*--on-active=${staging.release.drainSeconds} -p Conflicts=${names.proxyUnit}green\\.socket -p Conflicts=${names.webUnit}green\\.service`));
        assert.ok(calls.indexOf("curl") < calls.indexOf("systemctl enable"), "traffic moves only after the probe");
        assert.match(r.stdout, /web restarted: release a{40} serving on blue/);
    });
    test("an unhealthy instance is stopped, traffic stays, exit 1 with its log", () => {
        const { r, calls, names } = fakeHost(path.join(scratch, "bad"), { color: "blue", health: "502", failed: true });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /did not answer 200 .*last answer: 502\); traffic stays on blue/);
        assert.match(r.stderr, /puma: boom/);
        assert.equal(fs.readFileSync(`${names.root}/state/color`, "utf8").trim(), "blue");
        assert.equal(fs.readlinkSync(names.webSocket), `${names.runDir}/blue.sock`);
        assert.ok(!fs.existsSync(`${names.root}/state/green.stamp`));
        assert.doesNotMatch(calls, /systemd-run|systemctl enable/);
    });
    test("nothing serving yet: refused, nothing started", () => {
        const { r, calls } = fakeHost(path.join(scratch, "none"), { health: "200" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /nothing serves yet/);
        assert.doesNotMatch(calls, /systemctl start/);
    });
});

describe("runAction: maintenance and the hosts, in order", () => {
    function fakeStack(cfg: BerthConfig, events: string[], fail = false): Stack {
        const converger = {
            describe: (c: Record<string, string>) => [`pulumi up (${JSON.stringify(c)})`],
            apply: async (c: Record<string, string>) => (events.push(`converge ${JSON.stringify(c)}`), { ok: true }),
        };
        const stack = {
            cfg,
            source: { config: cfg, converger },
            probe: () => ({ maintenance: events.some((e) => e.includes('"maintenance":"true"')) && !events.some((e) => e.includes('"maintenance":"false"')) }),
            on: () => stack,
            host: {
                run: (body: string) => {
                    events.push(`host ${{ restarted: "restart", stopped: "stop", started: "start" }[/berth: (restarted|stopped|started) processes/.exec(body)?.[1] ?? ""] ?? "?"}`);
                    return { code: fail ? 1 : 0, stdout: "berth: done\n", stderr: fail ? "boom\n" : "" };
                },
            },
        };
        return stack as unknown as Stack;
    }
    test("stop: maintenance on first, then the workers", async () => {
        const events: string[] = [];
        const out = await quiet(() => runAction(fakeStack(procs, events), "stop", undefined, { yes: true }));
        assert.equal(out.code, 0, out.text.join("\n"));
        assert.deepEqual(events, ['converge {"maintenance":"true"}', "host stop"]);
    });
    test("start: the workers first, then maintenance off", async () => {
        const events: string[] = [];
        const out = await quiet(() => runAction(fakeStack({ ...procs, maintenance: true }, events), "start", undefined, { yes: true }));
        assert.equal(out.code, 0, out.text.join("\n"));
        assert.deepEqual(events, ["host start", 'converge {"maintenance":"false"}']);
    });
    test("start whose units fail to start leaves maintenance on", async () => {
        const events: string[] = [];
        const out = await quiet(() => runAction(fakeStack({ ...procs, maintenance: true }, events, true), "start", undefined, { yes: true }));
        assert.equal(out.code, 1);
        assert.deepEqual(events, ["host start"]);
    });
    test("stop of one process: no maintenance; restart: no maintenance", async () => {
        const events: string[] = [];
        await quiet(() => runAction(fakeStack(staging, events), "stop", "worker", {}));
        await quiet(() => runAction(fakeStack(staging, events), "restart", undefined, {}));
        assert.deepEqual(events, ["host stop", "host restart"]);
    });
    test("a dry run changes nothing and says what it would do", async () => {
        const events: string[] = [];
        const out = await quiet(() => runAction(fakeStack(procs, events), "stop", undefined, { dryRun: true }));
        assert.deepEqual(events, []);
        assert.ok(out.text.some((l) => /^would stop .*\.timer/.test(l)), out.text.join("\n"));
    });
    test("an unknown name: refused before anything runs", async () => {
        const events: string[] = [];
        await assert.rejects(() => runAction(fakeStack(staging, events), "stop", "nope", {}), /known: web, worker/);
        assert.deepEqual(events, []);
    });
});

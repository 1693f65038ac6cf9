/**
 * Process types and schedules, wired (examples/Pulumi.processes.yaml):
 * golden scripts and units, shellcheck, systemd-analyze, the program's
 * resources and their order, and the generated bash run with real bash
 * against fixture directories (systemctl faked, recording its calls).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { HOST_LOCK, processUnitNames, scheduleFailureUnit, scheduleStateDir, scheduleUnitNames } from "../../lib/names";
import { managedBy } from "../../lib/managedBy";
import { withShebang } from "../../lib/shell";
import { processUnitFile } from "../../lib/units/process";
import { scheduleFailureFile, scheduleServiceFile, scheduleTimerFile } from "../../lib/units/schedule";
import * as pr from "../../components/app/processes";
import * as sc from "../../components/app/schedules";
import * as sw from "../../components/app/switch";
import { namedLogsScript, parseScheduleStatus, processStatusUnits, scheduleStatusScript, scheduleStatusText, schedulesHere } from "../../cli/support/processes";
import { expectGolden, expectShellcheckClean } from "./golden";
import { byType, configFor, Recorded, RunResult, runProgram, stackConfig, unwrap } from "./harness";
import { processAndScheduleTargets, processAndScheduleUnits, securityScore, verifyUnits } from "./systemd";

const FILE = "examples/Pulumi.processes.yaml";
const cfg = configFor("processes", {}, FILE);
const SHA = "5f8008de1dd704ea09395bd87621f1d32eeac017";
const INPUTS = { sha: SHA, envHash: "e".repeat(64), unitsHash: "u".repeat(64) };

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-processes-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let count = 0;
function tmpDir(label: string): string {
    const d = path.join(scratch, `${label}-${++count}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
}

// ---------------------------------------------------------------------------
// A fake host: /etc/systemd/system, the app root and the state directory in
// a temp dir (the script's absolute paths rewritten), systemctl and find
// faked on PATH. systemctl records every call; `list-units` answers from
// $FAKE/loaded (one unit per line, as systemd prints them), `is-active`
// from $FAKE/active.

interface FakeHost {
    dir: string;
    etc: string;
    root: string;
    calls: () => string[];
}

function fakeHost(_c?: BerthConfig): FakeHost {
    const dir = tmpDir("host");
    const etc = path.join(dir, "etc-systemd");
    const root = path.join(dir, "root");
    const bin = path.join(dir, "bin");
    for (const d of [etc, root, bin]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(dir, "loaded"), "");
    fs.writeFileSync(path.join(dir, "active"), "");
    fs.writeFileSync(
        path.join(bin, "systemctl"),
        [
            "#!/bin/bash",
            'echo "$*" >> "$FAKE/calls"',
            'case "$1" in',
            '  list-units) pat=""; for a in "$@"; do case "$a" in -*|list-units) ;; *) pat=$a ;; esac; done; while IFS= read -r l; do set -- $l; u=$1; [ "$u" = "●" ] && u=$2; case "$u" in $pat) echo "$l" ;; esac; done < "$FAKE/loaded" ;;',
            '  is-active) for a in "$@"; do case "$a" in -*|is-active) ;; *) grep -qxF "$a" "$FAKE/active" || exit 3 ;; esac; done ;;',
            "esac",
            "exit 0",
        ].join("\n"),
        { mode: 0o755 },
    );
    // The scripts `chown root:root` what they write; as another user that would fail.
    fs.writeFileSync(path.join(bin, "chown"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "stat"), `#!/bin/sh\nif [ "$1" = -c ] && [ "$2" = '%a %U:%G' ]; then printf '%s root:root\\n' "$(/usr/bin/stat -c %a "$3")"; else exec /usr/bin/stat "$@"; fi\n`, { mode: 0o755 });
    return { dir, etc, root, calls: () => (fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").filter(Boolean) : []) };
}

/** The script with the host's paths pointed into the fake host. */
function onFake(h: FakeHost, c: BerthConfig, text: string): string {
    return text.split("/etc/systemd/system").join(h.etc).split(c.names.root).join(h.root);
}

function runOn(h: FakeHost, c: BerthConfig, text: string): { status: number; stdout: string; stderr: string } {
    const file = path.join(h.dir, `script-${++count}.sh`);
    fs.writeFileSync(file, withShebang(onFake(h, c, text)));
    const r = spawnSync("bash", [file], { encoding: "utf8", env: { ...process.env, FAKE: h.dir, PATH: `${path.join(h.dir, "bin")}:${process.env.PATH}` } });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------

describe("processes stack: golden scripts and units", () => {
    const scripts: Record<string, string> = {
        "processes-units.sh": pr.processUnitsScript(cfg),
        "processes-units-delete.sh": pr.processUnitsDeleteScript(cfg),
        "schedules.sh": sc.schedulesScript(cfg),
        "schedules-delete.sh": sc.schedulesDeleteScript(cfg),
        "switch.sh": sw.switchScript(cfg, INPUTS),
        "switch-stop.sh": sw.stopScript(cfg),
        "schedule-status.sh": scheduleStatusScript(cfg),
    };
    for (const [file, text] of Object.entries(scripts)) {
        test(file, () => {
            expectGolden(`processes/${file}`, text);
            expectShellcheckClean(`processes/${file}`, withShebang(text));
        });
    }
    for (const [file, text] of Object.entries(processAndScheduleUnits(cfg))) {
        test(file, () => expectGolden(`processes/${file.replace(`berth-${cfg.names.id}-`, "")}`, text));
    }
    test("systemd-analyze verify prints nothing for every instance, schedule, timer and the failure unit", () => {
        const files = processAndScheduleUnits(cfg);
        const targets = [...processAndScheduleTargets(cfg), `${scheduleFailureUnit(cfg.names).unit}digest.service`];
        assert.equal(targets.length, 8);
        const r = verifyUnits(files, targets);
        assert.ok(r.ok, r.output);
    });
    test("systemd-analyze security scores every service at most 2.0, the failure unit included", () => {
        const files = processAndScheduleUnits(cfg);
        for (const f of Object.keys(files).filter((x) => x.endsWith(".service"))) {
            const score = securityScore(files, f);
            assert.ok(score <= 2.0, `${f}: exposure ${score} > 2.0`);
        }
    });
    test("checks that can fail: verify reports a schedule whose failure unit has a bad setting", () => {
        const files = processAndScheduleUnits(cfg);
        const failure = path.basename(scheduleFailureUnit(cfg.names).unitPath);
        const r = verifyUnits({ ...files, [failure]: files[failure].replace("PrivateNetwork=yes", "PrivateNetwrk=yes") }, [`${scheduleFailureUnit(cfg.names).unit}digest.service`]);
        assert.ok(!r.ok);
        assert.match(r.output, /PrivateNetwrk/);
    });
});

describe("berth:workerCommand keeps today's worker unit; berth:processes takes over only when set", () => {
    const legacy = configFor("production");
    test("a stack with berth:workerCommand has the process worker but no template units, in the plan, the switch and status", () => {
        assert.ok(legacy.release.workerCommand);
        assert.deepEqual(Object.keys(legacy.processes), ["worker"]);
        assert.deepEqual(processStatusUnits(legacy), []);
        const s = sw.switchScript(legacy, INPUTS);
        assert.doesNotMatch(s, /worker@|instances\(\)/);
        assert.match(s, /systemctl restart berth-shop-production-worker\.service/);
    });
    test("berth:processes.worker: worker@1..count, and the old worker unit is removed by the units script", async () => {
        const moved = configFor("production", { "berth:workerCommand": undefined, "berth:processes": { worker: { command: "bundle exec sidekiq", count: 2 } } });
        assert.deepEqual(processStatusUnits(moved), ["berth-shop-production-worker@1.service", "berth-shop-production-worker@2.service"]);
        const units = await import("../../components/app/appUnits");
        assert.match(units.unitsScript(moved), /systemctl disable --now --quiet berth-shop-production-worker\.service/);
        assert.match(sw.switchScript(moved, INPUTS), /systemctl restart berth-shop-production-worker@1\.service berth-shop-production-worker@2\.service/);
    });
    test("a process may not run on a host without the web or worker role", () => {
        const on = (hosts: string[]) => configFor("fleet", { "berth:workerCommand": undefined, "berth:processes": { jobs: { command: "bin/jobs", hosts } } }, "examples/Pulumi.fleet.yaml");
        assert.throws(() => on(["data"]), /processes\.jobs: host "data" has neither the web nor the worker role/);
        assert.deepEqual(on(["web2"]).processes.jobs.hosts, ["web2"]);
    });
});

describe("the switch's process part, run with bash", () => {
    test("instances 1..count are enabled and restarted; those above the count and stray ones are stopped and disabled", () => {
        const h = fakeHost(cfg);
        const w = processUnitNames(cfg.names, "worker", 0).unit;
        const m = processUnitNames(cfg.names, "mailer", 0).unit;
        // worker@3 runs (the count was 3), worker@4 failed (a bullet in the listing), mailer@2 is only enabled.
        fs.writeFileSync(path.join(h.dir, "loaded"), [`${w}1.service loaded active running x`, `${w}3.service loaded active running x`, `● ${w}4.service loaded failed failed x`, ""].join("\n"));
        fs.mkdirSync(path.join(h.etc, "multi-user.target.wants"));
        fs.writeFileSync(path.join(h.etc, "multi-user.target.wants", `${m}2.service`), "");
        fs.writeFileSync(path.join(h.etc, "multi-user.target.wants", `${m}1.service`), "");
        const body = ["rev=abc", pr.instancesFunction(), ...pr.processSwitchLines(cfg).flat(3).filter((x): x is string => typeof x === "string")].join("\n");
        // find reads the real /etc/systemd/system: point it at the fake one.
        const r = runOn(h, cfg, body.split("find /etc/systemd/system").join(`find ${h.etc}`));
        assert.equal(r.status, 0, r.stderr);
        const calls = h.calls();
        assert.ok(calls.includes(`enable --quiet ${w}1.service ${w}2.service`), calls.join("\n"));
        assert.ok(calls.includes(`restart ${w}1.service ${w}2.service`), calls.join("\n"));
        assert.ok(calls.includes(`restart ${m}1.service`), calls.join("\n"));
        const stopped = calls.filter((c) => c.startsWith("disable --now")).map((c) => c.split(" ").pop());
        assert.deepEqual(stopped.sort(), [`${m}2.service`, `${w}3.service`, `${w}4.service`].sort());
        assert.match(r.stdout, /stopped berth-shop-processes-worker@3\.service \(worker runs 2 on this host\)/);
    });
    test("a count of 0 stops every instance and starts none", () => {
        const zero = configFor("processes", { "berth:processes": { worker: { command: "bundle exec sidekiq", count: 0 } } }, FILE);
        const h = fakeHost(zero);
        const w = processUnitNames(zero.names, "worker", 0).unit;
        fs.writeFileSync(path.join(h.dir, "loaded"), `${w}1.service loaded active running x\n${w}2.service loaded active running x\n`);
        const body = ["rev=abc", pr.instancesFunction(), ...pr.processSwitchLines(zero).flat(3).filter((x): x is string => typeof x === "string")].join("\n");
        const r = runOn(h, zero, body.split("find /etc/systemd/system").join(`find ${h.etc}`));
        assert.equal(r.status, 0, r.stderr);
        const calls = h.calls();
        assert.ok(!calls.some((c) => c.startsWith("restart") || c.startsWith("enable")), calls.join("\n"));
        assert.deepEqual(calls.filter((c) => c.startsWith("disable")).length, 2);
    });
});

describe("a worker-only host's switch, run with bash", () => {
    const fleet = configFor(
        "fleet",
        {
            "berth:workerCommand": undefined,
            "berth:hosts": [
                { name: "web1", address: "203.0.113.31", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k", roles: ["web"] },
                { name: "jobs", address: "203.0.113.34", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID/OkqO5A1NNS+H5MK5fHskty1lNvmdXYIlpgLQpTTDi", roles: ["worker"] },
                { name: "data", address: "203.0.113.33", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", roles: ["data"] },
            ],
            "berth:processes": { worker: { command: "bundle exec sidekiq", count: 2 } },
        },
        "examples/Pulumi.fleet.yaml",
    );
    test("points current at the release, restarts the instances, records the stamp; a second run finds them running and does nothing", () => {
        const { viewOf } = require("../../lib/plan") as typeof import("../../lib/plan");
        const c = viewOf(fleet, "jobs")!;
        assert.deepEqual(processStatusUnits(c), ["berth-shop-fleet-worker@1.service", "berth-shop-fleet-worker@2.service"]);
        const h = fakeHost(c);
        const rel = path.join(h.root, "releases", SHA);
        fs.mkdirSync(rel, { recursive: true });
        fs.writeFileSync(path.join(rel, ".berth-built"), "");
        const text = sw.switchScript(c, INPUTS).split(HOST_LOCK).join(path.join(h.dir, "lock")).split("find /etc/systemd/system").join(`find ${h.etc}`);
        const first = runOn(h, c, text);
        assert.equal(first.status, 0, first.stderr);
        assert.equal(fs.readlinkSync(path.join(h.root, "current")), rel);
        assert.ok(h.calls().includes("restart berth-shop-fleet-worker@1.service berth-shop-fleet-worker@2.service"), h.calls().join("\n"));
        fs.writeFileSync(path.join(h.dir, "active"), "berth-shop-fleet-worker@1.service\nberth-shop-fleet-worker@2.service\n");
        const before = h.calls().length;
        const second = runOn(h, c, text);
        assert.equal(second.status, 0, second.stderr);
        assert.match(second.stdout, /already running/);
        assert.ok(!h.calls().slice(before).some((x) => x.startsWith("restart")), "nothing restarted");
        // One instance down: the next switch restarts them.
        fs.writeFileSync(path.join(h.dir, "active"), "berth-shop-fleet-worker@1.service\n");
        const third = runOn(h, c, text);
        assert.equal(third.status, 0, third.stderr);
        assert.doesNotMatch(third.stdout, /already running/);
    });
});

describe("the process units script, run with bash", () => {
    const managed = (c: BerthConfig) => pr.processUnitsScript(c).split("\n").find((l) => l.startsWith("# Managed by berth"))!;
    test("writes the template units, removes a process type no longer configured (its instances first), keeps every other unit; a second run changes nothing", () => {
        const h = fakeHost(cfg);
        const header = managed(cfg);
        const old = `berth-${cfg.names.id}-reports@.service`;
        fs.writeFileSync(path.join(h.etc, old), `${header}\n[Service]\nEnvironment=BERTH_PROCESS=reports BERTH_PROCESS_INSTANCE=%i\n`);
        // The web template (no BERTH_PROCESS) and another stack's process unit stay.
        fs.writeFileSync(path.join(h.etc, `${cfg.names.webUnit}.service`), `${header}\n[Service]\nExecStart=/bin/true\n`);
        const other = `berth-${cfg.names.id}-x-jobs@.service`;
        fs.writeFileSync(path.join(h.etc, other), "# Managed by berth (project berth, stack processes-x). Changes are overwritten by pulumi up.\nEnvironment=BERTH_PROCESS=jobs\n");
        fs.writeFileSync(path.join(h.dir, "loaded"), `berth-${cfg.names.id}-reports@1.service loaded active running x\n`);
        const r = runOn(h, cfg, pr.processUnitsScript(cfg).split("find /etc/systemd/system").join(`find ${h.etc}`));
        assert.equal(r.status, 0, r.stderr);
        assert.ok(!fs.existsSync(path.join(h.etc, old)), "the old process type's unit is gone");
        assert.ok(fs.existsSync(path.join(h.etc, `${cfg.names.webUnit}.service`)));
        assert.ok(fs.existsSync(path.join(h.etc, other)));
        assert.equal(fs.readFileSync(path.join(h.etc, `berth-${cfg.names.id}-worker@.service`), "utf8"), onFake(h, cfg, processUnitFile(cfg, cfg.processes.worker)));
        assert.ok(h.calls().includes(`disable --now --quiet berth-${cfg.names.id}-reports@1.service`), h.calls().join("\n"));
        assert.equal(h.calls().filter((c) => c === "daemon-reload").length, 1);
        assert.match(r.stdout, /removed the process type berth-shop-processes-reports/);
        const again = runOn(h, cfg, pr.processUnitsScript(cfg).split("find /etc/systemd/system").join(`find ${h.etc}`));
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stdout, /process units unchanged/);
        assert.equal(h.calls().filter((c) => c === "daemon-reload").length, 1);
    });
});

describe("the schedules script and the failure record, run with bash", () => {
    test("waits for a current release; then writes the units, enables the timers, removes a schedule no longer configured with its marker", () => {
        const h = fakeHost(cfg);
        const first = runOn(h, cfg, sc.schedulesScript(cfg));
        assert.equal(first.status, 1);
        assert.match(first.stderr, /no release is current/);
        assert.deepEqual(h.calls(), [], "nothing enabled before the first release");
        fs.mkdirSync(path.join(h.root, "releases", SHA), { recursive: true });
        fs.symlinkSync(path.join(h.root, "releases", SHA), path.join(h.root, "current"));
        const header = sc.schedulesScript(cfg).split("\n").find((l) => l.startsWith("# Managed by berth"))!;
        const gone = scheduleUnitNames(cfg.names, "report");
        fs.writeFileSync(path.join(h.etc, path.basename(gone.servicePath)), `${header}\n[Service]\nEnvironment=BERTH_SCHEDULE=report\n`);
        fs.writeFileSync(path.join(h.etc, path.basename(gone.timerPath)), `${header}\n[Timer]\nOnCalendar=daily\n`);
        const stateDir = onFake(h, cfg, scheduleStateDir(cfg.names));
        fs.mkdirSync(stateDir, { recursive: true });
        fs.writeFileSync(path.join(stateDir, "report.failed"), "2026-01-01T00:00:00Z exit-code 1\n");
        const r = runOn(h, cfg, sc.schedulesScript(cfg));
        assert.equal(r.status, 0, r.stderr);
        for (const s of Object.values(cfg.schedules)) {
            const u = scheduleUnitNames(cfg.names, s.name);
            assert.equal(fs.readFileSync(onFake(h, cfg, u.servicePath), "utf8"), onFake(h, cfg, scheduleServiceFile(cfg, s)));
            assert.ok(fs.existsSync(onFake(h, cfg, u.timerPath)));
        }
        assert.ok(!fs.existsSync(path.join(h.etc, path.basename(gone.servicePath))));
        assert.ok(!fs.existsSync(path.join(h.etc, path.basename(gone.timerPath))));
        assert.ok(!fs.existsSync(path.join(stateDir, "report.failed")));
        const calls = h.calls();
        assert.ok(calls.includes(`disable --now --quiet ${gone.unit}.timer`), calls.join("\n"));
        assert.ok(calls.includes(`enable --now --quiet berth-${cfg.names.id}-schedule-digest.timer berth-${cfg.names.id}-schedule-sweep.timer`), calls.join("\n"));
        assert.ok(calls.indexOf("daemon-reload") < calls.findIndex((c) => c.startsWith("enable")));
    });

    test("the failure unit's command writes the marker berth status reads; a successful run's ExecStartPost= removes it", () => {
        const h = fakeHost(cfg);
        const stateDir = onFake(h, cfg, scheduleStateDir(cfg.names));
        fs.mkdirSync(stateDir, { recursive: true });
        // ExecStart=/bin/sh -c '<body>' sh %i, unescaped as systemd does for this text ($$, %%, \' and \\).
        const line = onFake(h, cfg, scheduleFailureFile(cfg)).split("\n").find((l) => l.startsWith("ExecStart="))!;
        const m = /^ExecStart=\/bin\/sh -c '((?:[^'\\]|\\.)*)' sh %i$/.exec(line);
        assert.ok(m, line);
        const body = m[1].replace(/\\(.)/g, "$1").replace(/\$\$/g, "$").replace(/%%/g, "%");
        const run = spawnSync("/bin/sh", ["-c", body, "sh", "digest"], { encoding: "utf8", env: { ...process.env, MONITOR_SERVICE_RESULT: "exit-code", MONITOR_EXIT_STATUS: "3" } });
        assert.equal(run.status, 0, run.stderr);
        const marker = fs.readFileSync(path.join(stateDir, "digest.failed"), "utf8");
        assert.match(marker, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ exit-code 3\n$/);
        // What status reads and shows.
        const next = "Mon 2026-12-07 07:00:00 CET";
        fs.writeFileSync(
            path.join(h.dir, "bin", "systemctl"),
            `#!/bin/bash\ncase "$*" in\n  is-enabled*) echo enabled ;;\n  *NextElapseUSecRealtime*) echo '${next}' ;;\n  *LastTriggerUSec*) echo 'Fri 2026-12-04 07:00:00 CET' ;;\n  *ActiveState*) echo failed ;;\n  *"Result "*) echo exit-code ;;\n  *ExecMainStatus*) echo 3 ;;\n  *) echo n/a ;;\nesac\n`,
            { mode: 0o755 },
        );
        const st = runOn(h, cfg, scheduleStatusScript(cfg));
        assert.equal(st.status, 0, st.stderr);
        const parsed = parseScheduleStatus(cfg, st.stdout);
        const digest = parsed.find((s) => s.name === "digest")!;
        assert.equal(digest.next, next);
        assert.equal(digest.result, "exit-code");
        assert.equal(digest.exitStatus, "3");
        assert.deepEqual(digest.failed, { at: marker.split(" ")[0], result: "exit-code", exitStatus: "3" });
        assert.equal(parsed.find((s) => s.name === "sweep")!.failed, null);
        assert.match(scheduleStatusText(parsed).join("\n"), /digest .* FAILED .* \(exit-code, status 3\)/);
        // The successful run's post command, as root: the marker goes.
        const post = onFake(h, cfg, scheduleServiceFile(cfg, cfg.schedules.digest)).split("\n").find((l) => l.startsWith("ExecStartPost=+"))!;
        const rm = spawnSync("/bin/sh", ["-c", post.slice("ExecStartPost=+".length)], { encoding: "utf8" });
        assert.equal(rm.status, 0, rm.stderr);
        assert.ok(!fs.existsSync(path.join(stateDir, "digest.failed")));
    });
});

describe("Solid Queue in Puma (SOLID_QUEUE_IN_PUMA in berth:env)", () => {
    const plain = configFor("staging");
    const inPuma = configFor("staging", { "berth:env": { APP_HOST: "staging.shop.example.com", SOLID_QUEUE_IN_PUMA: "true" } });
    test("the previous instance is kept for the drain only, not the rollback window", () => {
        assert.ok(plain.release.rollbackWindow > plain.release.drainSeconds, "the staging stack has a rollback window longer than its drain");
        assert.equal(sw.holdSeconds(plain), plain.release.rollbackWindow);
        assert.equal(sw.holdSeconds(inPuma), inPuma.release.drainSeconds);
        const s = sw.switchScript(inPuma, INPUTS);
        assert.match(s, new RegExp(`--on-active=${inPuma.release.drainSeconds}\\b`));
        assert.doesNotMatch(s, new RegExp(`--on-active=${inPuma.release.rollbackWindow}\\b`));
        assert.match(s, /no idle instance is kept for a rollback/);
        expectGolden("processes/switch-solid-queue-in-puma.sh", s);
        expectShellcheckClean("switch-solid-queue-in-puma.sh", withShebang(s));
    });
    test("set to anything, even empty, counts (Rails' puma.rb tests the variable's presence)", () => {
        assert.ok(sw.jobsInPuma(configFor("staging", { "berth:env": { SOLID_QUEUE_IN_PUMA: "" } })));
        assert.ok(!sw.jobsInPuma(plain));
    });
});

describe("berth logs and status of processes and schedules", () => {
    test("logs of a process type reads every instance's journal; of a schedule, its runs and failure records", () => {
        assert.match(namedLogsScript(cfg, "worker", 50, false)!, /journalctl --no-pager -o short-iso -n 50 -u 'berth-shop-processes-worker@\*\.service'/);
        assert.match(namedLogsScript(cfg, "digest", 50, true)!, /-f -u berth-shop-processes-schedule-digest\.service -u berth-shop-processes-schedule-failed@digest\.service/);
        assert.equal(namedLogsScript(cfg, "nginx", 50, false), undefined);
        assert.equal(namedLogsScript(configFor("production"), "worker", 50, false), undefined, "berth:workerCommand's worker is today's unit");
    });
    test("status lists the instances; the schedules on the release host only", () => {
        assert.deepEqual(processStatusUnits(cfg), ["berth-shop-processes-worker@1.service", "berth-shop-processes-worker@2.service", "berth-shop-processes-mailer@1.service"]);
        assert.ok(schedulesHere(cfg));
        const f = configFor("fleet", { "berth:schedules": { digest: { command: "bin/digest", schedule: "daily" } } }, "examples/Pulumi.fleet.yaml");
        const { viewOf } = require("../../lib/plan") as typeof import("../../lib/plan");
        assert.ok(schedulesHere(viewOf(f, "web1")!));
        assert.ok(!schedulesHere(viewOf(f, "web2")!));
    });
});

describe("berth verify holds the host against the new units", () => {
    test("the declared state (read off the program) has every process, schedule and failure unit file, as generated", async () => {
        const { declared } = await import("../../cli/support/declared");
        const sc2 = stackConfig("processes", {}, FILE);
        const d = await declared(cfg, sc2.values, new Set(sc2.secretKeys), undefined, SHA);
        const files = Object.fromEntries(d.files.map((f) => [f.path, f]));
        const want: Record<string, string> = {
            [processUnitNames(cfg.names, "worker", 0).unitPath]: processUnitFile(cfg, cfg.processes.worker),
            [processUnitNames(cfg.names, "mailer", 0).unitPath]: processUnitFile(cfg, cfg.processes.mailer),
            [scheduleUnitNames(cfg.names, "digest").timerPath]: scheduleTimerFile(cfg, cfg.schedules.digest),
            [scheduleUnitNames(cfg.names, "sweep").servicePath]: scheduleServiceFile(cfg, cfg.schedules.sweep),
            [scheduleFailureUnit(cfg.names).unitPath]: scheduleFailureFile(cfg),
        };
        for (const [p, text] of Object.entries(want)) {
            assert.ok(files[p], `${p} is declared (have: ${Object.keys(files).filter((x) => x.includes("systemd")).join(", ")})`);
            assert.equal(files[p].variants[0].content, text, p);
        }
    });
});

describe("the program: processes stack", () => {
    let r: RunResult;
    before(async () => {
        r = await runProgram(stackConfig("processes", {}, FILE));
        assert.equal(r.error, undefined, r.error?.message);
    });
    const one = (name: string): Recorded => {
        const found = r.resources.filter((x) => x.name === name);
        assert.equal(found.length, 1, `${name} registered once`);
        return found[0];
    };
    const deps = (x: Recorded) => x.dependsOn.map((d) => d.split("::").pop());
    test("the process units come before the switch; the schedules after it", () => {
        const units = one("shop-processes-processes-units");
        const sw2 = one("shop-processes-switch-switch");
        const timers = one("shop-processes-schedules-timers");
        assert.ok(deps(sw2).includes(units.name), deps(sw2).join(" "));
        assert.ok(deps(timers).includes(sw2.name), deps(timers).join(" "));
        assert.equal(unwrap(units.inputs.create).includes("berth-shop-processes-worker@.service"), true);
        assert.equal(byType(r, "berth:app:Processes").length, 1);
        assert.equal(byType(r, "berth:app:Schedules").length, 1);
    });
    test("production without process types still declares the (retained) units script: it stops and removes the last type a release dropped", async () => {
        const prod = await runProgram(stackConfig("production"));
        assert.equal(prod.error, undefined, prod.error?.message);
        const units = prod.resources.filter((x) => x.type === "command:remote:Command" && x.name.endsWith("-processes-units"));
        assert.equal(units.length, 1, "one units script on the one app host");
        assert.equal(units[0].retainOnDelete, true, "production: retained, so the engine never runs a delete for it");
        const pcfg = configFor("production");
        const h = fakeHost(pcfg);
        const managedLine = managedBy(pcfg);
        const last = `berth-${pcfg.names.id}-worker@.service`;
        fs.writeFileSync(path.join(h.etc, last), `${managedLine}\n[Service]\nEnvironment=BERTH_PROCESS=worker BERTH_PROCESS_INSTANCE=%i\n`);
        fs.writeFileSync(path.join(h.dir, "loaded"), `berth-${pcfg.names.id}-worker@1.service loaded failed failed x\n`);
        const r2 = runOn(h, pcfg, String(unwrap(units[0].inputs.create)).split("find /etc/systemd/system").join(`find ${h.etc}`));
        assert.equal(r2.status, 0, r2.stderr);
        assert.ok(!fs.existsSync(path.join(h.etc, last)), "the last process type's unit is gone");
        assert.ok(h.calls().includes(`disable --now --quiet berth-${pcfg.names.id}-worker@1.service`), h.calls().join("\n"));
        assert.ok(h.calls().includes(`reset-failed berth-${pcfg.names.id}-worker@1.service`), "its failed instance is not left listed");
        assert.match(r2.stdout, /removed the process type/);
    });
    test("the switch's stamp carries the process units: a changed command is a new switch", async () => {
        const before = String(unwrap(one("shop-processes-switch-switch").inputs.create));
        const r2 = await runProgram(stackConfig("processes", { "berth:processes": { worker: { command: "bundle exec sidekiq -c 5", count: 2 }, mailer: { command: "bundle exec sidekiq -q mailers" } } }, FILE));
        const after2 = String(unwrap(r2.resources.find((x) => x.name === "shop-processes-switch-switch")!.inputs.create));
        const stamp = (s: string) => /([0-9a-f]{40}) env:([0-9a-f]{16}) units:([0-9a-f]{16})/.exec(s)!.slice(1);
        assert.notEqual(stamp(after2)[2], stamp(before)[2], "the units part of the stamp changed");
        assert.deepEqual(stamp(after2).slice(0, 2), stamp(before).slice(0, 2), "same release, same env file");
    });
});

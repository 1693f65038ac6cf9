/**
 * lib/units/: the units of process types and schedules — golden text,
 * `systemd-analyze verify` (failing on any line it prints), `systemd-analyze
 * security` ≤ 2.0, the same sandbox as today's worker unit, and checks that
 * can fail.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { accessoryNames, processUnitNames, scheduleFailureUnit, scheduleUnitNames } from "../../lib/names";
import { processUnitFile } from "../../lib/units/process";
import { scheduleFailureFile, scheduleServiceFile, scheduleTimerFile } from "../../lib/units/schedule";
import { shellExecStart, systemdQuote } from "../../lib/units/common";
import * as appUnits from "../../components/app/appUnits";
import { expectGolden } from "./golden";
import { configFor } from "./harness";

const SET = {
    "berth:processes": {
        worker: { command: "bundle exec sidekiq -C config/sidekiq.yml", count: 2 },
        jobs: { command: `bin/jobs --note "100% done, it's \${HOME}"`, count: 1 },
    },
    "berth:schedules": {
        digest: { command: "bin/rails runner 'Digest.deliver_all'", schedule: "Mon..Fri 07:00 Europe/Berlin" },
        sweep: { command: "bin/sweep", schedule: "*:0/15", timeout: 300 },
    },
};

/** Files of a config's processes and schedules, named as installed (basename). */
function unitFiles(cfg: BerthConfig): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of Object.values(cfg.processes)) out[path.basename(processUnitNames(cfg.names, p.name, p.count).unitPath)] = processUnitFile(cfg, p);
    for (const s of Object.values(cfg.schedules)) {
        const u = scheduleUnitNames(cfg.names, s.name);
        out[path.basename(u.servicePath)] = scheduleServiceFile(cfg, s);
        out[path.basename(u.timerPath)] = scheduleTimerFile(cfg, s);
    }
    // The unit a failed run starts (OnFailure=): verify follows the reference.
    out[path.basename(scheduleFailureUnit(cfg.names).unitPath)] = scheduleFailureFile(cfg);
    return out;
}

function tmp(files: Record<string, string>): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "berth-units-"));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
    return d;
}

/** `systemd-analyze verify` of `target` (a template through an instance name) next to `files`; any printed line is a failure. */
function verify(files: Record<string, string>, target: string): { ok: boolean; output: string } {
    const d = tmp(files);
    try {
        const r = spawnSync("systemd-analyze", ["verify", "--man=no", "--recursive-errors=no", path.join(d, target)], { encoding: "utf8" });
        if (r.error) throw new Error(`systemd-analyze could not run (${r.error.message}); install systemd`);
        const output = `${r.stdout}${r.stderr}`;
        return { ok: r.status === 0 && output.trim() === "", output };
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
}

function securityScore(files: Record<string, string>, file: string): number {
    const d = tmp(files);
    try {
        const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", path.join(d, file)], { encoding: "utf8" });
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`);
        if (!m) throw new Error(`systemd-analyze security printed no score for ${file}:\n${r.stdout}${r.stderr}`);
        return Number(m[1]);
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
}

/** The [Service] lines of a unit that are not about what it runs (the sandbox). */
function sandbox(unit: string): string[] {
    const service = unit.split("[Service]\n")[1].split("\n[")[0];
    return service.split("\n").filter((l) => /^(NoNewPrivileges|Protect|ReadWritePaths|Private|Restrict|Lock|Capability|Ambient|SystemCall|UMask|ProcSubset|RemoveIPC|DevicePolicy)/.test(l));
}

for (const stack of ["staging", "production"]) {
    describe(`${stack}: process and schedule units`, () => {
        const cfg = configFor(stack, stack === "production" ? { ...SET, "berth:workerCommand": undefined } : SET);
        const files = unitFiles(cfg);
        for (const [file, text] of Object.entries(files)) {
            const rel = `units/${stack}/${file.replace(`berth-${cfg.names.id}-`, "")}`;
            test(`${rel} is its golden text`, () => expectGolden(rel, text));
        }
        test("systemd-analyze verify prints nothing for every instance, service and timer", () => {
            const targets = [
                ...Object.values(cfg.processes).flatMap((p) => processUnitNames(cfg.names, p.name, p.count).instances),
                ...Object.values(cfg.schedules).flatMap((s) => [`${scheduleUnitNames(cfg.names, s.name).unit}.service`, `${scheduleUnitNames(cfg.names, s.name).unit}.timer`]),
            ];
            assert.equal(targets.length, 7);
            for (const t of targets) {
                const r = verify(files, t);
                assert.ok(r.ok, `systemd-analyze verify ${t}:\n${r.output}`);
            }
        });
        test("systemd-analyze security scores every service at most 2.0", () => {
            for (const f of Object.keys(files).filter((x) => x.endsWith(".service"))) {
                const score = securityScore(files, f);
                assert.ok(score <= 2.0, `${f}: exposure ${score} > 2.0`);
            }
        });
    });
}

describe("process and schedule units: properties", () => {
    const cfg = configFor("staging", SET);
    const worker = processUnitFile(cfg, cfg.processes.worker);
    const digest = scheduleServiceFile(cfg, cfg.schedules.digest);
    test("the sandbox is today's worker unit's, line for line", () => {
        const today = appUnits.workerUnitFile(configFor("staging", { "berth:workerCommand": "bundle exec sidekiq" }));
        assert.ok(sandbox(today).length > 20);
        assert.deepEqual(sandbox(worker), sandbox(today));
        assert.deepEqual(sandbox(digest), sandbox(today));
    });
    test("the quoting is the web and worker units' own: appUnits.ts takes it from lib/units/common.ts (one copy)", () => {
        assert.equal(appUnits.systemdQuote, systemdQuote);
        assert.equal(appUnits.shellExecStart, shellExecStart);
        assert.equal(shellExecStart(`a 'b' 100% \${X}`), `/bin/sh -c 'exec a \\'b\\' 100%% $\${X}'`);
    });
    test("instances are 1..count of one template; names come from lib/names.ts", () => {
        const u = processUnitNames(cfg.names, "worker", 3);
        assert.deepEqual(u.instances, ["berth-shop-staging-worker@1.service", "berth-shop-staging-worker@2.service", "berth-shop-staging-worker@3.service"]);
        assert.equal(u.unitPath, "/etc/systemd/system/berth-shop-staging-worker@.service");
        assert.deepEqual(processUnitNames(cfg.names, "worker", 0).instances, []);
        assert.equal(scheduleUnitNames(cfg.names, "digest").timerPath, "/etc/systemd/system/berth-shop-staging-schedule-digest.timer");
        const a = accessoryNames(cfg.names, "meili");
        assert.deepEqual([a.container, a.volume("meili-data"), a.image], ["shop-staging-meili", "shop-staging-meili-data", "berth-shop-staging-meili"]);
        // Postgres and Redis as accessories keep today's container and volume names.
        assert.equal(accessoryNames(cfg.names, "postgres").container, cfg.names.postgresContainer);
        assert.equal(accessoryNames(cfg.names, "postgres").volume("pgdata"), cfg.names.postgresVolume);
        assert.equal(accessoryNames(cfg.names, "redis").volume("redisdata"), cfg.names.redisVolume);
    });
    test("a schedule is a oneshot started by its timer only, bounded by its timeout, not caught up", () => {
        const sweep = scheduleServiceFile(cfg, cfg.schedules.sweep);
        assert.match(sweep, /^Type=oneshot$/m);
        assert.match(sweep, /^TimeoutStartSec=300$/m);
        assert.match(digest, /^TimeoutStartSec=3600$/m);
        assert.doesNotMatch(sweep, /\[Install\]|^Restart=/m);
        const timer = scheduleTimerFile(cfg, cfg.schedules.digest);
        assert.match(timer, /^OnCalendar=Mon\.\.Fri 07:00 Europe\/Berlin$/m);
        assert.match(timer, /^Persistent=false$/m);
    });
});

describe("checks that can fail", () => {
    const cfg = configFor("staging", SET);
    test("systemd-analyze verify reports a calendar expression systemd refuses", () => {
        const name = `${scheduleUnitNames(cfg.names, "sweep").unit}.timer`;
        const files = unitFiles(cfg);
        const bad = verify({ ...files, [name]: files[name].replace("OnCalendar=*:0/15", "OnCalendar=*-*-* 25:00") }, name);
        assert.ok(!bad.ok);
        assert.match(bad.output, /Failed to parse calendar specification/);
    });
    test("systemd-analyze verify reports an unknown setting (the sandbox lines are really read)", () => {
        const files = unitFiles(cfg);
        const file = path.basename(processUnitNames(cfg.names, "jobs", 1).unitPath);
        const r = verify({ ...files, [file]: files[file].replace("NoNewPrivileges=yes", "NoNewPrivilege=yes") }, processUnitNames(cfg.names, "jobs", 1).instances[0]);
        assert.ok(!r.ok);
        assert.match(r.output, /NoNewPrivilege/);
    });
});

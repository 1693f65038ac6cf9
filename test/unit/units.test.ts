/**
 * lib/units/: the units of process types and schedules — golden text,
 * `systemd-analyze verify` (failing on any line it prints), `systemd-analyze
 * security` ≤ 2.0, the same sandbox as today's worker unit, and checks that
 * can fail.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { accessoryNames, processUnitNames, scheduleUnitNames } from "../../lib/names";
import { processUnitFile } from "../../lib/units/process";
import { scheduleServiceFile, scheduleTimerFile } from "../../lib/units/schedule";
import { shellExecStart, systemdQuote } from "../../lib/units/common";
import * as appUnits from "../../components/app/appUnits";
import { expectGolden } from "./golden";
import { configFor } from "./harness";
import { processAndScheduleTargets, processAndScheduleUnits, securityScore, verifyUnits } from "./systemd";

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

/** The [Service] lines of a unit that are not about what it runs (the sandbox). */
function sandbox(unit: string): string[] {
    const service = unit.split("[Service]\n")[1].split("\n[")[0];
    return service.split("\n").filter((l) => /^(NoNewPrivileges|Protect|ReadWritePaths|Private|Restrict|Lock|Capability|Ambient|SystemCall|UMask|ProcSubset|RemoveIPC|DevicePolicy)/.test(l));
}

for (const stack of ["staging", "production"]) {
    describe(`${stack}: process and schedule units`, () => {
        const cfg = configFor(stack, stack === "production" ? { ...SET, "berth:workerCommand": undefined } : SET);
        const files = processAndScheduleUnits(cfg);
        for (const [file, text] of Object.entries(files)) {
            const rel = `units/${stack}/${file.replace(`berth-${cfg.names.id}-`, "")}`;
            test(`${rel} is its golden text`, () => expectGolden(rel, text));
        }
        test("systemd-analyze verify prints nothing for every instance, service and timer", () => {
            const targets = processAndScheduleTargets(cfg);
            assert.equal(targets.length, 7);
            for (const t of targets) {
                const r = verifyUnits(files, [t]);
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
        const files = processAndScheduleUnits(cfg);
        const bad = verifyUnits({ ...files, [name]: files[name].replace("OnCalendar=*:0/15", "OnCalendar=*-*-* 25:00") }, [name]);
        assert.ok(!bad.ok);
        assert.match(bad.output, /Failed to parse calendar specification/);
    });
    test("systemd-analyze verify reports an unknown setting (the sandbox lines are really read)", () => {
        const files = processAndScheduleUnits(cfg);
        const file = path.basename(processUnitNames(cfg.names, "jobs", 1).unitPath);
        const r = verifyUnits({ ...files, [file]: files[file].replace("NoNewPrivileges=yes", "NoNewPrivilege=yes") }, [processUnitNames(cfg.names, "jobs", 1).instances[0]]);
        assert.ok(!r.ok);
        assert.match(r.output, /NoNewPrivilege/);
    });
});

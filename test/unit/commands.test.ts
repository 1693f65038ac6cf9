/**
 * The read-and-report subcommands of cli/commands/ on a stack whose host
 * answers with a fixed probe (the records cli/support/probe.ts's host script
 * prints, parsed by its parser): `status`, `releases`, `rollback` (which
 * release it picks, what it refuses, what it asks the converger). The host
 * side of each is proved on a VPS by test/e2e/ops.test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { releases } from "../../cli/commands/releases";
import { movesFirst, rollback } from "../../cli/commands/rollback";
import { status } from "../../cli/commands/status";
import { parseProbe } from "../../cli/support/probe";
import { switchedTo } from "../../cli/support/source";
import type { Stack } from "../../cli/support/stack";
import { configFor, quietStderr } from "./harness";

const R1 = "1".repeat(40);
const R2 = "2".repeat(40);
const R3 = "3".repeat(40);
const cfg = configFor("staging");
const root = cfg.names.root;
const web = cfg.names.webUnit;
const inDays = (d: number) => new Date(Date.now() + d * 86_400_000 + 3_600_000).toUTCString();

/** What the host prints: R2 serving on blue, R1 kept on green, R3 built half-way (no built marker). */
function hostRecords(): string {
    const t = (...f: (string | number)[]) => f.join("\t");
    return [
        t("S", "color", "blue"),
        t("S", "revision", R2),
        t("S", "maintenance", "off"),
        t("R", R1, 1_700_000_000, 1, 1),
        t("R", R2, 1_700_100_000, 1, 1),
        t("R", R3, 1_700_200_000, 0, 0),
        t("L", `${root}/slots/blue`, `${root}/releases/${R2}`),
        t("L", `${root}/slots/green`, `${root}/releases/${R1}`),
        t("U", `${web}blue.service`, "active", "enabled"),
        t("U", `${web}green.service`, "inactive", "disabled"),
        t("C", cfg.names.redisContainer, "running", "healthy", "sha256:abc", "redis:7"),
        t("X", cfg.hostnames[0], inDays(10), `DNS:${cfg.hostnames[0]}`),
    ].join("\n");
}

function fakeStack(applied: Record<string, string>[] = [], after = hostRecords()): Stack {
    let probes = 0;
    const converger = {
        describe: (c: Record<string, string>) => [`pulumi up (${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(" ")})`],
        apply: async (c: Record<string, string>) => (applied.push(c), { ok: true }),
    };
    return {
        cfg,
        source: { converger },
        // The first probe reads the host as it is; any later one (after a converge) reads `after`.
        probe: () => parseProbe(probes++ === 0 ? hostRecords() : after),
        statusUnits: () => [],
        // The move-first script refuses (exit 3) unless a test says otherwise: the converge switches.
        host: { check: () => "", run: () => ({ code: 3, stdout: "", stderr: "berth: not a traffic-only rollback\n" }) },
    } as unknown as Stack;
}

describe("berth status and releases read one probe", () => {
    test("status: serving revision and slot, both slots, releases newest first, the certificate's days left", () => {
        const out = status(fakeStack());
        const text = out.text.join("\n");
        assert.match(text, new RegExp(`^serving +${R2} on blue`, "m"));
        assert.match(text, new RegExp(`^  blue +${R2.slice(0, 12)}  active  \\(serving\\)$`, "m"));
        assert.match(text, new RegExp(`^  green +${R1.slice(0, 12)}  inactive$`, "m"));
        const order = [R3, R2, R1].map((r) => text.indexOf(r, text.indexOf("releases (keeps")));
        assert.deepEqual([...order].sort((a, b) => a - b), order, "newest first");
        assert.match(text, new RegExp(`^    ${R3}  \\S+  \\(not built\\)$`, "m"));
        assert.match(text, new RegExp(`${cfg.hostnames[0]} +expires .* \\(10 days\\)`));
        const data = out.data as any;
        assert.equal(data.revision.serving, R2);
        assert.equal(data.slots.green.release, R1);
        assert.equal(data.certificates[cfg.hostnames[0]].daysLeft, 10);
        assert.equal(data.maintenance, false);
    });

    test("releases: the serving one marked, the half-built one said", () => {
        const out = releases(fakeStack());
        assert.match(out.text[1], new RegExp(`^  ${R3}  built \\S+  \\(incomplete\\)$`));
        assert.match(out.text[2], new RegExp(`^\\* ${R2}  built \\S+  serving  slot blue$`));
        assert.match(out.text[3], new RegExp(`^  ${R1}  built \\S+  slot green$`));
    });
});

describe("berth rollback picks a kept, built release", () => {
    test("no target: the release the other slot holds; the converger is asked for exactly that revision", async () => {
        const applied: Record<string, string>[] = [];
        const after = hostRecords().replace(`S\trevision\t${R2}`, `S\trevision\t${R1}`).replace("S\tcolor\tblue", "S\tcolor\tgreen");
        const out = await quietStderr(() => rollback(fakeStack(applied, after), undefined, { yes: true }));
        assert.deepEqual(applied, [{ revision: R1 }]);
        assert.equal(out.code, 0);
        assert.deepEqual(out.text, [`rolled back: serving ${R1} on green`]);
    });

    test("the converge's switch proved the release serves: no second read of the host; the program was started before the first", async () => {
        const s = fakeStack([]);
        const calls: string[] = [];
        const probe = s.probe.bind(s);
        (s as any).probe = () => (calls.push("probe"), probe());
        (s as any).source = {
            converger: {
                describe: () => [],
                prepare: () => calls.push("prepare"),
                apply: async () => (calls.push("apply"), { ok: true, serving: R1 }),
            },
        };
        const out = await quietStderr(() => rollback(s, R1.slice(0, 8), { yes: true }));
        assert.deepEqual(calls, ["prepare", "probe", "apply"]);
        assert.equal(out.code, 0);
        assert.deepEqual(out.text, [`rolled back: serving ${R1} (the converge's switch checked it)`]);
    });

    test("a converge that proves another revision, or none, is checked on the host", async () => {
        for (const serving of [R2, undefined]) {
            const s = fakeStack([]);
            (s as any).source.converger.apply = async () => ({ ok: true, serving });
            const out = await quietStderr(() => rollback(s, R1.slice(0, 8), { yes: true }));
            assert.equal(out.code, 1, `serving ${serving}`);
            assert.match(out.text[0], /^rollback failed: serving 2{40}$/);
        }
    });

    test("the up succeeded but the host still serves the old release: exit 1", async () => {
        const out = await quietStderr(() => rollback(fakeStack([]), R1.slice(0, 8), { yes: true }));
        assert.equal(out.code, 1);
        assert.match(out.text[0], /^rollback failed: serving 2{40}$/);
    });

    test("inside the window traffic moves first: the desired-state checks, then the move script, then the converge records it", async () => {
        const s = fakeStack([]);
        const calls: string[] = [];
        const probe = s.probe.bind(s);
        (s as any).probe = () => (calls.push("probe"), probe());
        (s as any).host.run = (body: string) => {
            calls.push("move");
            assert.match(body, /not a traffic-only rollback/);
            assert.match(body, new RegExp(`rev='?${R1}`));
            return { code: 0, stdout: "berth: release x is still running on green (rollback window): moving traffic only\nberth: traffic moved to green 0.041s after the switch started\n", stderr: "" };
        };
        (s as any).source = {
            converger: {
                describe: () => [],
                prepare: () => calls.push("prepare"),
                ready: () => calls.push("ready"),
                apply: async (c: Record<string, string>) => (calls.push(`apply ${c.revision}`), { ok: true, serving: R1 }),
            },
        };
        const out = await quietStderr(() => rollback(s, undefined, { yes: true }));
        assert.deepEqual(calls, ["prepare", "probe", "ready", "move", `apply ${R1}`]);
        assert.equal(out.code, 0);
        assert.match(out.text[0], new RegExp(`^rolled back: serving ${R1} on green \\(traffic moved [\\d.]+ s after the command started, then the converge recorded it\\)$`));
        const data = out.data as any;
        assert.equal(data.movedFirst, true);
        assert.ok(data.seconds.trafficMoved > 0);
    });

    test("a refused desired-state check moves nothing and converges nothing; a refused move still converges", async () => {
        const s = fakeStack([]);
        const calls: string[] = [];
        (s as any).host.run = () => (calls.push("move"), { code: 0, stdout: "", stderr: "" });
        (s as any).source = {
            converger: {
                describe: () => [],
                ready: () => {
                    throw new Error("berth: main is 1 commit behind origin/main");
                },
                apply: async () => (calls.push("apply"), { ok: true }),
            },
        };
        await assert.rejects(quietStderr(() => rollback(s, R1.slice(0, 8), { yes: true })), /behind origin\/main/);
        assert.deepEqual(calls, []);
        const applied: Record<string, string>[] = [];
        const after = hostRecords().replace(`S\trevision\t${R2}`, `S\trevision\t${R1}`);
        const refused = await quietStderr(() => rollback(fakeStack(applied, after), R1.slice(0, 8), { yes: true }));
        assert.deepEqual(applied, [{ revision: R1 }]);
        assert.equal(refused.code, 0);
        assert.equal((refused.data as any).movedFirst, false);
    });

    test("several web hosts, a frontend or Solid Queue in Puma: the converge alone moves traffic", () => {
        assert.equal(movesFirst(cfg), true);
        assert.equal(movesFirst({ ...cfg, multiHost: true }), false);
        assert.equal(movesFirst({ ...cfg, frontend: {} as any }), false);
        assert.equal(movesFirst({ ...cfg, env: { ...cfg.env, SOLID_QUEUE_IN_PUMA: "1" } }), false);
    });

    test("a prefix of a release that is not built, or of none, is refused naming the kept ones; a dry run changes nothing", async () => {
        await assert.rejects(rollback(fakeStack(), R3.slice(0, 7), {}), new RegExp(`"${R3.slice(0, 7)}" is not a kept release; kept: ${R2.slice(0, 12)}, ${R1.slice(0, 12)}`));
        await assert.rejects(rollback(fakeStack(), "abc", {}), /is not a kept release/);
        const applied: Record<string, string>[] = [];
        const dry = await rollback(fakeStack(applied), undefined, { dryRun: true });
        assert.deepEqual(applied, []);
        assert.equal(dry.text.at(-1), "(dry run: nothing changed)");
        assert.match(dry.text[0], new RegExp(`serving ${R2}; target ${R1}`));
    });
});

describe("the applier converge's proof of what serves (cli/support/source.ts switchedTo)", () => {
    const sw = (name: string) => `urn:pulumi:dev::berth::berth:env:Environment$berth:app:Switch$command:remote:Command::${name}`;
    const report = (ops: Record<string, string>, ok = true) => ({ ok, outputs: { revision: R1 }, steps: Object.fromEntries(Object.entries(ops).map(([k, op]) => [k, { op }])) });
    test("every switch command ran in a successful up: its revision", () => {
        assert.equal(switchedTo(report({ [sw("a-switch-web1-switch")]: "update", [sw("a-switch-web2-switch")]: "update", "urn:pulumi:dev::berth::berth:app:Switch::a-switch": "same" })), R1);
    });
    test("a switch that did not run, no switch, or a failed up proves nothing", () => {
        assert.equal(switchedTo(report({ [sw("a-switch-web1-switch")]: "update", [sw("a-switch-web2-switch")]: "same" })), undefined);
        assert.equal(switchedTo(report({ "urn:pulumi:dev::berth::berth:app:Switch::a-switch": "update" })), undefined);
        assert.equal(switchedTo(report({ [sw("a-switch-switch")]: "update" }, false)), undefined);
    });
});

/**
 * What runs is what main says (cli/support/desired.ts, the Pulumi converger of
 * cli/support/source.ts, `berth check-desired`): with real git in temp dirs — a
 * bare "origin", an operator's clone and a CI clone — and a stand-in `pulumi`
 * on a path that logs what it was asked to do.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { checkDesired, compareDesired, deployedFromOutputs, deployedTag, desiredValues, lineDiff, setStackValues } from "../../cli/support/desired";
import { checkDesiredMain } from "../../cli/commands/checkDesired";
import { setDesiredMain } from "../../cli/commands/setDesired";
import { pulumiConverger } from "../../cli/support/source";
import { pinnedSha, REVISION_SHA_ENV } from "../../lib/revision";
import { quietStderr as quiet, ROOT } from "./harness";

const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "berth-desired-"));
process.once("exit", () => fs.rmSync(WORK, { recursive: true, force: true }));
// Only this test's git configuration: no user's global settings, hooks or identity.
const GLOBAL = path.join(WORK, "gitconfig");
fs.writeFileSync(GLOBAL, "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n");
process.env.GIT_CONFIG_GLOBAL = GLOBAL;
process.env.GIT_CONFIG_NOSYSTEM = "1";

const SHA_A = "a".repeat(40);
const SERVED = "5".repeat(40);
const R1 = "1111111111111111111111111111111111111111";
const R2 = "2222222222222222222222222222222222222222";

function sh(dir: string, ...args: string[]): string {
    const r = spawnSync("git", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git ${args.join(" ")} in ${dir}: ${r.stderr}`);
    return r.stdout.trim();
}

const STAGING = fs.readFileSync(path.join(ROOT, "examples", "Pulumi.staging.yaml"), "utf8");
const PRODUCTION = fs.readFileSync(path.join(ROOT, "examples", "Pulumi.production.yaml"), "utf8");

let n = 0;
/** A bare origin holding the two example stack files, an operator clone and a CI clone. */
function world(): { origin: string; op: string; ci: string; log: string; pulumi: string } {
    const base = path.join(WORK, `w${n++}`);
    const origin = path.join(base, "origin.git");
    const seed = path.join(base, "seed");
    fs.mkdirSync(seed, { recursive: true });
    sh(base, "init", "--quiet", "--bare", "-b", "main", origin);
    sh(seed, "init", "--quiet", "-b", "main");
    sh(seed, "config", "user.name", "Seed");
    sh(seed, "config", "user.email", "seed@example.com");
    fs.writeFileSync(path.join(seed, "Pulumi.staging.yaml"), STAGING);
    fs.writeFileSync(path.join(seed, "Pulumi.production.yaml"), PRODUCTION);
    fs.writeFileSync(path.join(seed, "README.md"), "app\n");
    sh(seed, "add", ".");
    sh(seed, "commit", "--quiet", "-m", "stack files");
    sh(seed, "remote", "add", "origin", origin);
    sh(seed, "push", "--quiet", "origin", "main");
    const clone = (name: string, user: string) => {
        const d = path.join(base, name);
        sh(base, "clone", "--quiet", origin, d);
        sh(d, "config", "user.name", user);
        sh(d, "config", "user.email", `${name}@example.com`);
        return d;
    };
    const op = clone("operator", "Olga Operator");
    const ci = clone("ci", "CI");
    // A stand-in pulumi: logs argv and BERTH_REVISION_SHA; `stack output revision` is the served sha.
    const log = path.join(base, "pulumi.log");
    const pulumi = path.join(base, "pulumi");
    fs.writeFileSync(
        pulumi,
        [
            "#!/usr/bin/env bash",
            `printf '%s|%s\\n' "$*" "\${BERTH_REVISION_SHA:-}" >> ${JSON.stringify(log)}`,
            `if [ "$1 $2 $3" = "stack output revision" ]; then echo ${SERVED}; fi`,
            `if [ "$1 $2 $3" = "stack output --json" ]; then cat "$BERTH_TEST_OUTPUTS"; fi`,
            `[ -z "\${BERTH_TEST_UP_FAILS:-}" ] || [ "$1" != up ] || exit 3`,
            "exit 0",
        ].join("\n"),
        { mode: 0o755 },
    );
    return { origin, op, ci, log, pulumi };
}

const calls = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []);
const configOf = (dir: string, stack: string) => (YAML.parse(fs.readFileSync(path.join(dir, `Pulumi.${stack}.yaml`), "utf8")).config ?? {}) as Record<string, unknown>;

describe("the stack file is edited like a person would", () => {
    test("setStackValues changes one line and keeps every comment, the layout and other keys", () => {
        const next = setStackValues(PRODUCTION, { "berth:revision": R2 });
        const diff = lineDiff(PRODUCTION, next, "Pulumi.production.yaml").filter((l) => /^[-+][^-+]/.test(l));
        assert.deepEqual(diff, [`-  berth:revision: aa2102cc0f6c7b17e487e8eae46342420d6eb1d8`, `+  berth:revision: "${R2}"`]);
        assert.equal(next.split("\n").length, PRODUCTION.split("\n").length);
        assert.equal(YAML.parse(next).config["berth:revision"], R2, "a sha of digits stays a string");
        for (const line of PRODUCTION.split("\n").filter((l) => l.trimStart().startsWith("#"))) assert.ok(next.includes(line), line);
    });
    test("a new key is appended as a string (as `pulumi config set` stores it); an inline comment survives", () => {
        const next = setStackValues(STAGING, { "berth:maintenance": "true" });
        assert.equal(YAML.parse(next).config["berth:maintenance"], "true");
        assert.equal(desiredValues(next).maintenance, true);
        const commented = "config:\n  berth:revision: main # follows the branch\n";
        assert.equal(setStackValues(commented, { "berth:revision": "v2" }), "config:\n  berth:revision: v2 # follows the branch\n");
    });
    test("desiredValues: the default revision is berth's (main), maintenance off unless true", () => {
        assert.deepEqual(desiredValues("config:\n  berth:app: shop\n"), { revision: "main", maintenance: false });
        assert.deepEqual(desiredValues("config:\n  berth:maintenance: true\n  berth:revision: v1\n"), { revision: "v1", maintenance: true });
    });
});

describe("operator actions are commits on main", () => {
    let w: ReturnType<typeof world>;
    before(() => {
        w = world();
    });
    test("rollback: commits only the stack file, pushes it, then runs pulumi up; a CI clone sees it", async () => {
        const conv = pulumiConverger("production", "berth", configValues(PRODUCTION), {}, w.op, w.pulumi);
        const r = await quiet(() => conv.apply({ revision: R1 }, { yes: true }));
        assert.deepEqual(r, { ok: true });
        assert.deepEqual(calls(w.log), [`up --stack production --yes|`], "converged once, the revision is the file's sha (no pin)");
        const subject = sh(w.op, "log", "-1", "--format=%s");
        assert.equal(subject, `berth: rollback production to ${R1} (was aa2102cc0f6c7b17e487e8eae46342420d6eb1d8) by Olga Operator`);
        assert.match(sh(w.op, "log", "-1", "--format=%b"), /\[skip ci\]/);
        assert.deepEqual(sh(w.op, "show", "--name-only", "--format=", "HEAD").split("\n"), ["Pulumi.production.yaml"]);
        assert.equal(sh(w.op, "status", "--porcelain"), "");
        assert.equal(sh(w.origin, "rev-parse", "main"), sh(w.op, "rev-parse", "HEAD"), "pushed to origin/main");
        sh(w.ci, "pull", "--quiet");
        assert.equal(configOf(w.ci, "production")["berth:revision"], R1, "the next deploy reads it");
    });
    test("maintenance on, then off: each a commit; a branch revision is pinned to the served commit (no release)", async () => {
        fs.rmSync(w.log, { force: true });
        const conv = pulumiConverger("staging", "berth", configValues(STAGING), {}, w.op, w.pulumi);
        assert.deepEqual(await quiet(() => conv.apply({ maintenance: "true" }, { yes: false })), { ok: true });
        assert.match(sh(w.op, "log", "-1", "--format=%s"), /^berth: maintenance on for staging \(was off\) by Olga Operator$/);
        assert.deepEqual(await quiet(() => conv.apply({ maintenance: "false" }, { yes: false })), { ok: true });
        assert.match(sh(w.op, "log", "-1", "--format=%s"), /^berth: maintenance off for staging \(was on\) by Olga Operator$/);
        assert.deepEqual(calls(w.log).filter((c) => c.startsWith("up ")), [`up --stack staging|${SERVED}`, `up --stack staging|${SERVED}`]);
        sh(w.ci, "pull", "--quiet");
        assert.equal(configOf(w.ci, "staging")["berth:maintenance"], "false");
        assert.equal(sh(w.ci, "log", "--format=%s", "-3").split("\n").length, 3);
    });
    test("--dry-run: the plan shows the diff and the commands and changes nothing", () => {
        const head = sh(w.op, "rev-parse", "HEAD");
        const conv = pulumiConverger("production", "berth", configValues(PRODUCTION), {}, w.op, w.pulumi);
        const plan = conv.plan!({ revision: R2 });
        assert.ok(plan.includes(`  -  berth:revision: "${R1}"`), plan.join("\n"));
        assert.ok(plan.includes(`  +  berth:revision: "${R2}"`), plan.join("\n"));
        assert.ok(plan.some((l) => l.startsWith("  $ git commit -m \"berth: rollback production to 2222")), plan.join("\n"));
        assert.ok(plan.includes("  $ git push origin HEAD:main"), plan.join("\n"));
        assert.ok(plan.includes("  $ pulumi up --stack production"), plan.join("\n"));
        assert.equal(sh(w.op, "rev-parse", "HEAD"), head);
        assert.equal(sh(w.op, "status", "--porcelain"), "");
    });
});

describe("operator actions refuse a checkout that is not main's tip", () => {
    test("a dirty stack file: refused, named, nothing committed or converged", async () => {
        const w = world();
        fs.appendFileSync(path.join(w.op, "Pulumi.production.yaml"), "  berth:keepReleases: 7\n");
        const conv = pulumiConverger("production", "berth", configValues(PRODUCTION), {}, w.op, w.pulumi);
        const r = await conv.apply({ revision: R1 }, { yes: true });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /Pulumi\.production\.yaml has uncommitted changes .*commit and push yours .*or discard them \(git checkout -- Pulumi\.production\.yaml\)/);
        assert.deepEqual(calls(w.log), []);
        assert.equal(sh(w.op, "rev-list", "--count", "HEAD"), "1");
        assert.match(conv.plan!({ revision: R1 }).join("\n"), /refused: berth: Pulumi\.production\.yaml has uncommitted changes/);
        // Another file being dirty is not berth's business.
        fs.writeFileSync(path.join(w.op, "Pulumi.production.yaml"), PRODUCTION);
        fs.appendFileSync(path.join(w.op, "README.md"), "wip\n");
        assert.deepEqual(await quiet(() => conv.apply({ revision: R1 }, { yes: true })), { ok: true });
        assert.equal(sh(w.op, "status", "--porcelain"), "M README.md", "the other change stays uncommitted");
    });
    test("behind its upstream (found by git fetch): refused with the fix; maintenance likewise", async () => {
        const w = world();
        fs.appendFileSync(path.join(w.ci, "README.md"), "more\n");
        sh(w.ci, "commit", "--quiet", "-am", "someone else's change");
        sh(w.ci, "push", "--quiet");
        for (const [stack, text, changes] of [
            ["production", PRODUCTION, { revision: R1 }],
            ["staging", STAGING, { maintenance: "true" }],
        ] as const) {
            const conv = pulumiConverger(stack, "berth", configValues(text), {}, w.op, w.pulumi);
            const r = await conv.apply(changes, { yes: true });
            assert.equal(r.ok, false, stack);
            assert.match(r.error ?? "", /main is 1 commit behind origin\/main: someone changed main since your last pull; git pull --rebase, then run this again/, stack);
        }
        assert.deepEqual(calls(w.log), []);
        assert.equal(sh(w.op, "rev-list", "--count", "HEAD"), "1");
    });
    test("local commits not on main, and a branch that is not main: refused", async () => {
        const w = world();
        fs.appendFileSync(path.join(w.op, "README.md"), "mine\n");
        sh(w.op, "commit", "--quiet", "-am", "local work");
        const conv = pulumiConverger("staging", "berth", configValues(STAGING), {}, w.op, w.pulumi);
        assert.match((await conv.apply({ maintenance: "true" }, { yes: true })).error ?? "", /main has 1 commit not on origin\/main: push them \(git push\) or drop them first/);
        sh(w.op, "switch", "--quiet", "-c", "feature", "--track", "origin/main");
        sh(w.op, "reset", "--quiet", "--hard", "origin/main");
        sh(w.op, "branch", "--quiet", "-u", "origin/main");
        sh(w.ci, "push", "--quiet", "origin", "main:feature");
        sh(w.op, "fetch", "--quiet");
        sh(w.op, "branch", "--quiet", "-u", "origin/feature");
        assert.match((await conv.apply({ maintenance: "true" }, { yes: true })).error ?? "", /tracks origin\/feature, but the deploys read origin\/main: switch to it \(git switch main\)/);
        assert.deepEqual(calls(w.log), []);
    });
    test("a rejected push: the commit is undone, nothing converges, the message says so", async () => {
        const w = world();
        const hook = path.join(w.origin, "hooks", "pre-receive");
        fs.writeFileSync(hook, "#!/bin/sh\necho 'protected branch' >&2\nexit 1\n", { mode: 0o755 });
        const conv = pulumiConverger("production", "berth", configValues(PRODUCTION), {}, w.op, w.pulumi);
        const r = await conv.apply({ revision: R1 }, { yes: true });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /git push origin HEAD:main was rejected .*nothing was converged and the commit was undone/);
        assert.deepEqual(calls(w.log), []);
        assert.equal(sh(w.op, "rev-parse", "HEAD"), sh(w.op, "rev-parse", "origin/main"));
        assert.equal(sh(w.op, "status", "--porcelain"), "");
        assert.equal(configOf(w.op, "production")["berth:revision"], "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8");
    });
    test("no upstream: refused unless --local, which edits the file and converges without git", async () => {
        const w = world();
        sh(w.op, "branch", "--quiet", "--unset-upstream");
        const conv = pulumiConverger("staging", "berth", configValues(STAGING), {}, w.op, w.pulumi);
        assert.match((await conv.apply({ maintenance: "true" }, { yes: true })).error ?? "", /branch main has no upstream.*or pass --local/);
        assert.deepEqual(calls(w.log), []);
        const local = pulumiConverger("staging", "berth", configValues(STAGING), { local: true }, w.op, w.pulumi);
        assert.match(local.plan!({ maintenance: "true" }).join("\n"), /--local: not committed or pushed; main does not say this/);
        assert.deepEqual(await local.apply({ maintenance: "true" }, { yes: true }), { ok: true });
        assert.equal(configOf(w.op, "staging")["berth:maintenance"], "true");
        assert.equal(sh(w.op, "status", "--porcelain"), "M Pulumi.staging.yaml");
        assert.equal(calls(w.log).filter((c) => c.startsWith("up ")).length, 1);
    });
    test("pulumi up fails after the push: reported with what main now holds", async () => {
        const w = world();
        process.env.BERTH_TEST_UP_FAILS = "1";
        try {
            const conv = pulumiConverger("production", "berth", configValues(PRODUCTION), {}, w.op, w.pulumi);
            const r = await quiet(() => conv.apply({ revision: R1 }, { yes: true }));
            assert.equal(r.ok, false);
            assert.match(r.error ?? "", /pulumi up failed \(exit 3\) \(main holds the change: [0-9a-f]{12} on origin\/main\); converge it from main with pulumi up --stack production/);
        } finally {
            delete process.env.BERTH_TEST_UP_FAILS;
        }
    });
});

describe("check-desired: deploys refuse a stack that runs something main does not say", () => {
    const at = (revision: string, maintenance = false, commit = "c".repeat(40)) => ({ revision, maintenance, commit });
    test("compareDesired: same ref, same sha, or a candidate since the last deploy pass; anything else is named", () => {
        assert.deepEqual(compareDesired("staging", "Pulumi.staging.yaml", { revisionRef: "main", revision: SERVED, maintenance: false }, [at("main")]), []);
        assert.deepEqual(compareDesired("production", "Pulumi.production.yaml", { revisionRef: "main", revision: R1, maintenance: false }, [at(R1)]), [], "the same commit by another name");
        assert.deepEqual(compareDesired("production", "Pulumi.production.yaml", { revisionRef: R1, revision: R1 }, [at(R2), at(R1)]), [], "main moved on: pending");
        const d = compareDesired("staging", "Pulumi.staging.yaml", { revisionRef: SHA_A, revision: SHA_A, maintenance: true }, [at("main", false, "d".repeat(40))]);
        assert.deepEqual(d, [
            `revision: stack staging runs ${SHA_A}, but main's Pulumi.staging.yaml says main at dddddddddddd`,
            "maintenance: stack staging runs with maintenance on, but main's Pulumi.staging.yaml says off at dddddddddddd",
        ]);
        assert.deepEqual(compareDesired("staging", "Pulumi.staging.yaml", { revisionRef: "main", revision: SERVED }, [at("main", true)]), [], "a deploy from before the maintenance output");
    });
    test("deployedFromOutputs reads `pulumi stack output --json`", () => {
        assert.deepEqual(deployedFromOutputs({ revisionRef: "main", revision: SERVED, maintenance: true, url: "https://x" }), { revisionRef: "main", revision: SERVED, maintenance: true });
        assert.deepEqual(deployedFromOutputs({}), { revisionRef: undefined, revision: undefined, maintenance: undefined });
    });
    test("against a real history: an unpushed operator rollback is refused; a pushed one and main's pending change pass", async () => {
        const w = world();
        // The last deploy: main as it is now, tagged by the workflow.
        sh(w.ci, "tag", deployedTag("staging"));
        sh(w.ci, "push", "--quiet", "origin", `refs/tags/${deployedTag("staging")}`);
        const deployed = { revisionRef: "main", revision: SERVED, maintenance: false };
        assert.equal(checkDesired(w.ci, "staging", deployed).ok, true);
        // Someone ran a rollback that never reached main (a --local, or pulumi config set + up by hand).
        const r = checkDesired(w.ci, "staging", { ...deployed, revisionRef: SHA_A, revision: SHA_A });
        assert.equal(r.ok, false);
        assert.match(r.text.join("\n"), new RegExp(`divergence: revision: stack staging runs ${SHA_A}, but main's Pulumi.staging.yaml says main`));
        assert.match(r.text.join("\n"), /this deploy would silently undo it/);
        // The same rollback done by berth: pushed, so main says it.
        const conv = pulumiConverger("staging", "berth", configValues(STAGING), {}, w.op, w.pulumi);
        assert.deepEqual(await quiet(() => conv.apply({ revision: SHA_A }, { yes: true })), { ok: true });
        sh(w.ci, "pull", "--quiet");
        assert.equal(checkDesired(w.ci, "staging", { ...deployed, revisionRef: SHA_A, revision: SHA_A }).ok, true);
        // A later commit on main changes maintenance; the stack still runs the tagged state + the rollback: pending, not divergence.
        fs.writeFileSync(path.join(w.ci, "Pulumi.staging.yaml"), setStackValues(fs.readFileSync(path.join(w.ci, "Pulumi.staging.yaml"), "utf8"), { "berth:maintenance": "true" }));
        sh(w.ci, "commit", "--quiet", "-am", "maintenance via a pull request");
        const pending = checkDesired(w.ci, "staging", { ...deployed, revisionRef: SHA_A, revision: SHA_A });
        assert.equal(pending.ok, true, pending.text.join("\n"));
        assert.match(pending.text[0], /main changed it since the last deploy: this deploy applies revision a{40}, maintenance on/);
        // Maintenance switched on outside main: refused.
        const m = checkDesired(w.ci, "production", { revisionRef: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", revision: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", maintenance: true });
        assert.equal(m.ok, false);
        assert.match(m.text[0], /divergence: maintenance: stack production runs with maintenance on, but main's Pulumi.production.yaml says off/);
        // Without the tag, --since bounds the pending range; without either, only main's tip counts.
        assert.equal(checkDesired(w.ci, "production", { revisionRef: "main" }).ok, false);
        assert.equal(checkDesired(w.ci, "staging", { revisionRef: "main", revision: SERVED, maintenance: false }).ok, true, "the tag is the lower bound");
    });
    test("the subcommand reads the stack outputs with pulumi and exits 1 naming the divergence", () => {
        const w = world();
        const outputs = path.join(WORK, `outputs-${n}.json`);
        process.env.BERTH_TEST_OUTPUTS = outputs;
        const run = (argv: string[]) => {
            let out = "";
            const write = (chunk: unknown) => ((out += String(chunk)), true);
            const o = process.stdout.write;
            const e = process.stderr.write;
            process.stdout.write = write as typeof process.stdout.write;
            process.stderr.write = write as typeof process.stderr.write;
            try {
                return { code: checkDesiredMain(argv, w.ci, w.pulumi), out };
            } finally {
                process.stdout.write = o;
                process.stderr.write = e;
            }
        };
        fs.writeFileSync(outputs, JSON.stringify({ revisionRef: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", revision: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", maintenance: false, url: "https://shop.example.com" }));
        assert.deepEqual(run(["production"]), { code: 0, out: "stack production runs what main says\n" });
        assert.ok(calls(w.log).includes("stack output --json --stack production|"));
        fs.writeFileSync(outputs, JSON.stringify({ revisionRef: R1, revision: R1, maintenance: false }));
        const r = run(["production"]);
        assert.equal(r.code, 1);
        assert.match(r.out, new RegExp(`^divergence: revision: stack production runs ${R1}, but main's Pulumi.production.yaml says aa2102cc0f6c7b17e487e8eae46342420d6eb1d8`));
        const first = sh(w.ci, "rev-parse", "HEAD");
        fs.writeFileSync(path.join(w.ci, "Pulumi.production.yaml"), setStackValues(PRODUCTION, { "berth:revision": R2 }));
        sh(w.ci, "commit", "--quiet", "-am", "production to R2");
        fs.writeFileSync(outputs, JSON.stringify({ revisionRef: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", revision: "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", maintenance: false }));
        assert.equal(run(["production"]).code, 1, "main's tip alone");
        assert.equal(run(["production", "--since", first]).code, 0, "--since: main's change since then is pending");
        assert.equal(run(["production", "--since", "0".repeat(40)]).code, 1, "a push's all-zero before is ignored");
        fs.writeFileSync(outputs, "{}");
        assert.match(run(["staging"]).out, /nothing deployed yet/);
    });
});

describe("the production workflow records what it applied", () => {
    test("set-desired writes the sha (comments kept); prepare's pin then agrees with it, and a branch takes the served sha", () => {
        const w = world();
        const write = process.stderr.write;
        process.stderr.write = (() => true) as typeof process.stderr.write;
        try {
            assert.equal(setDesiredMain(["production", `revision=${R2}`], w.ci), 0);
        } finally {
            process.stderr.write = write;
        }
        assert.equal(configOf(w.ci, "production")["berth:revision"], R2);
        assert.deepEqual(sh(w.ci, "diff", "--numstat").split(/\s+/).slice(0, 2), ["1", "1"]);
        assert.throws(() => setDesiredMain(["production", "bogus=1"], w.ci), /not <berth key>=<value>/);
        // The drift job: BERTH_REVISION_SHA = the served sha; the committed file says the same full sha.
        const committed = desiredValues(fs.readFileSync(path.join(w.ci, "Pulumi.production.yaml"), "utf8")).revision;
        assert.equal(pinnedSha(committed, { [REVISION_SHA_ENV]: R2 }), R2);
        assert.throws(() => pinnedSha(committed, { [REVISION_SHA_ENV]: R1 }), /berth:revision is the commit 2{40} but BERTH_REVISION_SHA is 1{40}/);
        // Staging follows a branch: the served sha is taken as what the branch meant.
        assert.equal(pinnedSha("main", { [REVISION_SHA_ENV]: SERVED }), SERVED);
    });
});

/** The raw berth:* strings of a stack file, as `pulumi config --json` gives them. */
function configValues(text: string): Record<string, string> {
    return Object.fromEntries(Object.entries(YAML.parse(text).config as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

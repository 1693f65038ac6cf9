/**
 * berth's workflows and operations as its users run them (issue 17): the
 * stack files live in a git repository (a bare `origin`), an operator works
 * in one clone, CI runs each workflow job in a fresh runner directory with a
 * fresh clone (test/e2e/gha.ts: every `run:` step as written, stand-ins for
 * `uses:` only), and every `pulumi` is the stand-in CLI over the test
 * applier (test/e2e/pulumi-standin.ts: stack files with passphrase secrets,
 * a file:// backend shared by operator and CI, like a real backend).
 *
 *   1. set-up as the README says (stack init, config set --secret), CI
 *      deploys staging from main, a gated production deploy of that sha
 *      records the revision in main, the drift job passes for both stacks;
 *   2. the operator rolls production back in their clone: a later staging
 *      deploy and the drift job keep the rolled-back release, drift green,
 *      main says so;
 *   3. maintenance on staging survives a deploy and a repair; off: 200.
 * One Debian 13 VPS runs both stacks (world `workflows`).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { devConfig, keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { httpsGet } from "./kit";
import { JobResult } from "./gha";
import { assertJob, ciMachine, seedOrigin, writeTrustBundle, JobOptions } from "./ciMachine";
import { projectDefaults } from "../unit/harness";

const VPS = "berth-wf-vps";
const PASSPHRASE = "correct horse battery staple (e2e)";
const HOSTS_TAG = "# berth-e2e-workflows";

let world: World;
let work: string;
let origin: string;
let operatorDir: string;
let backend: string;
let pebbleRootFile: string;
let pebbleRoot = "";

const machine = ciMachine(() => ({ world, work, origin, operatorDir, backend, passphrase: PASSPHRASE, pebbleRootFile, stackKeyFiles: /^berth-(staging|production)-/ }));
const { operator, operatorEnv, git, mainTip } = machine;

function berth(args: string[], o: { allowFail?: boolean } = {}): { code: number; out: string } {
    return operator(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], o);
}

/** A job of berth's workflows on a fresh runner (main's tip unless `sha`/`ref`). */
function ci(workflow: string, job: string, o: JobOptions = {}): JobResult {
    return machine.job(workflow, job, o);
}

function driftBoth(): void {
    for (const stack of ["staging", "production"]) assertJob(ci("drift.yml", "drift", { matrix: { stack } }), `drift ${stack}`);
}

/** Pushes the operator's main (as `git push` would) and runs deploy-staging for that push. */
function pushAndDeployStaging(): JobResult {
    const before = mainTip();
    operator("git", ["push", "-q", "origin", "HEAD:main"]);
    return ci("deploy-staging.yml", "up", { event: { before } });
}

function get(domain: string, p: string) {
    return httpsGet({ ip: world.vps.ip, domain, ca: pebbleRoot }, p, 10_000);
}

function committedRevision(stack: string): string {
    const text = spawnSync("git", ["show", `main:Pulumi.${stack}.yaml`], { cwd: origin, encoding: "utf8" }).stdout;
    return String(YAML.parse(text).config["berth:revision"]);
}

/** The stack file for the world: the dev stack's keys pointed at `domain`, secrets left to `config set --secret`. */
function stackFile(stack: string, domain: string, revision: string): string {
    const cfg = devConfig(world, { "berth:domain": domain, "berth:env": { APP_HOST: domain, RAILS_LOG_LEVEL: "info" }, "berth:revision": revision }, stack);
    const defaults = projectDefaults();
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(cfg.values)) {
        if (cfg.secretKeys.includes(k) || defaults[k] === v) continue;
        config[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
    }
    return `# ${stack} of the e2e world (test/e2e/workflows.test.ts); secrets: pulumi config set --secret privateKey / deployKey\n${YAML.stringify({ config })}`;
}

before(async () => {
    world = makeWorld(VPS, { fresh: true, services: "workflows", domain: "wf.berth.test", prodDomain: "prod.wf.berth.test", repo: "wf-sample" });
    vps(["stage-images", world.vps.name]);
    work = world.work;
    backend = path.join(work, "backend");
    fs.mkdirSync(backend);
    // The machine's CA bundle plus Pebble's root: curl on the runner trusts both.
    ({ file: pebbleRootFile, pebbleRoot } = await writeTrustBundle(world, work));
    // The runner's curl resolves the stacks' names as public DNS would.
    const hosts = fs.readFileSync("/etc/hosts", "utf8").split("\n").filter((l) => !l.includes(HOSTS_TAG));
    fs.writeFileSync("/etc/hosts", [...hosts.filter(Boolean), `${world.vps.ip} ${world.domain} ${world.prodDomain} ${HOSTS_TAG}`, ""].join("\n"));

    // origin: berth's files as one commit on main (a user's repository), and the operator's clone.
    ({ origin, operatorDir } = seedOrigin(work));
});

after(() => {
    try {
        const hosts = fs.readFileSync("/etc/hosts", "utf8").split("\n").filter((l) => !l.includes(HOSTS_TAG));
        fs.writeFileSync("/etc/hosts", hosts.join("\n"));
    } catch {
        /* best effort */
    }
    if (!keepHosts()) removeVps(world.vps.name);
});

describe("workflows as written, stack files in git (issue 17)", () => {
    test("1. set-up as the README says; CI deploys staging, a gated production deploy, drift green for both", async () => {
        // Set-up: the stack files (what `berth init` and an editor write), then the README's secret commands.
        fs.writeFileSync(path.join(operatorDir, "Pulumi.staging.yaml"), stackFile("staging", world.domain, world.shas.v1));
        fs.writeFileSync(path.join(operatorDir, "Pulumi.production.yaml"), stackFile("production", world.prodDomain, world.shas.v1));
        for (const stack of ["staging", "production"]) {
            operator("pulumi", ["stack", "init", stack, "--secrets-provider", "passphrase"]);
            operator("pulumi", ["config", "set", "--secret", "privateKey", "-s", stack], { input: fs.readFileSync(world.vps.privateKeyPath, "utf8") });
            operator("pulumi", ["config", "set", "--secret", "deployKey", "-s", stack], { input: fs.readFileSync(world.git.deployKeyPath, "utf8") });
        }
        const stagingFile = fs.readFileSync(path.join(operatorDir, "Pulumi.staging.yaml"), "utf8");
        assert.match(stagingFile, /^encryptionsalt: v1:/m, "stack init wrote a salt");
        assert.ok(!stagingFile.includes("PRIVATE KEY"), "the key is stored encrypted");
        operator("git", ["add", "Pulumi.staging.yaml", "Pulumi.production.yaml"]);
        operator("git", ["commit", "-q", "-m", "stacks: staging and production"]);

        assertJob(pushAndDeployStaging(), "deploy-staging");
        {
            assert.equal((await get(world.domain, "/up")).status, 200);
            const staged = spawnSync("pulumi", ["stack", "output", "revision", "--stack", "staging"], { cwd: operatorDir, env: operatorEnv(), encoding: "utf8" }).stdout.trim();
            assert.equal(staged, world.shas.v1);

            const prod = ci("deploy-production.yml", "up", { inputs: { revision: staged, confirm: "deploy production" } });
            assertJob(prod, "deploy-production");
            assert.equal((await get(world.prodDomain, "/up")).status, 200);
            assert.equal(committedRevision("production"), staged, "main records production's revision");
            assert.equal(git(origin, ["rev-parse", "refs/tags/berth/deployed/production"]), mainTip());
            driftBoth();
        }
    });

    test("2. an operator's rollback of production survives the next staging deploy and the drift job", async () => {
        // A second release on both stacks first (v2), through the workflows.
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        berth(["set-desired", "staging", `revision=${world.shas.v2}`]);
        operator("git", ["commit", "-q", "-am", "staging: v2"]);
        assertJob(pushAndDeployStaging(), "deploy-staging v2");
        assertJob(ci("deploy-production.yml", "up", { inputs: { revision: world.shas.v2, confirm: "deploy production" } }), "deploy-production v2");
        assert.match((await get(world.prodDomain, "/")).body, /berth sample app \(v2\)/);

        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        const rb = berth(["rollback", "-s", "production", "--yes"]);
        assert.match(rb.out, /committed [0-9a-f]{40}/);
        assert.equal(committedRevision("production"), world.shas.v1, "the rollback is recorded in main");
        assert.match((await get(world.prodDomain, "/")).body, /<h1>berth sample app<\/h1>/);

        // A later push (any change) deploys staging; then the daily drift job.
        fs.appendFileSync(path.join(operatorDir, "README.md"), "\n<!-- e2e: a later change -->\n");
        operator("git", ["commit", "-q", "-am", "docs: a later change"]);
        assertJob(pushAndDeployStaging(), "deploy-staging after the rollback");
        driftBoth();
        assert.match((await get(world.prodDomain, "/")).body, /<h1>berth sample app<\/h1>/, "production still serves the rolled-back release");
        assert.equal(committedRevision("production"), world.shas.v1);
    });

    test("3. maintenance on staging survives a deploy and a repair; off serves again", async () => {
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        berth(["maintenance", "on", "-s", "staging", "--yes"]);
        assert.equal((await get(world.domain, "/up")).status, 503);
        fs.appendFileSync(path.join(operatorDir, "README.md"), "\n<!-- e2e: during maintenance -->\n");
        operator("git", ["commit", "-q", "-am", "docs: during maintenance"]);
        assertJob(pushAndDeployStaging(), "deploy-staging in maintenance");
        assert.equal((await get(world.domain, "/up")).status, 503, "a deploy keeps maintenance on");
        berth(["repair", "-s", "staging"]);
        assert.equal((await get(world.domain, "/up")).status, 503, "repair keeps maintenance on");
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        berth(["maintenance", "off", "-s", "staging", "--yes"]);
        assert.equal((await get(world.domain, "/up")).status, 200);
        driftBoth();
    });

    test("4. a pull request: pr.yml's test job and the preview of both stacks on the merge ref; nothing applied", () => {
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        operator("git", ["checkout", "-q", "-b", "pr-1"]);
        const file = path.join(operatorDir, "Pulumi.staging.yaml");
        const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
        doc.setIn(["config", "berth:env", "RAILS_LOG_LEVEL"], "debug");
        fs.writeFileSync(file, doc.toString());
        operator("git", ["commit", "-q", "-am", "staging: debug logs"]);
        operator("git", ["checkout", "-q", "--detach", "origin/main"]);
        operator("git", ["merge", "-q", "--no-ff", "-m", "Merge pull request #1 from pr-1", "pr-1"]);
        operator("git", ["push", "-q", "origin", "HEAD:refs/pull/1/merge"]);
        const merge = git(operatorDir, ["rev-parse", "HEAD"]);
        operator("git", ["checkout", "-q", "main"]);
        const pr = { ref: "refs/pull/1/merge", sha: merge, event: { pull_request: { number: 1 } } };

        assertJob(ci("pr.yml", "test", pr), "pr test (npm test on the merge ref)");
        const previews: Record<string, string> = {};
        for (const stack of ["staging", "production"]) {
            const r = ci("pr.yml", "preview", { ...pr, matrix: { stack } });
            assertJob(r, `pr preview ${stack}`);
            previews[stack] = r.steps.find((x) => x.name.startsWith("pulumi/actions") && x.outputs.output !== undefined)?.output ?? r.steps.map((x) => x.output).join("\n");
        }
        assert.match(previews.staging, /Resources: .*\d+ update/, "the staging preview shows the env change");
        assert.doesNotMatch(previews.production, /\d+ (update|create|replace|delete)/, "production's preview shows nothing to do");
        const env = onVps(world, "grep RAILS_LOG_LEVEL /etc/berth/sample-staging/app.env").stdout;
        assert.match(env, /info/, "the env file says what main says");
        assert.doesNotMatch(env, /debug/, "a preview applies nothing");
    });

    test("5. real drift fails the drift job (a hand-edited file, a stopped container) on that stack only; repair and the next deploy make it green", async () => {
        const site = onVps(world, "readlink -f /etc/nginx/sites-enabled/*staging*").stdout.trim().split("\n")[0];
        assert.ok(site, "the staging site file");
        onVps(world, `echo '# hand edit' >> ${site}`);
        const redis = onVps(world, "docker ps --format '{{.Names}}' | grep -- '-staging-redis$'").stdout.trim();
        assert.ok(redis, "staging's redis container");
        onVps(world, `docker stop -t 5 ${redis}`);

        const red = ci("drift.yml", "drift", { matrix: { stack: "staging" } });
        assert.equal(red.ok, false, "the drift job fails");
        const preview = red.steps.find((x) => x.name.startsWith("pulumi/actions"));
        assert.equal(preview?.outcome, "failure", "refresh + expect-no-changes sees the stopped container");
        const verify = red.steps.find((x) => x.name.startsWith("Verify every host"));
        assert.equal(verify?.outcome, "failure");
        assert.match(verify!.output, new RegExp(`drift: file ${site.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
        assert.ok(red.steps.find((x) => x.name === "Report drift")?.outcome === "success", "the report step ran");
        assertJob(ci("drift.yml", "drift", { matrix: { stack: "production" } }), "drift production (untouched)");

        // repair fixes the host; the stopped container's refreshed state (must_run false, no ports) is
        // reconciled by the next up, as the README says.
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        berth(["repair", "-s", "staging"]);
        assert.equal((await get(world.domain, "/up")).status, 200);
        fs.appendFileSync(path.join(operatorDir, "README.md"), "\n<!-- e2e: after a repair -->\n");
        operator("git", ["commit", "-q", "-am", "docs: after a repair"]);
        assertJob(pushAndDeployStaging(), "deploy-staging after the repair");
        driftBoth();
    });
});

/**
 * Deploys from the app's repository and review apps (issue 20 items 1, 2),
 * through the workflows' own `run:` steps (test/e2e/gha.ts) and the Pulumi
 * stand-in (test/e2e/pulumi-standin.ts), on one Debian 13 VPS (world
 * `review`) with an SFTP container as staging's backup target and a stub of
 * GitHub's REST API (a child process recording every request):
 *
 *   1. a push to the app repository's main: the app's workflow
 *      (examples/app-repo) dispatches `app-push` with the sha; berth's
 *      app-push.yml deploys staging at exactly that sha, commits it to
 *      main, and the app's commit gets `pending` then `success` with the URL;
 *   2. a row written in staging and backed up; a pull request opened (head:
 *      v2, a second migration): review.yml brings pr-1 up with staging's row,
 *      migrated, served over HTTPS (Pebble) at pr-1.<review domain>; a
 *      second push with nothing changed runs no command; a second pull
 *      request is refused by the cap (max 1) naming pr-1;
 *   3. pr-1 closed: destroyed, no unit, site, container, volume, network,
 *      directory or user of it left on the VPS, the stack removed;
 *   4. `berth:review.certificate: wildcard` set by the operator (with
 *      DNS-01 hooks to the test DNS) and deployed by deploy-staging:
 *      staging's lineage now covers `*.<review domain>`; pr-3 comes up with
 *      no certificate of its own, serving staging's (Pebble-trusted for its
 *      name); closed, it leaves staging's lineage and site serving.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { devConfig, dns01Hooks, keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { httpsGet, servedCertificate, sftpDown, sftpUp, SftpTarget } from "./kit";
import { JobResult } from "./gha";
import { assertJob, ciMachine, seedOrigin, writeTrustBundle } from "./ciMachine";
import { projectDefaults, ROOT } from "../unit/harness";

const VPS = "berth-review-vps";
const SFTP = "berth-review-sftp";
const PASSPHRASE = "review apps passphrase (e2e)";
const HOSTS_TAG = "# berth-e2e-review";
const REVIEW_DOMAIN = "apps.review.berth.test";
const REPO_PATH = "/srv/restic/review-staging";
const BACKUP_PASSWORD = crypto.randomBytes(24).toString("base64url");
const MARKER = `review-marker-${crypto.randomBytes(6).toString("hex")}`;

let world: World;
let target: SftpTarget;
let work: string;
let origin: string;
let operatorDir: string;
let backend: string;
let pebbleRootFile: string;
let pebbleRoot = "";
let stub: ChildProcess | undefined;
let stubUrl = "";
let stubLog = "";

const machine = ciMachine(() => ({
    world,
    work,
    origin,
    operatorDir,
    backend,
    passphrase: PASSPHRASE,
    pebbleRootFile,
    secrets: { APP_STATUS_TOKEN: "app-status-token", BERTH_DISPATCH_TOKEN: "berth-dispatch-token" },
    // GitHub's REST API: the stub below.
    env: { GITHUB_API_URL: stubUrl },
    stackKeyFiles: /^berth-(staging|pr-\d+)-/,
}));
const { git, mainTip } = machine;
/** A command in the operator's clone: its output (throws unless it exits 0). */
const operator = (cmd: string, args: string[], o: { input?: string } = {}): string => machine.operator(cmd, args, o).out;

/** A job of berth's workflows, on a fresh runner with a fresh checkout of origin's main. */
function ci(workflow: string, job: string, o: { event?: Record<string, unknown>; eventName?: string } = {}): JobResult {
    return machine.job(workflow, job, o);
}

/** The app repository's workflow (examples/app-repo) for one of its events; it has no checkout step. */
function appCi(eventName: string, sha: string, event: Record<string, unknown>): JobResult {
    return machine.job(path.join(ROOT, "examples", "app-repo", ".github", "workflows", "berth-deploy.yml"), "dispatch", {
        origin: world.repoUrl,
        sha,
        ref: eventName === "push" ? "refs/heads/main" : `refs/pull/${(event.pull_request as { number: number }).number}/merge`,
        event,
        eventName,
        repository: "example-co/sample",
        actor: "app-dev",
        path: [machine.NODE_BIN],
    });
}

interface ApiCall {
    method: string;
    path: string;
    auth: string;
    body: any;
}

function apiCalls(): ApiCall[] {
    return fs.existsSync(stubLog) ? fs.readFileSync(stubLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/** The repository_dispatch the app's workflow just sent (the last one), as GitHub hands it to berth's workflow. */
function lastDispatch(): { event_type: string; client_payload: Record<string, unknown> } {
    const d = apiCalls().filter((c) => c.method === "POST" && c.path === "/repos/example-co/berth/dispatches").pop();
    assert.ok(d, "the app's workflow dispatched to the berth repository");
    assert.equal(d.auth, "Bearer berth-dispatch-token");
    return d.body;
}

function statuses(sha: string, context: string): { state: string; target_url: string; description: string }[] {
    return apiCalls()
        .filter((c) => c.method === "POST" && c.path === `/repos/example-co/sample/statuses/${sha}` && c.body.context === context)
        .map((c) => {
            assert.equal(c.auth, "Bearer app-status-token");
            return c.body;
        });
}

function get(domain: string, p: string) {
    return httpsGet({ ip: world.vps.ip, domain, ca: pebbleRoot }, p, 10_000);
}

function vpsOut(command: string): string {
    const r = onVps(world, command);
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    return r.stdout.trim();
}

/** Closes pull request `n` (the app's workflow, then review.yml): nothing of pr-<n> left on the VPS, its stack removed. */
function closeReview(n: number): void {
    const head = { sha: world.shas.v2 };
    assertJob(appCi("pull_request", world.shas.v2, { action: "closed", number: n, pull_request: { number: n, head } }), `the app's workflow (closed ${n})`);
    assertJob(ci("review.yml", "review", { event: lastDispatch(), eventName: "repository_dispatch" }), `review down pr-${n}`);
    const id = `sample-pr-${n}`;
    const left = vpsOut(
        [
            `systemctl list-units --all --plain --no-legend 'berth-${id}*' | awk '{print "unit " $1}'`,
            `ls /etc/systemd/system | grep -F ${id} | sed 's/^/unit file /'`,
            `ls /etc/nginx/sites-available /etc/nginx/sites-enabled /etc/nginx/berth 2>/dev/null | grep -F ${id} | sed 's/^/site /'`,
            `docker ps -a --format '{{.Names}}' | grep -F ${id} | sed 's/^/container /'`,
            `docker volume ls -q | grep -F ${id} | sed 's/^/volume /'`,
            `docker network ls --format '{{.Name}}' | grep -F ${id} | sed 's/^/network /'`,
            `for d in /srv/berth/${id} /etc/berth/${id} /var/cache/berth/${id} /var/www/berth-acme/${id} /run/berth-${id} /etc/letsencrypt/live/berth-${id}; do [ ! -e $d ] || echo directory $d; done`,
            `! id ${id} >/dev/null 2>&1 || echo user ${id}`,
            "true",
        ].join("; "),
    );
    assert.equal(left, "", `left on the host after review down ${n}`);
    assert.doesNotMatch(operator("pulumi", ["stack", "ls", "--json"]), new RegExp(`pr-${n}\\b`), "the stack is removed");
}

/** Staging's stack file: the dev stack's keys for this world, review apps on (max 1), backups to the SFTP container. */
function stagingFile(): string {
    const cfg = devConfig(world, { "berth:env": { APP_HOST: world.domain, RAILS_LOG_LEVEL: "info" }, "berth:revision": "main" }, "staging");
    const defaults = projectDefaults();
    const config: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(cfg.values)) {
        if (cfg.secretKeys.includes(k) || defaults[k] === v) continue;
        config[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
    }
    config["berth:backup"] = { repository: `sftp:${target.user}@${target.ip}:${REPO_PATH}`, hostKey: target.hostKey };
    config["berth:review"] = { domain: REVIEW_DOMAIN, max: 1 };
    return `# staging of the review world (test/e2e/review.test.ts)\n${YAML.stringify({ config })}`;
}

/** Starts the stub of GitHub's REST API: every request appended to a file as one JSON line; 204 for dispatches, 201 else. */
async function startStub(): Promise<void> {
    stubLog = path.join(work, "github-api.jsonl");
    const code = `
const http = require("node:http"); const fs = require("node:fs");
const s = http.createServer((req, res) => { let b = ""; req.on("data", (d) => (b += d)); req.on("end", () => {
  let body; try { body = JSON.parse(b || "null"); } catch { body = b; }
  fs.appendFileSync(${JSON.stringify(stubLog)}, JSON.stringify({ method: req.method, path: req.url, auth: req.headers.authorization || "", body }) + "\\n");
  res.writeHead(req.url.endsWith("/dispatches") ? 204 : 201, { "content-type": "application/json" }); res.end(req.url.endsWith("/dispatches") ? "" : "{}"); }); });
s.listen(0, "127.0.0.1", () => console.log(s.address().port));`;
    stub = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<string>((resolve) => stub!.stdout!.once("data", (d) => resolve(String(d).trim())));
    stubUrl = `http://127.0.0.1:${port}`;
}

before(async () => {
    world = makeWorld(VPS, { fresh: true, services: "review", domain: "review.berth.test", prodDomain: `pr-1.${REVIEW_DOMAIN}`, repo: "review-sample" });
    vps(["stage-images", world.vps.name]);
    target = sftpUp(SFTP);
    work = world.work;
    backend = path.join(work, "backend");
    fs.mkdirSync(backend);
    await startStub();
    // The machine's CA bundle plus Pebble's root: curl on the runner trusts both.
    ({ file: pebbleRootFile, pebbleRoot } = await writeTrustBundle(world, work));
    const hosts = fs.readFileSync("/etc/hosts", "utf8").split("\n").filter((l) => !l.includes(HOSTS_TAG));
    fs.writeFileSync("/etc/hosts", [...hosts.filter(Boolean), `${world.vps.ip} ${world.domain} pr-1.${REVIEW_DOMAIN} pr-2.${REVIEW_DOMAIN} pr-3.${REVIEW_DOMAIN} ${HOSTS_TAG}`, ""].join("\n"));

    // origin: berth's tracked files (of this checkout, uncommitted changes included) as one commit on main.
    ({ origin, operatorDir } = seedOrigin(work));

    // Set-up as the README says: staging's file, stack init, the secrets; committed and pushed.
    fs.writeFileSync(path.join(operatorDir, "Pulumi.staging.yaml"), stagingFile());
    operator("pulumi", ["stack", "init", "staging", "--secrets-provider", "passphrase"]);
    operator("pulumi", ["config", "set", "--secret", "privateKey", "-s", "staging"], { input: fs.readFileSync(world.vps.privateKeyPath, "utf8") });
    operator("pulumi", ["config", "set", "--secret", "deployKey", "-s", "staging"], { input: fs.readFileSync(world.git.deployKeyPath, "utf8") });
    operator("pulumi", ["config", "set", "--secret", "--path", "backup.privateKey", "-s", "staging"], { input: fs.readFileSync(target.privateKeyPath, "utf8") });
    operator("pulumi", ["config", "set", "--secret", "--path", "backup.password", "-s", "staging"], { input: BACKUP_PASSWORD });
    operator("git", ["add", "Pulumi.staging.yaml"]);
    operator("git", ["commit", "-q", "-m", "staging: review apps on, backups"]);
    operator("git", ["push", "-q", "origin", "HEAD:main"]);
});

after(() => {
    stub?.kill();
    try {
        const hosts = fs.readFileSync("/etc/hosts", "utf8").split("\n").filter((l) => !l.includes(HOSTS_TAG));
        fs.writeFileSync("/etc/hosts", hosts.join("\n"));
    } catch {
        /* best effort */
    }
    if (!keepHosts()) {
        removeVps(world.vps.name);
        sftpDown(SFTP);
    }
});

describe("deploys from the app repository; review apps (issue 20 items 1, 2)", () => {
    test("1. a push to the app's main deploys staging at that sha, recorded in main, with a commit status", async () => {
        const sha = world.shas.v1;
        assert.match(git(work, ["ls-remote", "--", path.join(work, "sample"), "refs/tags/v1"]), new RegExp(`^${sha}`), "the app repository's commit");
        assertJob(appCi("push", sha, { after: sha }), "the app's workflow (push)");
        const d = lastDispatch();
        assert.deepEqual(d, { event_type: "app-push", client_payload: { sha, repository: "example-co/sample" } });
        assertJob(ci("app-push.yml", "up", { event: d, eventName: "repository_dispatch" }), "app-push");
        assert.equal((await get(world.domain, "/up")).status, 200);
        assert.equal(String(YAML.parse(git(origin, ["show", "main:Pulumi.staging.yaml"])).config["berth:revision"]), sha, "main records staging's revision");
        assert.match(git(origin, ["log", "-1", "--format=%s", "main"]), new RegExp(`^berth: staging deployed example-co/sample@${sha} \\(app push\\) \\[skip ci\\]$`));
        assert.equal(git(origin, ["rev-parse", "refs/tags/berth/deployed/staging"]), mainTip());
        assert.deepEqual(statuses(sha, "berth/staging").map((s) => [s.state, s.target_url.startsWith("https://github.invalid/") ? "run" : s.target_url]), [
            ["pending", "run"],
            ["success", `https://${world.domain}`],
        ]);
    });

    test("2. a pull request: review app pr-1 with staging's rows, migrated, over HTTPS; a second push runs nothing; the cap refuses pr-2", async () => {
        // A row only staging has, then a backup of it (the installed script, as the timer runs it).
        vpsOut(`docker exec -i sample-staging-postgres psql -v ON_ERROR_STOP=1 -U postgres -d sample_staging -c "INSERT INTO notes (title, body, created_at, updated_at) VALUES ('${MARKER}', 'from staging', now(), now())"`);
        vpsOut("/usr/local/sbin/berth-sample-staging-backup manual");
        const stagingMigrations = Number(vpsOut("docker exec sample-staging-postgres psql -tA -U postgres -d sample_staging -c 'SELECT count(*) FROM schema_migrations'"));

        const head = world.shas.v2;
        const pr = (action: string, number: number) => ({ action, number, pull_request: { number, head: { sha: head } } });
        assertJob(appCi("pull_request", head, pr("opened", 1)), "the app's workflow (opened)");
        const d = lastDispatch();
        assert.deepEqual(d, { event_type: "app-review", client_payload: { sha: head, repository: "example-co/sample", number: 1, action: "opened" } });
        const up = ci("review.yml", "review", { event: d, eventName: "repository_dispatch" });
        assertJob(up, "review up pr-1");
        const domain = `pr-1.${REVIEW_DOMAIN}`;
        const home = await get(domain, "/");
        assert.equal(home.status, 200);
        assert.match(home.body, /berth sample app \(v2\)/, "the pull request's head is served");
        assert.match((await get(domain, "/notes")).body, new RegExp(MARKER), "staging's row, restored from its latest backup");
        assert.equal(Number(vpsOut("docker exec sample-pr-1-postgres psql -tA -U postgres -d sample_staging -c 'SELECT count(*) FROM schema_migrations'")), stagingMigrations + 1, "v2's migration ran on the restored data");
        assert.equal(vpsOut(`docker exec sample-staging-postgres psql -tA -U postgres -d sample_staging -c "SELECT count(*) FROM schema_migrations"`), String(stagingMigrations), "staging is untouched");
        assert.deepEqual(statuses(head, "berth/review").map((s) => s.state), ["pending", "success"]);
        assert.equal(statuses(head, "berth/review")[1].target_url, `https://${domain}`);

        // Its memory (README "Review apps", memory budget): the stack's units (cgroup memory.current) and containers.
        const units = vpsOut("systemctl list-units --plain --no-legend --state=active 'berth-sample-pr-1*' | awk '{print $1}' | xargs -r systemctl show -p Id -p MemoryCurrent --value | paste -sd' '");
        const containers = vpsOut("docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' | grep -F sample-pr-1 | paste -sd';'");
        process.stderr.write(`review memory: units ${units}; containers ${containers}\n`);

        // A second push with nothing changed: the same stack file, no command on the host.
        assertJob(appCi("pull_request", head, pr("synchronize", 1)), "the app's workflow (synchronize)");
        const again = ci("review.yml", "review", { event: lastDispatch(), eventName: "repository_dispatch" });
        assertJob(again, "review up pr-1 again");
        const step = again.steps.find((s) => s.id === "up")!;
        assert.match(step.output, /Resources: \d+ same\n/);
        assert.doesNotMatch(step.output, /\d+ (create|update|replace|delete)/, "no resource changes: no command runs");

        // The cap (berth:review.max 1): the next pull request is refused, naming the open one.
        assertJob(appCi("pull_request", head, pr("opened", 2)), "the app's workflow (opened 2)");
        const refused = ci("review.yml", "review", { event: lastDispatch(), eventName: "repository_dispatch" });
        assert.equal(refused.ok, false);
        assert.match(refused.steps.find((s) => s.id === "up")!.output, /berth: review stack pr-2 refused: berth:review\.max is 1 and 1 is open \(pr-1\)/);
        assert.equal(onVps(world, "test -e /srv/berth/sample-pr-2").code, 1, "nothing of pr-2 on the host");
        assert.equal(statuses(head, "berth/review").pop()?.state, "failure");
    });

    test("3. closed: pr-1 destroyed with all its data; nothing of it left on the host; the stack removed", () => {
        closeReview(1);
        assert.equal(Number(vpsOut("docker exec sample-staging-postgres psql -tA -U postgres -d sample_staging -c \"SELECT count(*) FROM notes WHERE title = '" + MARKER + "'\"")), 1, "staging keeps its rows");
    });

    test("4. berth:review.certificate wildcard: staging's DNS-01 certificate covers *.<review domain>; pr-3 serves it, with no lineage of its own", async () => {
        // The operator, as the README says: DNS-01 (hooks to the test DNS), the wildcard; committed, pushed, deployed by deploy-staging.
        operator("git", ["pull", "-q", "--rebase", "origin", "main"]);
        operator("pulumi", ["config", "set", "--path", "acme.challenge", "dns-01", "-s", "staging"]);
        operator("pulumi", ["config", "set", "--path", "review.certificate", "wildcard", "-s", "staging"]);
        const hooks = dns01Hooks(world.acme.dnsApi);
        operator("pulumi", ["config", "set", "--secret", "--path", "dns01.authHook", "-s", "staging"], { input: hooks.authHook });
        operator("pulumi", ["config", "set", "--secret", "--path", "dns01.cleanupHook", "-s", "staging"], { input: hooks.cleanupHook });
        operator("git", ["commit", "-qam", "staging: one wildcard certificate for review apps"]);
        const before = mainTip();
        operator("git", ["push", "-q", "origin", "HEAD:main"]);
        assertJob(ci("deploy-staging.yml", "up", { event: { before } }), "deploy-staging (wildcard)");
        const wildcard = `DNS:*.${REVIEW_DOMAIN}`;
        const staging = await servedCertificate({ ip: world.vps.ip, domain: world.domain, ca: pebbleRoot });
        assert.ok(staging.authorized, staging.error);
        assert.ok(staging.subjectaltname.split(", ").includes(wildcard), staging.subjectaltname);

        const head = world.shas.v2;
        assertJob(appCi("pull_request", head, { action: "opened", number: 3, pull_request: { number: 3, head: { sha: head } } }), "the app's workflow (opened 3)");
        assertJob(ci("review.yml", "review", { event: lastDispatch(), eventName: "repository_dispatch" }), "review up pr-3");
        const domain = `pr-3.${REVIEW_DOMAIN}`;
        const served = await servedCertificate({ ip: world.vps.ip, domain, ca: pebbleRoot });
        assert.ok(served.authorized, `pr-3's name is valid under Pebble's root: ${served.error}`);
        assert.equal(served.fingerprint256, staging.fingerprint256, "pr-3 serves staging's certificate");
        assert.match((await get(domain, "/")).body, /berth sample app \(v2\)/);
        assert.equal(onVps(world, "test -e /etc/letsencrypt/live/berth-sample-pr-3 || test -e /etc/letsencrypt/renewal/berth-sample-pr-3.conf").code, 1, "no lineage of its own");

        closeReview(3);
        const after = await servedCertificate({ ip: world.vps.ip, domain: world.domain, ca: pebbleRoot });
        assert.equal(after.fingerprint256, staging.fingerprint256, "staging's lineage stays");
        assert.equal((await get(world.domain, "/up")).status, 200);
    });
});

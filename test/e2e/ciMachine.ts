/**
 * The machines of a CI world (test/e2e/workflows.test.ts, review.test.ts):
 * an operator's clone and fresh GitHub runners, both with the Pulumi
 * stand-in (test/e2e/pulumi-standin.ts) first on PATH, a `file://` backend
 * they share, and this machine's trust settings plus the world's ACME CA.
 * One place for what every such test does: the environment, running a
 * command as the operator, a job of a workflow on a fresh runner, and its
 * assertion.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JobResult, runJob, RunnerContext } from "./gha";
import type { World } from "./world";
import { ROOT } from "../unit/harness";

/** What the test file has made by the time a machine is used (read at each call: set in `before`). */
export interface CiState {
    world: World;
    /** The world's scratch directory (runners are made in it). */
    work: string;
    /** The bare repository of berth's files (stack files included). */
    origin: string;
    operatorDir: string;
    /** The directory of the `file://` backend. */
    backend: string;
    passphrase: string;
    /** Pebble's root certificate, trusted as a runner trusts public CAs. */
    pebbleRootFile: string;
    /** The secrets the workflows get (besides the backend's and the passphrase). */
    secrets?: Record<string, string>;
    /** More machine settings (a stub API's URL). */
    env?: Record<string, string>;
    /** Key files of these stacks on this world's VPS are removed from the passwd home for each fresh runner. */
    stackKeyFiles: RegExp;
}

const NODE_BIN = path.dirname(process.execPath);
const MACHINE_TRUST = ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE"];
export const STANDIN_BIN = path.join(ROOT, "test", "e2e", "standin-bin");

export type JobOptions = Partial<Pick<RunnerContext, "event" | "eventName" | "inputs" | "matrix" | "ref" | "sha" | "repository" | "actor" | "origin">> & { path?: string[] };

export function ciMachine(state: () => CiState) {
    let runs = 0;
    /** What every machine that runs `pulumi` here has: the stand-in's launcher settings and the test DNS. */
    const machineEnv = (): Record<string, string> => {
        const s = state();
        return {
            BERTH_STANDIN_NODE: process.execPath,
            BERTH_STANDIN_TSX: `file://${path.join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")}`,
            BERTH_STANDIN_DNS_API: s.world.acme.dnsApi,
            // actions/setup-node's `cache: npm` restores the npm cache; the runner's HOME is fresh.
            npm_config_cache: path.join(process.env.HOME ?? "/root", ".npm"),
            // This machine reaches the npm registry's packages only: no audit or update-check requests
            // (they hang here; a hosted runner makes them), as the machine's own ~/.npmrc says.
            npm_config_audit: "false",
            npm_config_fund: "false",
            npm_config_update_notifier: "false",
            // The machine's own trust settings (its network passes through a TLS proxy with its own CA)...
            ...Object.fromEntries(MACHINE_TRUST.filter((k) => process.env[k]).map((k) => [k, process.env[k]!])),
            // ...and the world's ACME CA (Pebble), trusted as a runner trusts public CAs.
            CURL_CA_BUNDLE: s.pebbleRootFile,
            ...s.env,
        };
    };
    const operatorEnv = (): NodeJS.ProcessEnv => {
        const s = state();
        return {
            ...process.env,
            ...machineEnv(),
            PATH: [STANDIN_BIN, NODE_BIN, process.env.PATH].join(":"),
            PULUMI_BACKEND_URL: `file://${s.backend}`,
            PULUMI_CONFIG_PASSPHRASE: s.passphrase,
            GIT_AUTHOR_NAME: "Olivia Operator",
            GIT_AUTHOR_EMAIL: "olivia@example.com",
            GIT_COMMITTER_NAME: "Olivia Operator",
            GIT_COMMITTER_EMAIL: "olivia@example.com",
        };
    };
    /** A command in the operator's clone; throws with its output unless it exits 0 (or `allowFail`). */
    const operator = (cmd: string, args: string[], o: { input?: string; allowFail?: boolean } = {}): { code: number; out: string } => {
        const r = spawnSync(cmd, args, { cwd: state().operatorDir, env: operatorEnv(), encoding: "utf8", input: o.input ?? "", timeout: 15 * 60_000, maxBuffer: 64 << 20 });
        const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
        process.stderr.write(out.split("\n").map((l) => `[operator] ${l}`).join("\n") + "\n");
        if (r.status !== 0 && !o.allowFail) throw new Error(`operator: ${cmd} ${args.join(" ")} exited ${r.status}:\n${out}`);
        return { code: r.status ?? 1, out };
    };
    const git = (dir: string, args: string[]): string => spawnSync("git", args, { cwd: dir, encoding: "utf8" }).stdout.trim();
    const mainTip = (): string => git(state().origin, ["rev-parse", "refs/heads/main"]);
    /** A fresh runner: no key files of the stacks under the passwd home (the program and `prepare` write them), a new directory. */
    const freshRunner = (): string => {
        const s = state();
        // (os.homedir(), not os.userInfo(): test/unit/harness.ts points the latter at a temporary home in test processes.)
        const sshDir = path.join(os.homedir(), ".berth", "ssh");
        // Only this world's files (its stacks' names on its VPS): another world runs beside it on this
        // machine (test/e2e/run.sh's lanes), under the same passwd home, and its stacks may share these names.
        const mine = () => (fs.existsSync(sshDir) ? fs.readdirSync(sshDir).filter((f) => s.stackKeyFiles.test(f) && f.endsWith(`-${s.world.vps.ip}.key`)) : []);
        for (const f of mine()) fs.rmSync(path.join(sshDir, f));
        assert.deepEqual(mine(), [], "a fresh runner has no key file");
        return fs.mkdtempSync(path.join(s.work, `runner-${++runs}-`));
    };
    /**
     * A job of a workflow file on a fresh runner with a fresh checkout (berth's own workflows by default:
     * `.github/workflows/<file>`). The runner is removed after the job, as a hosted runner's machine is
     * (each holds a node_modules of ~370 MB: a file's twenty jobs would keep gigabytes).
     */
    const job = (workflow: string, name: string, o: JobOptions = {}): JobResult => {
        const s = state();
        const runnerDir = freshRunner();
        try {
            return runOn(runnerDir, workflow, name, o, s);
        } finally {
            fs.rmSync(runnerDir, { recursive: true, force: true });
        }
    };
    const runOn = (runnerDir: string, workflow: string, name: string, o: JobOptions, s: CiState): JobResult => {
        return runJob(path.isAbsolute(workflow) ? workflow : path.join(ROOT, ".github", "workflows", workflow), name, {
            origin: o.origin ?? s.origin,
            runnerDir,
            sha: o.sha ?? mainTip(),
            ref: o.ref ?? "refs/heads/main",
            secrets: { PULUMI_BACKEND_URL: `file://${s.backend}`, PULUMI_CONFIG_PASSPHRASE: s.passphrase, BERTH_SSH_PRIVATE_KEY: "", ...s.secrets },
            inputs: o.inputs,
            matrix: o.matrix,
            event: o.event,
            eventName: o.eventName,
            repository: o.repository,
            actor: o.actor ?? "ci-user",
            path: o.path ?? [STANDIN_BIN, NODE_BIN],
            machineEnv: machineEnv(),
            // actions/cache's store: this world's machine, shared by its runners.
            cacheDir: path.join(s.work, "actions-cache"),
            log: (l) => process.stderr.write(`${l}\n`),
        });
    };
    return { machineEnv, operatorEnv, operator, git, mainTip, freshRunner, job, NODE_BIN };
}

/** Fails naming each failed step and the end of its output. */
export function assertJob(r: JobResult, what: string): void {
    const failed = r.steps.filter((s) => s.outcome === "failure").map((s) => `--- ${s.name}\n${s.output.slice(-3000)}`);
    assert.ok(r.ok, `${what} failed:\n${failed.join("\n")}`);
}

/**
 * The machine's CA bundle plus the world's Pebble root, written to
 * `<work>/ca-bundle.pem`: curl on a runner trusts both, as a hosted runner
 * trusts public CAs. Returns the file and Pebble's root.
 */
export async function writeTrustBundle(world: World, work: string): Promise<{ file: string; pebbleRoot: string }> {
    const pebbleRoot = await new Promise<string>((resolve, reject) => {
        require("node:https")
            .get(world.acme.rootsUrl, { ca: world.acme.caBundlePem }, (res: any) => {
                let body = "";
                res.on("data", (d: string) => (body += d));
                res.on("end", () => resolve(body));
            })
            .on("error", reject);
    });
    const file = path.join(work, "ca-bundle.pem");
    const system = process.env.CURL_CA_BUNDLE ?? "/etc/ssl/certs/ca-certificates.crt";
    fs.writeFileSync(file, `${fs.existsSync(system) ? fs.readFileSync(system, "utf8") : ""}\n${pebbleRoot}`);
    return { file, pebbleRoot };
}

/**
 * `origin`: berth's files of this checkout (tracked and untracked, not
 * ignored; uncommitted changes included) as one commit on main, bare; and
 * the operator's clone of it, where the operator ran `npm ci` once (this
 * checkout's node_modules).
 */
export function seedOrigin(work: string): { origin: string; operatorDir: string } {
    const seed = path.join(work, "seed");
    fs.mkdirSync(seed);
    const files = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
    for (const f of files) {
        const from = path.join(ROOT, f);
        if (f === "node_modules" || f.startsWith("node_modules/") || !fs.existsSync(from) || !fs.statSync(from).isFile()) continue;
        fs.mkdirSync(path.join(seed, path.dirname(f)), { recursive: true });
        fs.copyFileSync(from, path.join(seed, f));
        fs.chmodSync(path.join(seed, f), fs.statSync(from).mode);
    }
    const gitEnv = { ...process.env, GIT_AUTHOR_NAME: "seed", GIT_AUTHOR_EMAIL: "seed@example.com", GIT_COMMITTER_NAME: "seed", GIT_COMMITTER_EMAIL: "seed@example.com" };
    for (const a of [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "berth"]]) spawnSync("git", a, { cwd: seed, env: gitEnv });
    const origin = path.join(work, "origin.git");
    spawnSync("git", ["clone", "-q", "--bare", seed, origin]);
    const operatorDir = path.join(work, "operator");
    spawnSync("git", ["clone", "-q", origin, operatorDir]);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(operatorDir, "node_modules"));
    return { origin, operatorDir };
}

/**
 * Runs a GitHub Actions job of berth's workflows as written, for the e2e
 * (test/e2e/workflows.test.ts): the YAML is parsed, every `run:` step runs
 * with bash as on a hosted runner, and only `uses:` steps are stood in for.
 *
 * What is modelled, from GitHub's documentation of the runner:
 * - `run:` is `bash --noprofile --norc -eo pipefail {0}` in the job's
 *   workspace (the default shell on Linux), with GITHUB_OUTPUT,
 *   GITHUB_STEP_SUMMARY, GITHUB_SHA, GITHUB_REF, GITHUB_WORKSPACE,
 *   GITHUB_REPOSITORY, GITHUB_EVENT_NAME, GITHUB_API_URL, CI; `job.status`
 *   (success until a step fails). Step outputs are read from GITHUB_OUTPUT (`k=v` and `k<<DELIM` forms).
 * - `env:` of the workflow, the job and the step, in that order of
 *   precedence; `${{ }}` expressions over secrets, inputs, env, matrix,
 *   steps.<id>.outputs / outcome and github.*; an unset value is ''.
 * - `if:`: `success()` is implied unless the condition calls a status
 *   function (success, failure, cancelled, always); `!`, `==`, `!=`, `&&`,
 *   `||`, string literals. A skipped step's outcome is `skipped`.
 * - A fresh runner per job: an empty workspace and HOME, nothing of an
 *   earlier run (the caller passes a new directory). Hosted runners give a
 *   job passwordless `sudo`; this machine runs the suite as root without
 *   sudo, so the runner's PATH has a `sudo` that runs its command as is.
 *
 * `uses:` stand-ins:
 * - actions/checkout@v4: a fetch of the origin (history depth 1 unless
 *   `fetch-depth: 0`, with tags when 0), then, as the action does for a
 *   branch ref, `git checkout -B <branch> refs/remotes/origin/<branch>`, and
 *   for a pull request's `refs/pull/<n>/merge` a detached checkout of it;
 *   HEAD must be GITHUB_SHA (src/git-source-provider.ts, refHelper.getCheckoutInfo).
 * - actions/setup-node@v4: checks that `node-version-file`'s major version
 *   is the Node on PATH (the project's Node 24 is first on the runner PATH).
 * - pulumi/actions@v6 (src/main.ts): without `command` it installs the CLI
 *   (the stand-in, test/e2e/pulumi-standin.ts, is already on PATH). With
 *   one: `refresh: true` runs `pulumi refresh --yes` first (a refresh that
 *   writes the state, as `stack.refresh()` does), then the command through
 *   the Automation API's flags (`up --yes --skip-preview`, `preview`, with
 *   `--diff`, `--expect-no-changes`, `--policy-pack`); then every stack
 *   output becomes a step output. PR comments are not posted.
 * - webfactory/ssh-agent: fails (the e2e stacks use key files; the
 *   workflows skip it when BERTH_SSH_PRIVATE_KEY is empty).
 * - actions/cache@v4 (GitHub's "Dependency caching reference"): the store is
 *   the machine's (`cacheDir`, shared by the world's runners), caches are
 *   scoped to the ref that saved them and readable from the default branch
 *   (refs/heads/main) too. Restore: an exact key match is a hit (output
 *   `cache-hit` 'true'); else the newest cache whose key starts with `key`
 *   is restored with `cache-hit` 'false'; else nothing. On a miss the path
 *   is saved under `key` after the last step, only when the job succeeded;
 *   an existing cache is never changed. `hashFiles()` is the sha256 of the
 *   matched files' sha256s; `runner.os` is Linux.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

export interface RunnerContext {
    /** Origin repository (a path or file:// URL) that actions/checkout clones. */
    origin: string;
    /** A fresh, empty directory: the runner's workspace and HOME live below it. */
    runnerDir: string;
    /** The commit the event is for (GITHUB_SHA) and its ref (GITHUB_REF). */
    sha: string;
    ref: string;
    secrets: Record<string, string>;
    inputs?: Record<string, string>;
    matrix?: Record<string, string>;
    /** github.event.* (e.g. `before` of a push). */
    event?: Record<string, unknown>;
    /** github.event_name (push when unset). */
    eventName?: string;
    /** github.repository (example-co/berth when unset). */
    repository?: string;
    actor?: string;
    /** Directories put first on PATH (the Pulumi stand-in, the project's Node). */
    path: string[];
    /** Extra environment of the runner machine (not of the workflow). */
    machineEnv?: Record<string, string>;
    log?: (line: string) => void;
    /** Per-step time limit (default 20 minutes). */
    stepTimeoutMs?: number;
    /** actions/cache's store on this machine (see above); without it every restore misses and nothing is saved. */
    cacheDir?: string;
}

export interface StepResult {
    name: string;
    id?: string;
    outcome: "success" | "failure" | "skipped";
    outputs: Record<string, string>;
    output: string;
}

export interface JobResult {
    ok: boolean;
    steps: StepResult[];
    summary: string;
    workspace: string;
}

/** Runs job `jobId` of `workflowFile`; never throws for a failing step. */
export function runJob(workflowFile: string, jobId: string, ctx: RunnerContext): JobResult {
    const wf = YAML.parse(fs.readFileSync(workflowFile, "utf8"));
    const job = wf.jobs?.[jobId];
    if (!job) throw new Error(`${workflowFile}: no job ${jobId}`);
    const workspace = path.join(ctx.runnerDir, "work");
    const home = path.join(ctx.runnerDir, "home");
    const temp = path.join(ctx.runnerDir, "temp");
    const bin = path.join(ctx.runnerDir, "bin");
    for (const d of [workspace, home, temp, bin]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(bin, "sudo"), '#!/bin/sh\n# passwordless sudo of a hosted runner (the suite runs as root)\nexec "$@"\n', { mode: 0o755 });
    const summaryFile = path.join(temp, "step_summary");
    fs.writeFileSync(summaryFile, "");
    const steps: Record<string, { outputs: Record<string, string>; outcome: string }> = {};
    const results: StepResult[] = [];
    let failed = false;
    const log = ctx.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const github = {
        sha: ctx.sha,
        ref: ctx.ref,
        actor: ctx.actor ?? "e2e-ci",
        repository: ctx.repository ?? "example-co/berth",
        server_url: "https://github.invalid",
        run_id: String(Date.now()),
        workspace,
        event: ctx.event ?? {},
        event_name: ctx.eventName ?? "push",
    };
    // job.status: success until a step fails (what `if: always()` steps read).
    const scope = (env: Record<string, string>): Scope => ({
        secrets: ctx.secrets,
        inputs: ctx.inputs ?? {},
        matrix: ctx.matrix ?? {},
        job: { status: failed ? "failure" : "success" },
        runner: { os: "Linux", temp },
        env,
        steps,
        github,
        failed,
        workspace,
    });
    const saves: CacheSave[] = [];
    const evalEnv = (decl: Record<string, unknown> | undefined, base: Record<string, string>): Record<string, string> => {
        const out = { ...base };
        for (const [k, v] of Object.entries(decl ?? {})) out[k] = interpolate(String(v), scope(out));
        return out;
    };
    const wfEnv = evalEnv(wf.env, {});
    const jobEnv = evalEnv(job.env, wfEnv);
    for (const [i, step] of (job.steps as any[]).entries()) {
        const name = String(step.name ?? step.uses ?? String(step.run).split("\n")[0]);
        const stepEnv = evalEnv(step.env, jobEnv);
        const cond = step.if === undefined ? "success()" : String(step.if).replace(/^\$\{\{\s*|\s*\}\}$/g, "");
        const run = evaluateIf(cond, scope(stepEnv));
        if (!run) {
            log(`[${jobId}] skip: ${name}`);
            if (step.id) steps[step.id] = { outputs: {}, outcome: "skipped" };
            results.push({ name, id: step.id, outcome: "skipped", outputs: {}, output: "" });
            continue;
        }
        log(`[${jobId}] step ${i + 1}: ${name}`);
        const outFile = path.join(temp, `output_${i}`);
        fs.writeFileSync(outFile, "");
        const env: Record<string, string> = {
            PATH: [...ctx.path, bin, process.env.PATH ?? "/usr/bin:/bin"].join(":"),
            HOME: home,
            LANG: "C.UTF-8",
            CI: "true",
            GITHUB_ACTIONS: "true",
            GITHUB_SHA: ctx.sha,
            GITHUB_REF: ctx.ref,
            GITHUB_WORKSPACE: workspace,
            GITHUB_OUTPUT: outFile,
            GITHUB_STEP_SUMMARY: summaryFile,
            GITHUB_ACTOR: github.actor,
            GITHUB_REPOSITORY: String(github.repository),
            GITHUB_EVENT_NAME: github.event_name,
            // The REST API's root (a runner's default variable); the e2e's stub API replaces it through machineEnv.
            GITHUB_API_URL: "https://api.github.invalid",
            RUNNER_TEMP: temp,
            ...(ctx.machineEnv ?? {}),
            ...stepEnv,
        };
        let r: { ok: boolean; output: string; outputs: Record<string, string> };
        if (step.run !== undefined) {
            const script = path.join(temp, `step_${i}.sh`);
            fs.writeFileSync(script, interpolate(String(step.run), scope(stepEnv)));
            const p = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
                cwd: workspace,
                env,
                encoding: "utf8",
                timeout: ctx.stepTimeoutMs ?? 20 * 60_000,
                maxBuffer: 256 << 20,
            });
            const output = `${p.stdout ?? ""}${p.stderr ?? ""}`;
            r = { ok: p.status === 0, output, outputs: readOutputs(outFile) };
        } else {
            const withs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, interpolate(String(v), scope(stepEnv))]));
            r = uses(String(step.uses), withs, { ctx, workspace, env, saves });
        }
        for (const l of r.output.split("\n").filter(Boolean)) log(`[${jobId}]   ${l}`);
        const outcome = r.ok ? "success" : "failure";
        if (!r.ok) failed = true;
        if (step.id) steps[step.id] = { outputs: r.outputs, outcome };
        results.push({ name, id: step.id, outcome, outputs: r.outputs, output: r.output });
    }
    // actions/cache's post step: a missed cache is saved when the job succeeded.
    if (!failed) for (const c of saves) saveCache(c, log, jobId);
    return { ok: !failed, steps: results, summary: fs.readFileSync(summaryFile, "utf8"), workspace };
}

function readOutputs(file: string): Record<string, string> {
    const out: Record<string, string> = {};
    const lines = fs.readFileSync(file, "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
        const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]);
        if (heredoc) {
            const body: string[] = [];
            while (++i < lines.length && lines[i] !== heredoc[2]) body.push(lines[i]);
            out[heredoc[1]] = body.join("\n");
            continue;
        }
        const eq = lines[i].indexOf("=");
        if (eq > 0) out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1);
    }
    return out;
}

// ---------------------------------------------------------------------------
// uses: stand-ins
// ---------------------------------------------------------------------------

function sh(cmd: string, args: string[], cwd: string, env: Record<string, string>, input?: string): { ok: boolean; output: string; stdout: string } {
    const p = spawnSync(cmd, args, { cwd, env, encoding: "utf8", input, maxBuffer: 256 << 20, timeout: 20 * 60_000 });
    return { ok: p.status === 0, output: `${p.stdout ?? ""}${p.stderr ?? ""}`, stdout: p.stdout ?? "" };
}

/** A cache to save after the job (actions/cache's post step). */
interface CacheSave {
    from: string;
    to: string;
}

/** The store's directory of a ref's caches. */
function cacheScope(store: string, ref: string): string {
    return path.join(store, ref.replace(/[^A-Za-z0-9._-]/g, "_"));
}

/** Restores `key` (exact, else the newest key it prefixes) from the ref's caches, then the default branch's. */
function restoreCache(ctx: RunnerContext, workspace: string, withs: Record<string, string>, saves: CacheSave[]): { ok: boolean; output: string; outputs: Record<string, string> } {
    const key = withs.key;
    const target = path.resolve(workspace, withs.path);
    if (!ctx.cacheDir) return { ok: true, output: `cache: no store on this runner; ${key} missed`, outputs: { "cache-hit": "false" } };
    const scopes = [...new Set([ctx.ref, "refs/heads/main"])].map((r) => cacheScope(ctx.cacheDir!, r));
    const exact = scopes.map((d) => path.join(d, key)).find((d) => fs.existsSync(d));
    const prefixed = exact
        ? undefined
        : scopes
              .flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((k) => k.startsWith(key)).map((k) => path.join(d, k)) : []))
              .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    if (!exact) saves.push({ from: target, to: path.join(cacheScope(ctx.cacheDir, ctx.ref), key) });
    const hit = exact ?? prefixed;
    if (!hit) return { ok: true, output: `cache: ${key} not found`, outputs: { "cache-hit": "false" } };
    fs.rmSync(target, { recursive: true, force: true });
    const cp = spawnSync("cp", ["-a", hit, target], { encoding: "utf8" });
    if (cp.status !== 0) return { ok: false, output: `cache: restoring ${hit}: ${cp.stderr}`, outputs: {} };
    return { ok: true, output: `cache: restored ${path.basename(hit)}${exact ? "" : " (a prefix match)"}`, outputs: { "cache-hit": exact ? "true" : "false" } };
}

function saveCache(c: CacheSave, log: (l: string) => void, jobId: string): void {
    if (fs.existsSync(c.to) || !fs.existsSync(c.from)) return;
    fs.mkdirSync(path.dirname(c.to), { recursive: true });
    const tmp = `${c.to}.partial-${process.pid}`;
    const cp = spawnSync("cp", ["-a", c.from, tmp], { encoding: "utf8" });
    if (cp.status === 0 && !fs.existsSync(c.to)) fs.renameSync(tmp, c.to);
    else fs.rmSync(tmp, { recursive: true, force: true });
    log(`[${jobId}] post: cache ${path.basename(c.to)} ${cp.status === 0 ? "saved" : `not saved: ${cp.stderr}`}`);
}

function uses(ref: string, withs: Record<string, string>, o: { ctx: RunnerContext; workspace: string; env: Record<string, string>; saves: CacheSave[] }): { ok: boolean; output: string; outputs: Record<string, string> } {
    const [action] = ref.split("@");
    const { ctx, workspace, env } = o;
    if (action === "actions/cache") return restoreCache(ctx, workspace, withs, o.saves);
    if (action === "actions/checkout") {
        const full = withs["fetch-depth"] === "0";
        const depth = full ? ["--tags"] : ["--no-tags", "--depth=1"];
        const init: [string, string[]][] = [
            ["git", ["init", "-q", "."]],
            ["git", ["remote", "add", "origin", ctx.origin.startsWith("/") ? `file://${ctx.origin}` : ctx.origin]],
        ];
        // A pull request's merge ref is checked out detached; a branch as a local branch tracking origin's.
        const pull = /^refs\/pull\/(\d+)\/merge$/.exec(ctx.ref);
        const branch = ctx.ref.replace(/^refs\/heads\//, "");
        const steps: [string, string[]][] = pull
            ? [...init, ["git", ["fetch", "-q", ...depth, "origin", `+${ctx.ref}:refs/remotes/pull/${pull[1]}/merge`]], ["git", ["checkout", "-q", "--force", "--detach", `refs/remotes/pull/${pull[1]}/merge`]]]
            : [
                  ...init,
                  ["git", ["fetch", "-q", ...depth, "origin", `+refs/heads/${branch}:refs/remotes/origin/${branch}`]],
                  ["git", ["checkout", "-q", "--force", "-B", branch, `refs/remotes/origin/${branch}`]],
              ];
        let output = "";
        for (const [c, a] of steps) {
            const r = sh(c, a, workspace, env);
            output += r.output;
            if (!r.ok) return { ok: false, output, outputs: {} };
        }
        const head = sh("git", ["rev-parse", "HEAD"], workspace, env).stdout.trim();
        if (head !== ctx.sha) return { ok: false, output: `${output}checkout: ${ctx.ref} is ${head}, not the event's sha ${ctx.sha}`, outputs: {} };
        return { ok: true, output, outputs: {} };
    }
    if (action === "actions/setup-node") {
        const file = withs["node-version-file"];
        const want = file ? fs.readFileSync(path.join(workspace, file), "utf8").trim() : withs["node-version"];
        const have = sh("node", ["--version"], workspace, env).stdout.trim();
        const ok = !want || have.replace(/^v/, "").split(".")[0] === want.replace(/^v/, "").split(".")[0];
        return { ok, output: `node ${have} (wanted ${want})`, outputs: { "node-version": have } };
    }
    if (action === "pulumi/actions") {
        const command = withs.command;
        if (!command) return { ok: true, output: "pulumi CLI: the stand-in on PATH", outputs: {} };
        const stack = withs["stack-name"];
        const dir = path.resolve(workspace, withs["work-dir"] ?? "./");
        let output = "";
        if (withs.refresh === "true") {
            const r = sh("pulumi", ["refresh", "--yes", "--skip-preview", "--stack", stack], dir, env);
            output += r.output;
            if (!r.ok) return { ok: false, output, outputs: {} };
        }
        const flags = [
            ...(command === "up" || command === "update" || command === "destroy" || command === "refresh" ? ["--yes", "--skip-preview"] : []),
            ...(withs.diff === "true" ? ["--diff"] : []),
            ...(withs["expect-no-changes"] === "true" ? ["--expect-no-changes"] : []),
            ...(withs.policyPacks ? withs.policyPacks.split(/[\s,]+/).filter(Boolean).flatMap((p) => ["--policy-pack", p]) : []),
        ];
        const r = sh("pulumi", [command, "--stack", stack, ...flags], dir, env);
        output += r.output;
        if (!r.ok) return { ok: false, output, outputs: {} };
        const outs = sh("pulumi", ["stack", "output", "--json", "--show-secrets", "--stack", stack], dir, env);
        const outputs: Record<string, string> = {};
        if (outs.ok) for (const [k, v] of Object.entries(JSON.parse(outs.stdout) as Record<string, unknown>)) outputs[k] = typeof v === "string" ? v : JSON.stringify(v);
        return { ok: true, output, outputs };
    }
    return { ok: false, output: `${ref}: no stand-in for this action in the e2e runner`, outputs: {} };
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

/** What an expression can read (GitHub's contexts) and whether an earlier step failed. */
interface Scope {
    secrets: Record<string, string>;
    inputs: Record<string, string>;
    matrix: Record<string, string>;
    job: { status: string };
    runner: { os: string; temp: string };
    env: Record<string, string>;
    steps: Record<string, { outputs: Record<string, string>; outcome: string }>;
    github: Record<string, unknown>;
    failed: boolean;
    /** The job's workspace (hashFiles reads it). */
    workspace: string;
}

/** `${{ expr }}` replaced by the expression's value as a string. */
export function interpolate(text: string, scope: Scope): string {
    return text.replace(/\$\{\{\s*([\s\S]*?)\s*\}\}/g, (_, e: string) => {
        const v = evaluate(e, scope);
        return v === undefined || v === null ? "" : typeof v === "boolean" ? String(v) : String(v);
    });
}

function evaluateIf(cond: string, scope: Scope): boolean {
    const statusFn = /\b(success|failure|cancelled|always)\s*\(/.test(cond);
    const v = truthy(evaluate(cond, scope));
    return statusFn ? v : !scope.failed && v;
}

function truthy(v: unknown): boolean {
    return !(v === undefined || v === null || v === false || v === "" || v === 0);
}

/** A small recursive-descent evaluator of the expression subset the workflows use. */
export function evaluate(expr: string, scope: Scope): unknown {
    const toks = expr.match(/'(?:[^']|'')*'|&&|\|\||==|!=|!|\(|\)|,|[A-Za-z_][A-Za-z0-9_.-]*|\d+/g) ?? [];
    let i = 0;
    const peek = () => toks[i];
    const next = () => toks[i++];
    const or = (): unknown => {
        let l = and();
        while (peek() === "||") {
            next();
            const r = and();
            l = truthy(l) ? l : r;
        }
        return l;
    };
    const and = (): unknown => {
        let l = cmp();
        while (peek() === "&&") {
            next();
            const r = cmp();
            l = truthy(l) ? r : l;
        }
        return l;
    };
    const cmp = (): unknown => {
        const l = unary();
        if (peek() === "==" || peek() === "!=") {
            const op = next();
            const r = unary();
            const eq = String(l ?? "").toLowerCase() === String(r ?? "").toLowerCase();
            return op === "==" ? eq : !eq;
        }
        return l;
    };
    const unary = (): unknown => {
        if (peek() === "!") {
            next();
            return !truthy(unary());
        }
        return atom();
    };
    const atom = (): unknown => {
        const t = next();
        if (t === undefined) throw new Error(`expression ended early: ${expr}`);
        if (t === "(") {
            const v = or();
            if (next() !== ")") throw new Error(`missing ) in ${expr}`);
            return v;
        }
        if (t.startsWith("'")) return t.slice(1, -1).replace(/''/g, "'");
        if (/^\d+$/.test(t)) return Number(t);
        if (t === "true" || t === "false") return t === "true";
        if (peek() === "(") {
            next();
            const args: unknown[] = [];
            while (peek() !== ")") {
                if (peek() === undefined) throw new Error(`missing ) in ${expr}`);
                args.push(or());
                if (peek() === ",") next();
            }
            next();
            if (t === "hashFiles") return hashFiles(scope.workspace, args.map(String));
            if (args.length > 0) throw new Error(`${t}() takes no arguments here: ${expr}`);
            if (t === "success") return !scope.failed;
            if (t === "failure") return scope.failed;
            if (t === "cancelled") return false;
            if (t === "always") return true;
            throw new Error(`unknown function ${t}() in ${expr}`);
        }
        let v: any = scope;
        for (const part of t.split(".")) v = v === undefined || v === null ? undefined : v[part];
        return v;
    };
    const v = or();
    if (i !== toks.length) throw new Error(`cannot parse expression: ${expr}`);
    return v;
}

/** GitHub's hashFiles(): sha256 over the sha256 of each matched file (plain paths here, no globs); '' when none matches. */
function hashFiles(workspace: string, patterns: string[]): string {
    const files = patterns.map((p) => path.join(workspace, p)).filter((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (files.length === 0) return "";
    const all = crypto.createHash("sha256");
    for (const f of files) all.update(crypto.createHash("sha256").update(fs.readFileSync(f)).digest());
    return all.digest("hex");
}

/**
 * What runs is what main says: the desired state of a stack is its committed
 * stack file (`Pulumi.<stack>.yaml`) on the repository's main branch, the
 * file every CI deploy reads.
 *
 * - Operator actions that change desired state (`berth rollback`, `berth
 *   maintenance`) are commits: `preflight` refuses a checkout whose stack file
 *   has uncommitted changes or whose branch is not main's tip (after a `git
 *   fetch`), `setStackValues` edits the file keeping its comments and layout
 *   (the `yaml` package's Document API), `commitAndPush` commits only that
 *   file and pushes it to main; then the stack is converged from that commit
 *   (cli/support/source.ts). A rejected push undoes the commit and converges
 *   nothing.
 * - Deploys refuse divergence (`checkDesired`, `berth check-desired <stack>`):
 *   the stack's last deployed state (its outputs `revisionRef`, `revision`,
 *   `maintenance`) must be what main's stack file says now, or said at a commit
 *   between the last successful deploy (the tag `berth/deployed/<stack>` the
 *   workflows move after an up) and now — main's changes not deployed yet.
 *   Anything else was changed outside main (a `--local` action, a `pulumi up`
 *   from a laptop) and the next deploy would silently undo it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { KEYS } from "../../lib/config/keys";

/** The stack file Pulumi reads for `stack` (`org/name` stacks use the name). */
export function stackFileName(stack: string): string {
    return `Pulumi.${stack.split("/").pop()}.yaml`;
}

/** The tag the deploy workflows move to the commit of main they deployed. */
export function deployedTag(stack: string): string {
    return `berth/deployed/${stack.split("/").pop()}`;
}

// ---------------------------------------------------------------------------
// The stack file
// ---------------------------------------------------------------------------

function parseDoc(text: string, what: string): YAML.Document {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`berth: ${what}: ${doc.errors[0].message}`);
    return doc;
}

/**
 * Sets `config` keys (full names, `berth:revision`) to string values, as
 * `pulumi config set` stores them, keeping every comment and the layout of
 * the rest of the file (an existing value keeps its own comment too).
 */
export function setStackValues(text: string, changes: Record<string, string>, what = "the stack file"): string {
    const doc = parseDoc(text, what);
    if (!doc.has("config")) doc.set("config", doc.createNode({}));
    for (const [key, value] of Object.entries(changes)) {
        const node = doc.getIn(["config", key], true);
        if (YAML.isScalar(node)) {
            node.value = value;
            // A plain scalar that reads back as another type (a sha of digits, "true") is quoted on output.
            if (node.type === "QUOTE_DOUBLE" || node.type === "QUOTE_SINGLE") continue;
            node.type = undefined;
        } else doc.setIn(["config", key], value);
    }
    return doc.toString({ lineWidth: 0 });
}

/** The `config` map of a stack file (parsed values). */
export function stackConfigValues(text: string, what = "the stack file"): Record<string, unknown> {
    const js = parseDoc(text, what).toJS() as { config?: Record<string, unknown> } | null;
    return js?.config ?? {};
}

/** What a stack file says about what runs: the revision ref and maintenance. */
export interface DesiredValues {
    revision: string;
    maintenance: boolean;
}

export function desiredValues(text: string, namespace = "berth", what?: string): DesiredValues {
    const c = stackConfigValues(text, what);
    const rev = c[`${namespace}:revision`];
    const m = c[`${namespace}:maintenance`];
    return {
        revision: rev === undefined || rev === null || rev === "" ? (KEYS.revision.schema.parse(undefined) as string) : String(rev),
        maintenance: String(m) === "true",
    };
}

/** A minimal unified diff of two texts (line LCS; context of 2 lines), for the plan. */
export function lineDiff(before: string, after: string, file: string): string[] {
    if (before === after) return [];
    const lines = (t: string) => (t.endsWith("\n") ? t.slice(0, -1) : t).split("\n");
    const a = lines(before);
    const b = lines(after);
    const n = a.length;
    const m = b.length;
    const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    const ops: { t: " " | "-" | "+"; line: string }[] = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && a[i] === b[j]) {
            ops.push({ t: " ", line: a[i++] });
            j++;
        } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push({ t: "-", line: a[i++] });
        else ops.push({ t: "+", line: b[j++] });
    }
    const keep = new Set<number>();
    ops.forEach((o, k) => {
        if (o.t !== " ") for (let c = k - 2; c <= k + 2; c++) keep.add(c);
    });
    const out = [`--- a/${file}`, `+++ b/${file}`];
    let last = -2;
    ops.forEach((o, k) => {
        if (!keep.has(k)) return;
        if (k !== last + 1) out.push("@@");
        out.push(`${o.t}${o.line}`);
        last = k;
    });
    return out;
}

// ---------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------

export interface GitResult {
    code: number;
    stdout: string;
    stderr: string;
}

export function git(dir: string, args: string[]): GitResult {
    const r = spawnSync("git", args, {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 120_000,
    });
    return { code: r.status ?? 1, stdout: (r.stdout ?? "").trim(), stderr: (r.stderr ?? r.error?.message ?? "").trim() };
}

const lastLine = (r: GitResult) => (r.stderr || r.stdout).split("\n").filter(Boolean).pop() ?? `exit ${r.code}`;

/** Where an operator action is committed and pushed. */
export interface Checkout {
    /** The repository's top directory. */
    top: string;
    /** The stack file, relative to `top`. */
    file: string;
    branch: string;
    remote: string;
    /** The upstream branch (main), e.g. `main`. */
    remoteBranch: string;
}

export class DesiredStateError extends Error {}

/** The branch deploys read: the remote's HEAD (set by `git clone`), else `main`. */
function mainBranchOf(top: string, remote: string): string {
    const r = git(top, ["symbolic-ref", "--quiet", "--short", `refs/remotes/${remote}/HEAD`]);
    return r.code === 0 && r.stdout.startsWith(`${remote}/`) ? r.stdout.slice(remote.length + 1) : "main";
}

/**
 * Checks that `file` (absolute) can be changed by a commit pushed to main:
 * in a git checkout, no uncommitted change to it, on a branch that tracks the
 * remote's main branch and is exactly its tip (neither behind nor ahead) after
 * a `git fetch` (`fetch: false` compares with the last fetch, for a dry run).
 * Throws a DesiredStateError naming the divergence and the fix.
 */
export function preflight(file: string, opts: { fetch: boolean }): Checkout {
    const dir = path.dirname(file);
    const top = git(dir, ["rev-parse", "--show-toplevel"]);
    const local = "(or pass --local to change only this checkout's file and the stack: the next CI deploy refuses or undoes it)";
    if (top.code !== 0) throw new DesiredStateError(`berth: ${dir} is not a git checkout; berth records this change as a commit on main, where the deploys read it ${local}`);
    const rel = path.relative(top.stdout, file);
    const dirty = git(top.stdout, ["status", "--porcelain", "--", rel]);
    if (dirty.code !== 0) throw new DesiredStateError(`berth: git status failed: ${lastLine(dirty)}`);
    if (dirty.stdout !== "") {
        throw new DesiredStateError(
            `berth: ${rel} has uncommitted changes (${dirty.stdout.split("\n").join("; ")}); berth commits its change to that file alone: commit and push yours (git commit ${rel} && git push) or discard them (git checkout -- ${rel}), then run this again`,
        );
    }
    const branch = git(top.stdout, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
    if (branch.code !== 0) throw new DesiredStateError(`berth: the checkout is on a detached HEAD; switch to main (git switch main) ${local}`);
    const remote = git(top.stdout, ["config", `branch.${branch.stdout}.remote`]);
    const merge = git(top.stdout, ["config", `branch.${branch.stdout}.merge`]);
    if (remote.code !== 0 || merge.code !== 0 || remote.stdout === "." || !merge.stdout.startsWith("refs/heads/")) {
        throw new DesiredStateError(`berth: branch ${branch.stdout} has no upstream; berth pushes this change to main so the next deploy reads it: git branch -u origin/main ${local}`);
    }
    const remoteBranch = merge.stdout.slice("refs/heads/".length);
    const main = mainBranchOf(top.stdout, remote.stdout);
    if (remoteBranch !== main) {
        throw new DesiredStateError(`berth: branch ${branch.stdout} tracks ${remote.stdout}/${remoteBranch}, but the deploys read ${remote.stdout}/${main}: switch to it (git switch ${main}) and run this again ${local}`);
    }
    if (opts.fetch) {
        const f = git(top.stdout, ["fetch", "--quiet", remote.stdout]);
        if (f.code !== 0) throw new DesiredStateError(`berth: git fetch ${remote.stdout} failed (${lastLine(f)}); berth checks the branch is ${remote.stdout}/${main}'s tip before it commits ${local}`);
    }
    const upstream = `${remote.stdout}/${remoteBranch}`;
    const counts = git(top.stdout, ["rev-list", "--left-right", "--count", `HEAD...refs/remotes/${upstream}`]);
    if (counts.code !== 0) throw new DesiredStateError(`berth: cannot compare ${branch.stdout} with ${upstream} (${lastLine(counts)}); git fetch ${remote.stdout} and run this again`);
    const [ahead, behind] = counts.stdout.split(/\s+/).map(Number);
    const commits = (k: number) => `${k} commit${k === 1 ? "" : "s"}`;
    const asOf = opts.fetch ? "" : ` (as of the last fetch)`;
    if (ahead > 0 && behind > 0) {
        throw new DesiredStateError(`berth: ${branch.stdout} and ${upstream} have diverged${asOf}: ${commits(ahead)} only here, ${commits(behind)} only on ${upstream}; git pull --rebase, push, then run this again`);
    }
    if (behind > 0) throw new DesiredStateError(`berth: ${branch.stdout} is ${commits(behind)} behind ${upstream}${asOf}: someone changed main since your last pull; git pull --rebase, then run this again`);
    if (ahead > 0) {
        throw new DesiredStateError(`berth: ${branch.stdout} has ${commits(ahead)} not on ${upstream}${asOf}: push them (git push) or drop them first, so that berth's commit carries only this change`);
    }
    return { top: top.stdout, file: rel, branch: branch.stdout, remote: remote.stdout, remoteBranch };
}

/** The operator, for the commit message: git's user.name, else the login name. */
export function operatorName(dir: string): string {
    const r = git(dir, ["config", "user.name"]);
    if (r.code === 0 && r.stdout) return r.stdout;
    try {
        return os.userInfo().username;
    } catch {
        return process.env.USER ?? "unknown";
    }
}

/** The commit message of an operator action (subject, then why it skips CI). */
export function actionMessage(stack: string, changes: Record<string, string>, before: Record<string, unknown>, by: string, namespace = "berth"): string {
    const was = (k: string) => {
        const v = before[`${namespace}:${k}`];
        return v === undefined ? "unset" : String(v);
    };
    const keys = Object.keys(changes);
    let subject: string;
    if (keys.length === 1 && keys[0] === `${namespace}:revision`) subject = `berth: rollback ${stack} to ${changes[keys[0]]} (was ${was("revision")}) by ${by}`;
    else if (keys.length === 1 && keys[0] === `${namespace}:maintenance`) subject = `berth: maintenance ${changes[keys[0]] === "true" ? "on" : "off"} for ${stack} (was ${String(before[keys[0]]) === "true" ? "on" : "off"}) by ${by}`;
    else subject = `berth: set ${keys.map((k) => `${k}=${changes[k]}`).join(" ")} on ${stack} by ${by}`;
    return `${subject}\n\nConverged by berth from the operator's checkout right after this push,\nso no CI deploy runs for it. [skip ci]\n`;
}

/** The commands `commitAndPush` runs, for the plan. */
export function commitCommands(c: Pick<Checkout, "file" | "remote" | "remoteBranch">, subject: string): string[] {
    return [`git commit -m ${JSON.stringify(subject)} -- ${c.file}`, `git push ${c.remote} HEAD:${c.remoteBranch}`];
}

/**
 * Writes `text` to the stack file, commits that file alone and pushes the
 * commit to main. A failed commit restores the file; a rejected push undoes
 * the commit (the checkout is as before) and throws: nothing may converge
 * from a change main does not hold. Returns the new commit.
 */
export function commitAndPush(c: Checkout, text: string, message: string): string {
    const abs = path.join(c.top, c.file);
    const before = fs.readFileSync(abs, "utf8");
    fs.writeFileSync(abs, text);
    const commit = git(c.top, ["commit", "--quiet", "-m", message, "--", c.file]);
    if (commit.code !== 0) {
        fs.writeFileSync(abs, before);
        throw new DesiredStateError(`berth: git commit failed (${lastLine(commit)}); nothing changed`);
    }
    const sha = git(c.top, ["rev-parse", "HEAD"]).stdout;
    const push = git(c.top, ["push", "--quiet", c.remote, `HEAD:refs/heads/${c.remoteBranch}`]);
    if (push.code !== 0) {
        git(c.top, ["reset", "--quiet", "--soft", "HEAD~1"]);
        git(c.top, ["restore", "--quiet", "--staged", "--worktree", "--source=HEAD", "--", c.file]);
        throw new DesiredStateError(
            `berth: git push ${c.remote} HEAD:${c.remoteBranch} was rejected (${lastLine(push)}); nothing was converged and the commit was undone (${c.file} is as before): git pull --rebase, then run this again`,
        );
    }
    return sha;
}

// ---------------------------------------------------------------------------
// check-desired: the last deploy against main
// ---------------------------------------------------------------------------

/** The stack outputs of its last deploy (index.ts), undefined when absent. */
export interface Deployed {
    revisionRef?: string;
    revision?: string;
    maintenance?: boolean;
}

/** What main's stack file said at one commit. */
export interface DesiredAt extends DesiredValues {
    commit: string;
}

const SHA = /^[0-9a-f]{40}$/;

/**
 * The differences between what the stack runs and what main says: empty when
 * the deployed revision and maintenance are what some candidate (main's stack
 * file now, or at a commit since the last deploy) says. `candidates[0]` is
 * main's tip.
 */
export function compareDesired(stack: string, file: string, deployed: Deployed, candidates: DesiredAt[]): string[] {
    const now = candidates[0];
    const out: string[] = [];
    const short = (c: string) => c.slice(0, 12);
    const range = candidates.length > 1 ? ` (or at any of ${candidates.length - 1} earlier commit${candidates.length === 2 ? "" : "s"} since the last deploy)` : "";
    if (deployed.revisionRef !== undefined) {
        const matches = (c: DesiredAt) => c.revision === deployed.revisionRef || (SHA.test(c.revision) && c.revision === deployed.revision);
        if (!candidates.some(matches)) {
            out.push(
                `revision: stack ${stack} runs ${deployed.revisionRef}${deployed.revision && deployed.revision !== deployed.revisionRef ? ` (${deployed.revision})` : ""}, but main's ${file} says ${now.revision} at ${short(now.commit)}${range}`,
            );
        }
    }
    if (deployed.maintenance !== undefined && !candidates.some((c) => c.maintenance === deployed.maintenance)) {
        out.push(`maintenance: stack ${stack} runs with maintenance ${deployed.maintenance ? "on" : "off"}, but main's ${file} says ${now.maintenance ? "on" : "off"} at ${short(now.commit)}${range}`);
    }
    return out;
}

/** The stack file's desired values at each commit from `since` (exclusive) to `head`, newest first. */
function desiredHistory(top: string, rel: string, head: string, since: string | undefined, namespace: string): DesiredAt[] {
    const at = (commit: string): DesiredAt | undefined => {
        const r = git(top, ["show", `${commit}:${rel}`]);
        return r.code === 0 ? { commit, ...desiredValues(`${r.stdout}\n`, namespace, `${rel} at ${commit.slice(0, 12)}`) } : undefined;
    };
    const headValues = at(head);
    if (!headValues) throw new DesiredStateError(`berth: main (${head.slice(0, 12)}) has no ${rel}`);
    const out = [headValues];
    if (since) {
        const list = git(top, ["rev-list", `${since}..${head}`, "--", rel]);
        for (const c of list.code === 0 ? list.stdout.split("\n").filter(Boolean) : []) {
            const v = at(`${c}`);
            if (v && c !== head) out.push(v);
        }
        const base = at(since);
        if (base) out.push(base);
    }
    return out;
}

export interface CheckResult {
    ok: boolean;
    text: string[];
}

/**
 * `berth check-desired <stack>`: the deployed state (`deployed`, the stack's
 * outputs) against main's stack file in the checkout at `root` (its HEAD is
 * the commit being deployed). The lower bound of "not deployed yet" is the
 * tag `berth/deployed/<stack>` when it exists, or `since`.
 */
export function checkDesired(root: string, stack: string, deployed: Deployed, opts: { since?: string; namespace?: string } = {}): CheckResult {
    const namespace = opts.namespace ?? "berth";
    const file = stackFileName(stack);
    const top = git(root, ["rev-parse", "--show-toplevel"]);
    if (top.code !== 0) throw new DesiredStateError(`berth: ${root} is not a git checkout (${lastLine(top)})`);
    const rel = path.relative(top.stdout, path.join(root, file));
    const head = git(top.stdout, ["rev-parse", "HEAD"]).stdout;
    const tag = deployedTag(stack);
    const tagged = git(top.stdout, ["rev-parse", "--quiet", "--verify", `refs/tags/${tag}^{commit}`]);
    const sinceArg = opts.since && !/^0+$/.test(opts.since) ? git(top.stdout, ["rev-parse", "--quiet", "--verify", `${opts.since}^{commit}`]) : undefined;
    const since = tagged.code === 0 ? tagged.stdout : sinceArg?.code === 0 ? sinceArg.stdout : undefined;
    const candidates = desiredHistory(top.stdout, rel, head, since, namespace);
    if (deployed.revisionRef === undefined && deployed.maintenance === undefined) {
        return { ok: true, text: [`stack ${stack}: nothing deployed yet (no outputs revisionRef/maintenance); main's ${file} says revision ${candidates[0].revision}, maintenance ${candidates[0].maintenance ? "on" : "off"}`] };
    }
    const diffs = compareDesired(stack, file, deployed, candidates);
    if (diffs.length === 0) {
        const pending = deployed.revisionRef !== candidates[0].revision || (deployed.maintenance !== undefined && deployed.maintenance !== candidates[0].maintenance);
        return {
            ok: true,
            text: [`stack ${stack} runs what main says${pending ? ` (main changed it since the last deploy: this deploy applies revision ${candidates[0].revision}, maintenance ${candidates[0].maintenance ? "on" : "off"})` : ""}`],
        };
    }
    return {
        ok: false,
        text: [
            ...diffs.map((d) => `divergence: ${d}`),
            `stack ${stack} runs something main does not say: it was changed outside main (berth rollback/maintenance --local, or pulumi config set + pulumi up from a checkout), and this deploy would silently undo it.`,
            `Record it in main (commit the value to ${file} and push; berth rollback/maintenance do this) or converge the stack back to main (pulumi up -s ${stack} from main), then run this deploy again.`,
        ],
    };
}

/** The stack's outputs as `pulumi stack output --json` prints them -> Deployed. */
export function deployedFromOutputs(outputs: Record<string, unknown>): Deployed {
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    const m = outputs.maintenance;
    return {
        revisionRef: str(outputs.revisionRef),
        revision: str(outputs.revision),
        maintenance: typeof m === "boolean" ? m : m === "true" ? true : m === "false" ? false : undefined,
    };
}

// ---------------------------------------------------------------------------
// The CLI subcommands the workflows run (cli/main.ts)
// ---------------------------------------------------------------------------

export class DesiredUsageError extends Error {}

/** `pulumi stack output --json --stack <stack>` -> the outputs (`{}` before the first deploy). */
export function stackOutputs(stack: string, root: string, pulumi = "pulumi"): Record<string, unknown> {
    const r = spawnSync(pulumi, ["stack", "output", "--json", "--stack", stack], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 16 << 20 });
    if (r.status !== 0) throw new Error(`berth: pulumi stack output --stack ${stack} failed: ${(r.stderr ?? r.error?.message ?? "").trim()}`);
    const out = (r.stdout ?? "").trim();
    return out === "" ? {} : (JSON.parse(out) as Record<string, unknown>);
}

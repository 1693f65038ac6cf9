/**
 * `berth review up <n> [--sha S] [--from staging]` and `berth review down <n>`:
 * a review stack `pr-<n>` per pull request of the app's repository (README
 * "Review apps"; the workflow `.github/workflows/review.yml` runs them).
 *
 * up: writes `Pulumi.pr-<n>.yaml` from the source stack's file
 * (lib/review/stackFile.ts; refused when a host of it is a production host
 * or when `berth:review.max` review stacks are already open, naming them),
 * `pulumi stack init` when the stack is new (the secrets provider's state is
 * the source's, copied into the file), writes the SSH key file (`berth
 * prepare`), then `pulumi up` with the policy pack at that sha. The file is
 * made the same way on every run, so a push that changes nothing runs
 * nothing on the hosts.
 * down: `pulumi destroy` (everything of the stack: units, site, certificate,
 * containers, volumes, directories, its database and restic cache), then
 * `pulumi stack rm` and the file. Nothing to do when the stack is gone.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { capRefusal, openReviewStacks, ReviewError, reviewStackFile, reviewStackName, sourcePorts, stackHosts } from "../../lib/review/stackFile";
import { UsageError } from "../support/command";
import { projectName, ROOT } from "../support/source";

export class ReviewUsageError extends Error {}

export interface ReviewArgs {
    action: "up" | "down";
    pr: number;
    sha?: string;
    source: string;
}

export function parseReviewArgs(argv: string[]): ReviewArgs {
    const [action, n, ...rest] = argv;
    if (action !== "up" && action !== "down") throw new ReviewUsageError("review up <pull request number> [--sha <commit>] [--from <stack>] | review down <number>");
    if (!/^[1-9][0-9]{0,6}$/.test(n ?? "")) throw new ReviewUsageError(`review ${action}: ${JSON.stringify(n ?? "")} is not a pull request number`);
    const out: ReviewArgs = { action, pr: Number(n), source: "staging" };
    for (let i = 0; i < rest.length; i++) {
        const v = rest[i + 1];
        if (rest[i] === "--sha" && action === "up" && v !== undefined && /^[0-9a-f]{40}$/.test(v)) out.sha = v;
        else if (rest[i] === "--from" && v !== undefined && /^[a-z0-9][a-z0-9-]*$/.test(v)) out.source = v;
        else throw new ReviewUsageError(`review ${action}: unexpected ${JSON.stringify(rest[i])}${rest[i] === "--sha" ? " (a full 40-hex commit sha)" : ""}`);
        i++;
    }
    return out;
}

interface Pulumi {
    (args: string[], opts?: { env?: Record<string, string>; quiet?: boolean }): { code: number; stdout: string; stderr: string };
}

function pulumiIn(root: string, log: (l: string) => void): Pulumi {
    return (args, opts = {}) => {
        if (!opts.quiet) log(`$ pulumi ${args.join(" ")}`);
        const r = spawnSync("pulumi", args, { cwd: root, encoding: "utf8", env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
        const res = { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? r.error?.message ?? "" };
        if (!opts.quiet) for (const l of `${res.stdout}${res.stderr}`.split("\n").filter(Boolean)) log(`  ${l}`);
        return res;
    };
}

/** The backend's stack names (`pulumi stack ls --json`). */
function stackNames(pulumi: Pulumi): string[] {
    const r = pulumi(["stack", "ls", "--json"], { quiet: true });
    if (r.code !== 0) throw new ReviewError(`berth: pulumi stack ls failed: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout || "[]") as { name: string }[]).map((s) => s.name);
}

/** Writes Pulumi.pr-<n>.yaml; the stack's name, host name and ports. */
export function writeReviewFile(a: ReviewArgs, root: string) {
    const project = projectName(root);
    const read = (stack: string) => {
        const f = path.join(root, `Pulumi.${stack}.yaml`);
        return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined;
    };
    const sourceText = read(a.source);
    if (sourceText === undefined) throw new ReviewError(`berth: no Pulumi.${a.source}.yaml in ${root}: review stacks are copied from it`);
    const prodText = read("production");
    const productionHosts = prodText ? stackHosts(prodText, project) : [];
    const shared = stackHosts(sourceText, project).filter((h) => productionHosts.includes(h));
    if (shared.length > 0) throw new ReviewError(`berth: ${a.source} runs on ${shared.join(", ")}, a production host: review stacks never run there (give ${a.source} hosts of its own)`);
    const r = reviewStackFile({ sourceText, source: a.source, project, pr: a.pr, sha: a.sha, productionHosts });
    const staging = sourcePorts({ sourceText, source: a.source, project });
    const clash = Object.entries(r.ports).filter(([, p]) => Object.values(staging).includes(p));
    if (clash.length > 0) throw new ReviewError(`berth: ${r.stack}'s ports ${clash.map(([n, p]) => `${n} ${p}`).join(", ")} are ${a.source}'s: set berth:portBase of ${a.source} apart from 16000-19999`);
    fs.writeFileSync(path.join(root, `Pulumi.${r.stack}.yaml`), r.text);
    const max = Number((YAML.parse(sourceText)?.config?.[`${project}:review`] as { max?: number } | undefined)?.max ?? 3);
    return { ...r, max };
}

export async function reviewMain(argv: string[], root = ROOT, log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
    const a = parseReviewArgs(argv);
    const pulumi = pulumiIn(root, log);
    const stack = reviewStackName(a.pr);
    const open = openReviewStacks(stackNames(pulumi));
    if (a.action === "down") return reviewDown(a, root, pulumi, open.includes(a.pr), log);
    const file = writeReviewFile(a, root);
    const refusal = capRefusal(a.pr, open, file.max);
    if (refusal) {
        fs.rmSync(path.join(root, `Pulumi.${stack}.yaml`), { force: true });
        throw new ReviewError(refusal);
    }
    if (!open.includes(a.pr)) {
        const provider = (YAML.parse(file.text) as { secretsprovider?: string }).secretsprovider ?? "passphrase";
        if (pulumi(["stack", "init", stack, "--secrets-provider", provider]).code !== 0) throw new ReviewError(`berth: pulumi stack init ${stack} failed`);
    }
    const { prepare } = require("./prepare") as typeof import("./prepare");
    const sha = prepare(stack, root);
    const up = pulumi(["up", "--yes", "--skip-preview", "--diff", "--stack", stack, "--policy-pack", path.join(root, "policy")], { env: { BERTH_REVISION_SHA: sha } });
    if (up.code !== 0) throw new ReviewError(`berth: pulumi up of ${stack} failed (above); the stack stays for the next push or berth review down ${a.pr}`);
    process.stdout.write(`url=https://${file.domain}\nstack=${stack}\nsha=${sha}\n`);
    return 0;
}

async function reviewDown(a: ReviewArgs, root: string, pulumi: Pulumi, exists: boolean, log: (l: string) => void): Promise<number> {
    const stack = reviewStackName(a.pr);
    const file = path.join(root, `Pulumi.${stack}.yaml`);
    if (!exists) {
        fs.rmSync(file, { force: true });
        log(`berth: no review stack ${stack}; nothing to destroy`);
        return 0;
    }
    writeReviewFile(a, root);
    const { prepare } = require("./prepare") as typeof import("./prepare");
    prepare(stack, root);
    if (pulumi(["destroy", "--yes", "--skip-preview", "--stack", stack]).code !== 0) throw new ReviewError(`berth: pulumi destroy of ${stack} failed (above); run berth review down ${a.pr} again`);
    if (pulumi(["stack", "rm", "--yes", stack]).code !== 0) throw new ReviewError(`berth: pulumi stack rm ${stack} failed (above)`);
    fs.rmSync(file, { force: true });
    log(`berth: review stack ${stack} destroyed and removed`);
    return 0;
}

/** `berth review up|down ...` (cli/commands/index.ts): a ReviewUsageError is a usage error (exit 64 with the usage). */
export function main(argv: string[]): Promise<number> {
    return reviewMain(argv).catch((e) => Promise.reject(e instanceof ReviewUsageError ? new UsageError(e.message) : e));
}

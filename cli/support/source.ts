/**
 * Where `berth <op>` gets a stack from: its configuration exactly as the
 * engine hands it to the program, the secrets the stack's state holds (the
 * generated passwords), and how to converge it after a config change.
 *
 * Three sources, chosen in this order:
 *
 * 1. `--config <file>`: a JSON file holding either the test applier's
 *    StackConfig (`{stack, values: {"berth:key": "string"}, secretKeys}`, the
 *    format test/e2e/apply-cli.ts reads) or the output of `pulumi config
 *    --json --show-secrets`. With `--state <file>` (the applier's state) the
 *    generated secrets are read from it and a converge runs the test applier
 *    (test/e2e/apply-cli.ts up, DNS through `--dns-api`); the new value is
 *    written back into the file, which stays the stack's configuration.
 * 2. A working Pulumi CLI (`pulumi version` succeeds, see `pulumiWorks`):
 *    `pulumi config --json --show-secrets`, generated secrets from `pulumi
 *    stack export --show-secrets`. A converge records the change where the
 *    next deploy reads it (cli/support/desired.ts, "what runs is what main
 *    says"): the checkout must be main's tip with a clean stack file, the
 *    value is written into `Pulumi.<stack>.yaml` (comments kept), committed
 *    and pushed to main, then `pulumi up` (Pulumi's own preview and
 *    confirmation unless --yes). `--local` skips git: only this checkout's
 *    file and the stack change (the next CI deploy refuses or undoes it).
 * 3. The local dev stack of `npm run dev:up` without the Pulumi CLI (`-s dev`):
 *    the configuration test/e2e/dev-apply.ts applied, rebuilt from the
 *    running world with the host scripts' read-only `info` commands, and the
 *    applier state `.berth/applier-state.json`.
 *
 * Nothing here prints a secret; the files written for the applier are 0600
 * in a private temp directory and removed afterwards.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BerthConfig, configErrorMessage, parseConfig } from "../../lib/config";
import { dataHostMoves } from "../../lib/dataHostMove";
import type { StateResource } from "../../lib/sshIdentity";
import { urnName } from "../../lib/urn";
import { actionMessage, commitAndPush, commitCommands, DesiredStateError, lineDiff, operatorName, preflight, setStackValues, stackConfigValues, stackFileName } from "./desired";

export const ROOT = path.resolve(__dirname, "..", "..");

/** `pulumi config --json` entry. */
interface ConfigJsonValue {
    value?: string;
    objectValue?: unknown;
    secret?: boolean;
}

/** `pulumi config --json --show-secrets` output -> the raw berth:* strings and secret keys. */
export function fromConfigJson(json: Record<string, ConfigJsonValue>): { values: Record<string, string>; secretKeys: Set<string> } {
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [key, v] of Object.entries(json)) {
        if (!key.startsWith("berth:")) continue;
        values[key] = typeof v.value === "string" ? v.value : JSON.stringify(v.objectValue ?? "");
        if (v.secret) secretKeys.add(key);
    }
    return { values, secretKeys };
}

export function projectName(root = ROOT): string {
    const m = /^name:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
    if (!m) throw new Error("Pulumi.yaml has no name");
    return m[1];
}

/**
 * True when a Pulumi CLI on PATH really works: `pulumi version` exits 0 and
 * prints a version. `command -v pulumi` is not enough: the `pulumi` npm
 * package installs a launcher that downloads the CLI on first use, which
 * fails on a machine without access to get.pulumi.com.
 */
export function pulumiWorks(env: NodeJS.ProcessEnv = process.env): boolean {
    const r = spawnSync("pulumi", ["version"], { encoding: "utf8", env, timeout: 120_000, stdio: ["ignore", "pipe", "pipe"] });
    return r.status === 0 && /^v?\d+\.\d+\.\d+/m.test(r.stdout ?? "");
}

/** How to apply a configuration change. */
export interface Converger {
    /** The commands a person would run, for the explanation. */
    describe(changes: Record<string, string>): string[];
    /**
     * Applies the change (sets the values and runs the converge). `serving`:
     * the revision every switch of the stack ran for in this converge and
     * health-checked (so it serves); undefined when the converge cannot tell.
     */
    apply(changes: Record<string, string>, opts: { yes: boolean }): Promise<{ ok: boolean; error?: string; serving?: string }>;
    /** Starts what the converge needs (nothing is applied) while the caller still reads the host; `apply` then uses it. */
    prepare?(): void;
    /** Throws when `apply` would refuse before changing anything (the desired-state checks), so a caller may act on the host first. */
    ready?(): void;
    /** The whole plan as printed lines (a diff, the commands, a refusal), when more than commands. */
    plan?(changes: Record<string, string>): string[];
}

/** What an operation prints of a converge before it runs (and all a dry run prints of it). */
export function planLines(converger: Converger | undefined, changes: Record<string, string>): string[] {
    if (!converger) return [];
    return converger.plan?.(changes) ?? converger.describe(changes).map((c) => `  $ ${c}`);
}

export interface StackSource {
    readonly kind: "pulumi" | "file" | "dev";
    readonly stack: string;
    readonly project: string;
    /** The raw `berth:*` values (Pulumi strings) and which are secret. */
    readonly values: Readonly<Record<string, string>>;
    readonly secretKeys: ReadonlySet<string>;
    readonly config: BerthConfig;
    /** RandomPassword results by resource name, or undefined when no state is available. */
    randoms(): Record<string, string> | undefined;
    /** Undefined when the source cannot converge (a --config file without --state). */
    readonly converger?: Converger;
}

export interface SourceOptions {
    stack?: string;
    configFile?: string;
    stateFile?: string;
    dnsApi?: string;
    /** rollback/maintenance: change this checkout's stack file and the stack only (no commit, no push). */
    local?: boolean;
}

function parsed(stack: string, values: Record<string, string>, secretKeys: Set<string>, project: string): BerthConfig {
    const r = parseConfig(values, { project, stack, secretKeys });
    if (!r.ok) throw new Error(configErrorMessage(stack, r.errors));
    return r.config;
}

/** Picks the source for the options (see the header). */
export function openSource(opts: SourceOptions): StackSource {
    const project = projectName();
    if (opts.configFile) return fileSource(opts.configFile, opts, project);
    if (!opts.stack) throw new Error("berth: name the stack with -s <stack> (or pass --config <file>)");
    if (pulumiWorks()) return pulumiSource(opts.stack, project, opts);
    if (opts.stack === "dev") return devSource(project, opts);
    throw new Error(`berth: no working Pulumi CLI (\`pulumi version\` failed) to read stack ${JSON.stringify(opts.stack)}; install it or pass --config <file> (pulumi config --json --show-secrets output)`);
}

// ---------------------------------------------------------------------------
// --config <file>
// ---------------------------------------------------------------------------

interface StackConfigFile {
    stack: string;
    values: Record<string, string>;
    secretKeys: string[];
    secrets?: string[];
}

export function readConfigFile(file: string, stackHint?: string): { stack: string; values: Record<string, string>; secretKeys: Set<string>; write(values: Record<string, string>): void } {
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    if (raw && typeof raw.values === "object" && raw.values !== null) {
        const sc = raw as unknown as StackConfigFile;
        const stack = stackHint ?? sc.stack;
        return {
            stack,
            values: { ...sc.values },
            secretKeys: new Set(sc.secretKeys ?? []),
            write(values) {
                fs.writeFileSync(file, JSON.stringify({ ...sc, values }), { mode: 0o600 });
            },
        };
    }
    if (!stackHint) throw new Error(`berth: ${file} is \`pulumi config --json\` output; name its stack with -s <stack>`);
    const { values, secretKeys } = fromConfigJson(raw as Record<string, ConfigJsonValue>);
    return {
        stack: stackHint,
        values,
        secretKeys,
        write(next) {
            const out = { ...(raw as Record<string, ConfigJsonValue>) };
            for (const [k, v] of Object.entries(next)) out[k] = { ...(out[k] ?? {}), value: v, secret: secretKeys.has(k) };
            fs.writeFileSync(file, JSON.stringify(out, null, 2), { mode: 0o600 });
        },
    };
}

function fileSource(file: string, opts: SourceOptions, project: string): StackSource {
    const f = readConfigFile(file, opts.stack);
    const config = parsed(f.stack, f.values, f.secretKeys, project);
    let values = f.values;
    return {
        kind: "file",
        stack: f.stack,
        project,
        values,
        secretKeys: f.secretKeys,
        config,
        randoms: () => (opts.stateFile ? applierRandoms(opts.stateFile) : undefined),
        converger: opts.stateFile
            ? applierConverger(f.stack, config, () => values, f.secretKeys, opts.stateFile, opts.dnsApi, (next) => {
                  values = next;
                  f.write(next);
              })
            : undefined,
    };
}

// ---------------------------------------------------------------------------
// The test applier (--state, and the dev stack without the Pulumi CLI)
//
// Its configuration is a JSON file or in memory, not a stack file in a git
// checkout: it is the e2e's in-memory stand-in for the engine, so a converge
// here keeps setting the value and running the applier, with no commit.
// ---------------------------------------------------------------------------

/** RandomPassword results from the applier's (encrypted) state file. */
export function applierRandoms(stateFile: string): Record<string, string> {
    // The applier is test infrastructure; load it only for this source.
    const { readState } = require("../../test/e2e/engine") as typeof import("../../test/e2e/engine");
    const out: Record<string, string> = {};
    for (const r of readState(stateFile).resources) {
        if (r.type !== "random:index/randomPassword:RandomPassword" || r.pendingDelete) continue;
        const result = unwrapSecret(r.outputs)?.result;
        if (typeof result === "string") out[r.name] = result;
    }
    return out;
}

/**
 * The resources of a stack's state, without secrets (what `prepare` reads
 * the Docker providers' key files from): the test applier's state file with
 * `stateFile`, otherwise `pulumi stack export`. A stack without state yet
 * (or without a working CLI) has none.
 */
export function stateResources(stack: string, root = ROOT, stateFile?: string, pulumi = "pulumi"): StateResource[] {
    if (stateFile) {
        const { readState } = require("../../test/e2e/engine") as typeof import("../../test/e2e/engine");
        return readState(stateFile).resources.map((r) => ({ urn: r.urn, type: r.type, delete: r.pendingDelete, inputs: unwrapSecret(r.inputs) }));
    }
    const r = spawnSync(pulumi, ["stack", "export", "--stack", stack], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
    if (r.status !== 0) return [];
    const resources = (JSON.parse(r.stdout)?.deployment?.resources ?? []) as StateResource[];
    return resources.map((x) => ({ urn: String(x.urn), type: String(x.type), delete: x.delete === true, inputs: unwrapSecret(x.inputs) }));
}

/**
 * `berth prepare`'s refusal of a data host moved under the same names
 * (lib/dataHostMove.ts), for the day-2 converges too: a host edited in the
 * stack file and then `berth maintenance on` would otherwise run the bare move
 * that `prepare` refuses in CI. Read once (the state is exported once):
 * `message` is the refusal, undefined when nothing moved (or without a
 * configuration to check); `refuse` throws it.
 */
export function movedDataHost(cfg: BerthConfig | undefined, resources: () => readonly StateResource[]): { message(): string | undefined; refuse(): void } {
    let refused: { message?: string } | undefined;
    const message = () => {
        if (!cfg) return undefined;
        if (!refused) {
            const moves = dataHostMoves(cfg, resources());
            refused = { message: moves.length ? `berth: stack ${cfg.stack}:\n${moves.join("\n\n")}` : undefined };
        }
        return refused.message;
    };
    return {
        message,
        /** Throws the refusal (a converger's `ready`: nothing has been done yet). */
        refuse() {
            const m = message();
            if (m) throw new DesiredStateError(m);
        },
    };
}

/** The key of Pulumi's secret marker in state (`{<sig>: <secret sig>, value}`): the SDK's own constant. */
let secretSig: string | undefined;
/** Loaded when a state is read (the SDK's runtime is not what every operation needs: `rollback` starts faster without it). */
function SECRET_SIG(): string {
    secretSig ??= (require("@pulumi/pulumi/runtime/rpc") as typeof import("@pulumi/pulumi/runtime/rpc")).specialSigKey;
    return secretSig;
}

/** Removes Pulumi's secret markers (`{<sig>: ..., value}`) from a value. */
export function unwrapSecret(v: any): any {
    if (v && typeof v === "object" && v[SECRET_SIG()] !== undefined) return unwrapSecret(v.value);
    if (Array.isArray(v)) return v.map(unwrapSecret);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecret(x)]));
    return v;
}

function applierConverger(
    stack: string,
    config: BerthConfig,
    current: () => Record<string, string>,
    secretKeys: ReadonlySet<string>,
    stateFile: string,
    dnsApi: string | undefined,
    persist?: (values: Record<string, string>) => void,
): Converger {
    let dir: string | undefined;
    let child: ReturnType<typeof spawn> | undefined;
    // The stored state, not decrypted: the providers' host is plain, and the engine (the SDK) stays unloaded.
    const moved = movedDataHost(config, () => {
        const { readStoredState } = require("../../test/e2e/storedState") as typeof import("../../test/e2e/storedState");
        return readStoredState(stateFile).resources.map((r) => ({ urn: r.urn, type: r.type, delete: r.pendingDelete, inputs: r.inputs }));
    });
    // The applier in its own process, reading its configuration from stdin (`-`) once loaded.
    const start = () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ops-"));
        const args = ["--import", "tsx", path.join(ROOT, "test", "e2e", "apply-cli.ts"), "up", stateFile, "-", path.join(dir, "report.json"), ...(dnsApi ? [dnsApi] : [])];
        child = spawn(process.execPath, args, { stdio: ["pipe", "inherit", "inherit"], env: { ...process.env, BERTH_REAL_HOME: "1" } });
        child.stdin!.on("error", () => undefined); // an applier that died early: its exit code says so
        return child;
    };
    return {
        describe: (changes) => [
            `test applier: up of stack ${stack} with ${Object.entries(changes).map(([k, v]) => `${k}=${v}`).join(" ")} (state ${stateFile})`,
        ],
        prepare() {
            // Loads while the caller reads the host; an empty stdin (the caller exits without applying) applies nothing.
            const p = start();
            p.unref();
            (p.stdin as unknown as { unref(): void }).unref();
        },
        ready: () => moved.refuse(),
        async apply(changes) {
            const refused = moved.message();
            if (refused) {
                child?.stdin!.end(); // the loaded applier applies nothing
                return { ok: false, error: refused };
            }
            const values = { ...current(), ...Object.fromEntries(Object.entries(changes).map(([k, v]) => [`berth:${k}`, v])) };
            const p = child ?? start();
            child = undefined;
            try {
                p.ref();
                (p.stdin as unknown as { ref(): void }).ref();
                const code = await new Promise<number>((resolve, reject) => {
                    p.on("error", reject);
                    p.on("close", (c) => resolve(c ?? 1));
                    p.stdin!.end(JSON.stringify({ stack, values, secretKeys: [...secretKeys], secrets: [] }));
                });
                if (code !== 0) return { ok: false, error: `the applier crashed (exit ${code})` };
                const report = JSON.parse(fs.readFileSync(path.join(dir!, "report.json"), "utf8")) as ApplierReport;
                if (report.ok) persist?.(values);
                return { ok: report.ok, error: report.error, serving: switchedTo(report) };
            } finally {
                fs.rmSync(dir!, { recursive: true, force: true });
            }
        },
    };
}

/** What the converge reads of the applier's report. */
interface ApplierReport {
    ok: boolean;
    error?: string;
    steps?: Record<string, { op: string }>;
    outputs?: Record<string, unknown>;
}

/**
 * The revision the up put in service: it succeeded, and every switch command
 * of the stack ran in it (none `same`: a switch that did not run proves
 * nothing about what the host serves), so each checked the release's health
 * and moved traffic to it. Undefined otherwise (the caller reads the host).
 */
export function switchedTo(report: ApplierReport): string | undefined {
    const switches = Object.entries(report.steps ?? {}).filter(([urn]) => /\$command:remote:Command::[^:]+-switch$/.test(urn));
    const revision = report.outputs?.revision;
    return report.ok && switches.length > 0 && switches.every(([, s]) => s.op !== "same") && typeof revision === "string" ? revision : undefined;
}

// ---------------------------------------------------------------------------
// Pulumi CLI
// ---------------------------------------------------------------------------

function pulumiJson(args: string[]): any {
    const r = spawnSync("pulumi", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`berth: pulumi ${args.slice(0, 2).join(" ")} failed: ${(r.stderr ?? "").trim()}`);
    return JSON.parse(r.stdout);
}

function pulumiSource(stack: string, project: string, opts: SourceOptions): StackSource {
    const { values, secretKeys } = fromConfigJson(pulumiJson(["config", "--json", "--show-secrets", "--stack", stack]));
    const config = parsed(stack, values, secretKeys, project);
    return {
        kind: "pulumi",
        stack,
        project,
        values,
        secretKeys,
        config,
        randoms() {
            const exported = pulumiJson(["stack", "export", "--show-secrets", "--stack", stack]);
            const out: Record<string, string> = {};
            for (const r of exported?.deployment?.resources ?? []) {
                if (r.type !== "random:index/randomPassword:RandomPassword" || r.delete) continue;
                const result = unwrapSecret(r.outputs)?.result;
                if (typeof result === "string") out[urnName(String(r.urn))] = result;
            }
            return out;
        },
        converger: pulumiConverger(stack, project, values, opts, ROOT, "pulumi", config),
    };
}

/**
 * The converge of a Pulumi stack: the change is written into
 * `Pulumi.<stack>.yaml` (comments kept), committed and pushed to main, then
 * `pulumi up` runs from that commit (cli/support/desired.ts). A change that only
 * touches maintenance pins the revision the stack serves (BERTH_REVISION_SHA =
 * the stack output `revision`) when berth:revision is a branch, so it releases
 * nothing even if the branch moved.
 */
export function pulumiConverger(
    stack: string,
    project: string,
    values: Readonly<Record<string, string>>,
    opts: SourceOptions,
    root = ROOT,
    pulumi = "pulumi",
    config?: BerthConfig,
): Converger {
    const s = stackFile(stack, project, values, root, pulumi);
    const moved = movedDataHost(config, () => stateResources(stack, root, undefined, pulumi));
    return {
        describe: (changes) => describeStackChange(s, opts, changes),
        plan: (changes) => planStackChange(s, opts, changes),
        ready: () => {
            moved.refuse();
            if (!opts.local) preflight(s.file, { fetch: true });
        },
        apply: (changes, o) => {
            const refused = moved.message();
            return refused ? Promise.resolve({ ok: false, error: refused }) : applyStackChange(s, opts, changes, o);
        },
    };
}

/** What a Pulumi stack's converge works on: its stack file, the edit of it, the `pulumi up` line, the revision pin. */
interface StackFile {
    readonly stack: string;
    readonly root: string;
    readonly pulumi: string;
    /** The stack file's path, and its name. */
    readonly file: string;
    readonly name: string;
    /** The file's text, the text with the changes, and the commit message (DesiredStateError without the file). */
    edit(changes: Record<string, string>): { text: string; next: string; message: string };
    up(yes: boolean): string;
    /** The sha to pin BERTH_REVISION_SHA to (see pulumiConverger), or undefined. */
    pin(changes: Record<string, string>): string | undefined;
}

function stackFile(stack: string, project: string, values: Readonly<Record<string, string>>, root: string, pulumi: string): StackFile {
    const file = path.join(root, stackFileName(stack));
    const name = stackFileName(stack);
    const full = (changes: Record<string, string>) => Object.fromEntries(Object.entries(changes).map(([k, v]) => [`${project}:${k}`, v]));
    return {
        stack,
        root,
        pulumi,
        file,
        name,
        edit(changes) {
            if (!fs.existsSync(file)) throw new DesiredStateError(`berth: no ${name} in ${root}: berth records ${stack}'s desired state in that file (pulumi stack init ${stack} writes it)`);
            const text = fs.readFileSync(file, "utf8");
            return { text, next: setStackValues(text, full(changes), name), message: actionMessage(stack, full(changes), stackConfigValues(text, name), operatorName(root), project) };
        },
        up: (yes) => `pulumi up --stack ${stack}${yes ? " --yes" : ""}`,
        pin(changes) {
            const ref = values[`${project}:revision`] ?? "";
            if ("revision" in changes || /^[0-9a-f]{40}$/.test(ref)) return undefined;
            const r = spawnSync(pulumi, ["stack", "output", "revision", "--stack", stack], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
            const sha = (r.stdout ?? "").trim();
            return r.status === 0 && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
        },
    };
}

function describeStackChange(s: StackFile, opts: SourceOptions, changes: Record<string, string>): string[] {
    let message = "";
    try {
        message = s.edit(changes).message;
    } catch (e) {
        if (!(e instanceof DesiredStateError)) throw e;
    }
    if (opts.local) return [`(edit ${s.name}: ${Object.entries(changes).map(([k, v]) => `${k}=${v}`).join(" ")}; --local: no commit)`, s.up(false)];
    return ["git fetch (the checkout must be main's tip)", ...commitCommands({ file: s.name, remote: "origin", remoteBranch: "main" }, message.split("\n")[0]), s.up(false)];
}

function planStackChange(s: StackFile, opts: SourceOptions, changes: Record<string, string>): string[] {
    let e0: { text: string; next: string; message: string };
    try {
        e0 = s.edit(changes);
    } catch (e) {
        if (!(e instanceof DesiredStateError)) throw e;
        return [`  refused: ${e.message}`];
    }
    const { text, next, message } = e0;
    const diff = lineDiff(text, next, s.name).map((l) => `  ${l}`);
    const unchanged = next === text ? [`  (${s.name} already says this)`] : [];
    if (opts.local) {
        return [...diff, ...unchanged, `  $ ${s.up(false)}`, `  --local: not committed or pushed; main does not say this, so the next CI deploy refuses (check-desired) or undoes it`];
    }
    try {
        const c = preflight(s.file, { fetch: false });
        const git = next === text ? [] : [`  $ git fetch ${c.remote}`, ...commitCommands(c, message.split("\n")[0]).map((x) => `  $ ${x}`)];
        return [...diff, ...unchanged, ...git, `  $ ${s.up(false)}`];
    } catch (e) {
        if (!(e instanceof DesiredStateError)) throw e;
        return [...diff, `  refused: ${e.message}`];
    }
}

async function applyStackChange(s: StackFile, opts: SourceOptions, changes: Record<string, string>, o: { yes: boolean }): Promise<{ ok: boolean; error?: string }> {
    let recorded = "";
    try {
        const { text, next, message } = s.edit(changes);
        if (opts.local) {
            if (next !== text) fs.writeFileSync(s.file, next);
        } else {
            const c = preflight(s.file, { fetch: true });
            if (next !== text) {
                const sha = commitAndPush(c, next, message);
                recorded = ` (main holds the change: ${sha.slice(0, 12)} on ${c.remote}/${c.remoteBranch})`;
                process.stderr.write(`berth: committed ${sha} to ${c.file} and pushed it to ${c.remote}/${c.remoteBranch}\n`);
            }
        }
    } catch (e) {
        if (e instanceof DesiredStateError) return { ok: false, error: e.message };
        throw e;
    }
    const sha = s.pin(changes);
    const env = sha ? { ...process.env, BERTH_REVISION_SHA: sha } : process.env;
    const r = spawnSync(s.pulumi, ["up", "--stack", s.stack, ...(o.yes ? ["--yes"] : [])], { cwd: s.root, stdio: "inherit", env });
    return r.status === 0 ? { ok: true } : { ok: false, error: `pulumi up failed (exit ${r.status})${recorded}; converge it from main with pulumi up --stack ${s.stack}` };
}

// ---------------------------------------------------------------------------
// The dev stack of `npm run dev:up` without the Pulumi CLI
// ---------------------------------------------------------------------------

/** scripts/dev.sh's names: VPS container, services set, applier state. */
export const DEV = { vpsName: "berth-dev", services: "dev", repo: "sample", state: path.join(ROOT, ".berth", "applier-state.json") } as const;

function devSource(project: string, opts: SourceOptions): StackSource {
    const world = require("../../test/e2e/world") as typeof import("../../test/e2e/world");
    const host = path.join(ROOT, "test", "e2e", "host");
    const info = (script: string, args: string[]) => {
        const r = spawnSync("bash", [path.join(host, script), ...args], { encoding: "utf8", env: { ...process.env, BERTH_E2E_INSTANCE: DEV.services } });
        if (r.status !== 0) throw new Error(`berth: the dev stack is not running (${script} ${args.join(" ")}: ${(r.stderr ?? "").trim().split("\n").pop()}); start it with npm run dev:up`);
        return JSON.parse(r.stdout);
    };
    const vps = info("vps.sh", ["info", DEV.vpsName]);
    const git = info("vps.sh", ["gitserver", "info"]);
    const acme = info("acme.sh", ["info"]);
    const domain = String(world.devStackFile()["berth:domain"]);
    const w = {
        vps,
        git,
        acme,
        repoUrl: String(git.urlTemplate).replace("{name}", DEV.repo),
        shas: { v1: "", v2: "", broken: "", redirect: "", jsbundling: "", generic: "", variants: "", variantsNext: "", multidb: "" },
        work: os.tmpdir(),
        services: DEV.services,
        domain,
        prodDomain: `prod.${domain}`,
        repo: DEV.repo,
    };
    const sc = world.devConfig(w);
    const secretKeys = new Set(sc.secretKeys);
    const config = parsed("dev", sc.values, secretKeys, project);
    const stateFile = opts.stateFile ?? DEV.state;
    let values = sc.values;
    return {
        kind: "dev",
        stack: "dev",
        project,
        values,
        secretKeys,
        config,
        randoms: () => (fs.existsSync(stateFile) ? applierRandoms(stateFile) : undefined),
        converger: applierConverger("dev", config, () => values, secretKeys, stateFile, opts.dnsApi ?? acme.dnsApi, (next) => {
            // The dev stack's desired state is its stack file (what dev:up and every later
            // `-s dev` operation read): what an operation changed is written there, so a
            // later repair or up converges toward it, not back to the old value.
            const changed = Object.fromEntries(Object.entries(next).filter(([k, v]) => values[k] !== v));
            if (Object.keys(changed).length > 0) {
                const file = path.join(ROOT, stackFileName("dev"));
                fs.writeFileSync(file, setStackValues(fs.readFileSync(file, "utf8"), changed, stackFileName("dev")));
            }
            values = next;
        }),
    };
}

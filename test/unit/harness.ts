/**
 * Runs index.ts under Pulumi's mock runtime (no engine, no providers) with a
 * stack's real configuration and records every registered resource: type,
 * name, parent, inputs (with secret markers kept) and resource options.
 *
 * Configuration is assembled the way the engine does it: Pulumi.yaml defaults
 * first, then the stack file's values; object values become JSON strings.
 * The committed stack files hold no secrets (no `secure:` value, no
 * encryptionsalt): the user sets them with the `pulumi config set --secret`
 * lines each file's comments list (README "Set-up for your own stacks"), so
 * the harness sets exactly those keys to known test secrets (the tests need
 * to know the secret values to prove they never leak). `{secure: ...}` in an
 * override becomes a test secret the same way.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as crypto from "node:crypto";
import * as YAML from "yaml";
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { BerthConfig, parseConfig } from "../../lib/config";

export const ROOT = path.resolve(__dirname, "..", "..");
/** Pulumi's wire markers for a secret value (sdk/nodejs/runtime/rpc.ts). */
const SECRET_SIG = specialSigKey;
const SECRET_VALUE_SIG = specialSecretSig;

export interface StackConfig {
    stack: string;
    /** `berth:key` -> Pulumi string value. */
    values: Record<string, string>;
    /** Keys holding secrets. */
    secretKeys: string[];
    /** Every secret value injected, to search for leaks. */
    secrets: string[];
}

/** A syntactically valid OpenSSH private key used as the test secret. */
export function testPrivateKey(label: string): string {
    const body = Buffer.from(`berth-test-private-key-${label}-`.repeat(6)).toString("base64");
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.match(/.{1,70}/g)!.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function testSecretFor(key: string): string {
    if (key.endsWith("privateKey") || key.endsWith("deployKey")) return testPrivateKey(key);
    return `tsecret${crypto.createHash("sha256").update(key).digest("hex").slice(0, 24)}`;
}

/** A stack file (with overrides) parsed into the typed config, for pure builders. */
export function configFor(stack: string, overrides: Record<string, unknown> = {}, file?: string): BerthConfig {
    const sc = stackConfig(stack, overrides, file);
    const r = parseConfig(sc.values, { project: "berth", stack, secretKeys: new Set(sc.secretKeys) });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    return r.config;
}

/** Pulumi.yaml `config:` defaults as Pulumi strings. */
export function projectDefaults(): Record<string, string> {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const out: Record<string, string> = {};
    for (const [key, decl] of Object.entries<any>(project.config ?? {})) {
        if (decl && typeof decl === "object" && "default" in decl) {
            out[key] = typeof decl.default === "string" ? decl.default : JSON.stringify(decl.default);
        }
    }
    return out;
}

/** Replace `{secure: ...}` leaves with test secrets, collecting what was injected. */
function desecure(value: any, key: string, secrets: string[]): { value: any; secret: boolean } {
    if (value && typeof value === "object" && !Array.isArray(value)) {
        if (typeof value.secure === "string" && Object.keys(value).length === 1) {
            const s = testSecretFor(key);
            secrets.push(s);
            return { value: s, secret: true };
        }
        let secret = false;
        const out: Record<string, any> = {};
        for (const [k, v] of Object.entries(value)) {
            const r = desecure(v, `${key}.${k}`, secrets);
            out[k] = r.value;
            secret ||= r.secret;
        }
        return { value: out, secret };
    }
    return { value, secret: false };
}

/**
 * berth's own example stacks (the company `shop`): what the goldens, URN
 * snapshots and program tests are rendered from. The top-level
 * `Pulumi.<stack>.yaml` files start as copies of them and are the user's to
 * change (`berth init`, an editor): no test compares those with anything,
 * test/unit/stackfiles.test.ts only checks that they are valid — so a user's
 * own stack files never break `npm test` in their pull requests.
 */
export const EXAMPLE_STACK_FILES: Readonly<Record<string, string>> = {
    staging: "examples/Pulumi.staging.yaml",
    production: "examples/Pulumi.production.yaml",
    fleet: "examples/Pulumi.fleet.yaml",
};

/** The configuration the engine would hand the program for `stack` (the file's documented secrets set, then `overrides`). */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}, file = EXAMPLE_STACK_FILES[stack] ?? `Pulumi.${stack}.yaml`): StackConfig {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    const doc = YAML.parse(text);
    const commented = text
        .split("\n")
        .filter((l) => /^\s*#/.test(l))
        .join("\n");
    return configFrom(stack, { ...withUserSecrets(doc.config ?? {}, secretCommandKeys(commented)), ...overrides });
}

/**
 * The keys that the `pulumi config set --secret [--path] <key>` commands in
 * `text` set (a stack file's comments, `berth init`'s output), fully
 * qualified as the Pulumi CLI qualifies them (pkg/cmd/pulumi/config/io.go
 * parseConfigKey: a key without a namespace gets the project's, `berth`;
 * with --path only the top segment is namespaced): `{ key:
 * "berth:backup", path: ["password"] }`.
 */
export function secretCommandKeys(text: string): { key: string; path: string[] }[] {
    const out: { key: string; path: string[] }[] = [];
    for (const m of text.matchAll(/pulumi config set --secret( --path)? '?([A-Za-z0-9_:.-]+)'?/g)) {
        const parts = m[1] ? m[2].split(".") : [m[2]];
        const top = parts[0].includes(":") ? parts[0] : `berth:${parts[0]}`;
        out.push({ key: top, path: parts.slice(1) });
    }
    return out;
}

/** `raw` with a `{secure}` leaf (a test secret, see desecure) at each key: what the user's `config set --secret` lines add. */
export function withUserSecrets(raw: Record<string, unknown>, keys: { key: string; path: string[] }[]): Record<string, unknown> {
    const out: Record<string, any> = structuredClone(raw);
    for (const { key, path: p } of keys) {
        if (p.length === 0) {
            out[key] = { secure: "set-by-the-user" };
            continue;
        }
        let node = (out[key] ??= {});
        for (const seg of p.slice(0, -1)) node = node[seg] ??= {};
        node[p[p.length - 1]] = { secure: "set-by-the-user" };
    }
    return out;
}

export function configFrom(stack: string, raw: Record<string, unknown>): StackConfig {
    const values: Record<string, string> = { ...projectDefaults() };
    const secretKeys: string[] = [];
    const secrets: string[] = [];
    for (const [key, v] of Object.entries(raw)) {
        if (v === undefined) {
            delete values[key];
            continue;
        }
        const r = desecure(v, key, secrets);
        values[key] = typeof r.value === "string" ? r.value : JSON.stringify(r.value);
        if (r.secret) secretKeys.push(key);
    }
    return { stack, values, secretKeys, secrets };
}

export interface Recorded {
    type: string;
    name: string;
    custom: boolean;
    parent?: string;
    inputs: Record<string, any>;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    additionalSecretOutputs: string[];
    dependsOn: string[];
    provider?: string;
}

export interface RunResult {
    resources: Recorded[];
    outputs: Record<string, unknown>;
    /** Export name -> whether the output is secret. */
    secretOutputs: Record<string, boolean>;
    /** Every secret value the run knew about (config + mocked random results). */
    secrets: string[];
    /** Every data-source invoke the program made, in order. */
    calls: { token: string; inputs: Record<string, any> }[];
    error?: Error;
}

/** Deterministic mocked RandomPassword result for a resource name. */
export function mockPassword(name: string): string {
    return `mockpw${crypto.createHash("sha256").update(name).digest("hex").slice(0, 30)}`;
}

/**
 * What the mocked `cloudflare.getIpRanges` returns: a couple of fixed
 * ranges of each family (Cloudflare's real list is longer).
 */
export const MOCK_CLOUDFLARE_RANGES = { ipv4Cidrs: ["173.245.48.0/20", "103.21.244.0/22"], ipv6Cidrs: ["2400:cb00::/32", "2606:4700::/32"] };

function resourceName(r: any): string | undefined {
    return r?.__name;
}

/**
 * A real local bare git repository standing in for a stack's remote. git's
 * own `url.<base>.insteadOf` (set through GIT_CONFIG_COUNT/KEY/VALUE) sends
 * the program's unmodified `git ls-remote <stack file URL>` there, so branch
 * resolution runs for real without network access.
 */
export class LocalRemote {
    readonly dir: string;
    private work: string;
    constructor(readonly url: string) {
        const base = fs.mkdtempSync(path.join(os.tmpdir(), "berth-remote-"));
        process.once("exit", () => fs.rmSync(base, { recursive: true, force: true }));
        this.dir = path.join(base, "repo.git");
        this.work = path.join(base, "work");
        const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: GIT_ENV }).trim();
        fs.mkdirSync(this.work);
        git(base, "init", "-q", "--bare", "-b", "main", this.dir);
        git(this.work, "init", "-q", "-b", "main");
        this.commit("initial");
        LocalRemote.all.set(url, this);
        LocalRemote.installRewrites();
    }
    static all = new Map<string, LocalRemote>();
    private static installRewrites(): void {
        const entries = [...LocalRemote.all.values()];
        process.env.GIT_CONFIG_COUNT = String(entries.length);
        entries.forEach((r, i) => {
            process.env[`GIT_CONFIG_KEY_${i}`] = `url.file://${r.dir}.insteadOf`;
            process.env[`GIT_CONFIG_VALUE_${i}`] = r.url;
        });
    }
    /** Commits on main (or `branch`) and pushes; returns the new sha. */
    commit(message: string, branch = "main"): string {
        const git = (...args: string[]) => execFileSync("git", args, { cwd: this.work, encoding: "utf8", env: GIT_ENV }).trim();
        fs.writeFileSync(path.join(this.work, "CHANGES"), `${message}\n`, { flag: "a" });
        git("add", "CHANGES");
        git("commit", "-q", "-m", message);
        git("push", "-q", "--force", `file://${this.dir}`, `HEAD:refs/heads/${branch}`);
        return git("rev-parse", "HEAD");
    }
    sha(branch = "main"): string {
        return execFileSync("git", ["--git-dir", this.dir, "rev-parse", branch], { encoding: "utf8" }).trim();
    }
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "berth test", GIT_AUTHOR_EMAIL: "test@berth.invalid", GIT_COMMITTER_NAME: "berth test", GIT_COMMITTER_EMAIL: "test@berth.invalid", GIT_CONFIG_GLOBAL: "/dev/null" };

/** The stand-in remote for a repository URL (made on first use). */
export function localRemote(url: string): LocalRemote {
    return LocalRemote.all.get(url) ?? new LocalRemote(url);
}

export interface RunOptions {
    preview?: boolean;
    /**
     * Sees every resource the program constructs (not the root Stack), with
     * the resource object and its options as given (e.g. `aliases`), in
     * construction order: parents before their children.
     */
    onResource?: (a: pulumi.ResourceTransformationArgs) => void;
}

/** Runs index.ts with `cfg` under mocks; never throws (the error is returned). */
export async function runProgram(cfg: StackConfig, opts: RunOptions = {}): Promise<RunResult> {
    for (const k of Object.keys(require.cache)) {
        if (k.startsWith(ROOT) && !k.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[k];
    }
    const repo = cfg.values["berth:repository"];
    if (repo && !/^[0-9a-f]{40}$/.test(cfg.values["berth:revision"] ?? "") && !repo.startsWith("file://")) localRemote(repo);
    const resources = new Map<string, Recorded>();
    const order: string[] = [];
    const secrets = [...cfg.secrets];
    const calls: RunResult["calls"] = [];

    pulumi.runtime.setAllConfig(cfg.values, cfg.secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource(a) {
                const key = `${a.type}::${a.name}`;
                const rec = resources.get(key);
                if (rec) {
                    rec.inputs = a.inputs;
                    rec.custom = a.custom ?? true;
                    rec.provider = a.provider;
                }
                const state: Record<string, any> = { ...a.inputs };
                if (a.type === "random:index/randomPassword:RandomPassword") {
                    state.result = mockPassword(a.name);
                    secrets.push(state.result);
                }
                if (a.type === "docker:index/remoteImage:RemoteImage") {
                    state.imageId = `sha256:${crypto.createHash("sha256").update(String(a.inputs.name)).digest("hex")}`;
                }
                if (a.type === "command:remote:Command") {
                    state.stdout = "";
                    state.stderr = "";
                }
                // The engine (not the SDK) turns additionalSecretOutputs into
                // secrets; the mock monitor must do the same.
                for (const k of rec?.additionalSecretOutputs ?? []) {
                    if (k in state && !isSecretWrapped(state[k])) state[k] = { [SECRET_SIG]: SECRET_VALUE_SIG, value: state[k] };
                }
                return { id: `${a.name}-id`, state };
            },
            call(a) {
                calls.push({ token: a.token, inputs: a.inputs });
                if (a.token === "cloudflare:index/getIpRanges:getIpRanges") {
                    return { etag: "mock", jdcloudCidrs: [], ...MOCK_CLOUDFLARE_RANGES };
                }
                if (a.token === "cloudflare:index/getZone:getZone") {
                    return { id: "0".repeat(32), zoneId: "0".repeat(32), name: a.inputs.filter?.name };
                }
                return a.inputs;
            },
        },
        "berth",
        cfg.stack,
        opts.preview ?? false,
    );

    let outputs: Record<string, unknown> = {};
    const secretOutputs: Record<string, boolean> = {};
    let error: Error | undefined;
    try {
        outputs =
            ((await pulumi.runtime.runInPulumiStack(async () => {
                pulumi.runtime.registerStackTransformation((a) => {
                    const key = `${a.type}::${a.name}`;
                    order.push(key);
                    resources.set(key, {
                        type: a.type,
                        name: a.name,
                        custom: true,
                        parent: resourceName(a.opts.parent),
                        inputs: {},
                        protect: a.opts.protect === true,
                        retainOnDelete: a.opts.retainOnDelete === true,
                        deleteBeforeReplace: (a.opts as pulumi.CustomResourceOptions).deleteBeforeReplace === true,
                        additionalSecretOutputs: [...((a.opts as pulumi.CustomResourceOptions).additionalSecretOutputs ?? [])],
                        dependsOn: ([] as any[]).concat(a.opts.dependsOn ?? []).map((d) => resourceName(d) ?? "?"),
                    });
                    opts.onResource?.(a);
                    return undefined;
                });
                let mod: Record<string, unknown>;
                try {
                    mod = require(path.join(ROOT, "index.ts"));
                } catch (e) {
                    // Caught here rather than rejecting the stack's outputs,
                    // which Pulumi would report as an unhandled rejection.
                    error = e as Error;
                    return {};
                }
                for (const [k, v] of Object.entries(mod)) {
                    if (pulumi.Output.isInstance(v)) {
                        secretOutputs[k] = await (v as any).isSecret;
                    }
                }
                return mod;
            })) as Record<string, unknown>) ?? {};
    } catch (e) {
        error = e as Error;
    }
    // Let component registerOutputs and applies finish against this run's
    // mock monitor before the next run replaces it.
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return { resources: order.map((k) => resources.get(k)!).filter(Boolean), outputs, secretOutputs, secrets, calls, error };
}

export function isSecretWrapped(v: unknown): boolean {
    return !!v && typeof v === "object" && (v as any)[SECRET_SIG] !== undefined;
}

/** Every plain (non-secret) string inside `v`, with its path. */
export function plainStrings(v: unknown, at = ""): { path: string; value: string }[] {
    if (isSecretWrapped(v)) return [];
    if (typeof v === "string") return [{ path: at, value: v }];
    if (Array.isArray(v)) return v.flatMap((x, i) => plainStrings(x, `${at}[${i}]`));
    if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => plainStrings(x, at ? `${at}.${k}` : k));
    return [];
}

/** Unwraps secret markers, for assertions on values. */
export function unwrap(v: any): any {
    if (isSecretWrapped(v)) return unwrap(v.value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

export function byType(r: RunResult, type: string): Recorded[] {
    return r.resources.filter((x) => x.type === type);
}

export function named(r: RunResult, name: string): Recorded {
    const found = r.resources.find((x) => x.name === name);
    if (!found) throw new Error(`no resource named ${name}; have: ${r.resources.map((x) => x.name).join(", ")}`);
    return found;
}

/**
 * The program writes berth:privateKey to a key file under the passwd home
 * directory (`os.userInfo().homedir`, lib/sshIdentity.ts). Every test process
 * that loads this harness sees a temporary home instead, so `npm test` never
 * touches the real ~/.berth (whose stack names it shares). The applier's
 * processes (apply-cli.ts, dev-apply.ts) set BERTH_REAL_HOME=1: the Docker
 * provider's real `ssh` reads the key from the real home.
 */
export const TEST_HOME: string = (() => {
    if (process.env.BERTH_REAL_HOME === "1") return os.userInfo().homedir;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-home-"));
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    const realOs = require("node:os") as typeof os;
    const realUserInfo = realOs.userInfo.bind(realOs);
    realOs.userInfo = ((o?: any) => ({ ...realUserInfo(o), homedir: dir })) as typeof os.userInfo;
    return dir;
})();

/** Runs `f` with process.stderr silenced (operations print their progress there). */
export async function quietStderr<T>(f: () => Promise<T>): Promise<T> {
    const write = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
        return await f();
    } finally {
        process.stderr.write = write;
    }
}

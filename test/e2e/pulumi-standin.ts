/**
 * A STAND-IN FOR THE PULUMI CLI over the test applier, for the e2e suite
 * that runs berth's workflows and operations as a user does (the real CLI
 * cannot be installed on this machine: the `pulumi` npm package downloads
 * the binary at run time). test/e2e/standin-bin/pulumi runs this file; only
 * the e2e puts that directory on PATH.
 *
 * It implements the commands berth, its README and its workflows use, with
 * the behaviour read from pulumi/pulumi (master 1b59498) — the harsher
 * reading where a detail was unsure:
 * - Stack files: `Pulumi.<stack>.yaml` next to `Pulumi.yaml` in the working
 *   directory (`--cwd`/`-C`), `config:` and `encryptionsalt:`.
 * - Secrets (pkg/secrets/passphrase/manager.go, sdk/go/common/resource/config/crypt.go):
 *   the passphrase comes from PULUMI_CONFIG_PASSPHRASE or
 *   PULUMI_CONFIG_PASSPHRASE_FILE only (non-interactive: `readPassphrase`);
 *   key = PBKDF2-SHA256(passphrase, salt, 1,000,000 rounds, 32 bytes);
 *   values AES-256-GCM, `v1:<base64 nonce>:<base64 ciphertext+tag>`;
 *   `encryptionsalt: v1:<base64 8-byte salt>:<"pulumi" encrypted>`. An
 *   existing salt is reused (`NewPromptingPassphraseSecretsManager`) and a
 *   passphrase that does not decrypt its check value is "incorrect
 *   passphrase" (`symmetricCrypterFromPhraseAndState`); `stack init` writes a
 *   new salt into the stack file only when it has none.
 * - Config keys (pkg/cmd/pulumi/config/io.go `parseConfigKey`): a key
 *   without `:` gets the project's namespace; with `--path` only the first
 *   segment is the key, the rest a path into its object value (`a.b`,
 *   `a[0]`, `a["x.y"]`). `config set` without a value reads stdin when it is
 *   not a terminal and strips one trailing newline; in non-interactive use it
 *   fails without a value (config.go `configSetCmd.Run`).
 * - `pulumi config` lists the stack's values merged with the project's
 *   `default:`/`value:` declarations (pkg/workspace/config.go
 *   `ApplyProjectConfig`); `up`/`preview` also fail on a project key with
 *   neither a stack value nor a default (`ValidateStackConfigAndApplyProjectConfig`,
 *   "missing configuration values").
 * - Backend: PULUMI_BACKEND_URL must be a `file://` URL (the DIY backend):
 *   the stack's state lives under `<dir>/.pulumi/stacks/<project>/<stack>.json`
 *   (here the test applier's state file, its secrets encrypted with a key
 *   kept in the backend directory, so every clone and every runner with the
 *   backend reads the same state, and nothing of it lives in a HOME). A
 *   command on a stack that was never `stack init`ed fails ("no stack named").
 * - `up` without `--yes`/`--skip-preview` on a non-terminal fails as the CLI
 *   does in non-interactive mode; `preview --expect-no-changes` and
 *   `up --expect-no-changes` fail on any change; `--refresh` refreshes
 *   first (the applier's engine model, test/e2e/engine.ts). Stack outputs are
 *   written only by a successful `up`; `stack output` shows secret outputs as
 *   `[secret]` unless `--show-secrets`. `stack ls [--json]` lists the
 *   backend's stacks of the project; `stack rm --yes` refuses a stack that
 *   still has resources (unless `--force`) and removes its stack file
 *   (unless `--preserve-config`), as stack_rm.go does.
 * - Not modelled: policy packs (`--policy-pack` is accepted and NOT run; the
 *   unit tests run berth's pack against every stack), type validation of
 *   stack values against the project's `type:`, stack selection (every
 *   command needs `--stack`), comments: `config set` keeps the file's
 *   comments (the real CLI may not).
 * DNS records go to the test DNS named by BERTH_STANDIN_DNS_API (it stands in
 * for Cloudflare's API, as in every e2e).
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";

const VALUED = new Set(["--stack", "-s", "--cwd", "-C", "--secrets-provider", "--policy-pack", "--message", "-m", "--file", "--color", "--target", "--parallel", "-p", "--config-file"]);

class CliError extends Error {}

interface Args {
    verb: string[];
    flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
    const verb: string[] = [];
    const flags = new Map<string, string | true>();
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--") {
            verb.push(...argv.slice(i + 1));
            break;
        }
        if (a.startsWith("-") && a.length > 1) {
            const eq = a.indexOf("=");
            if (eq > 0) flags.set(canon(a.slice(0, eq)), a.slice(eq + 1));
            else if (VALUED.has(a)) flags.set(canon(a), argv[++i] ?? "");
            else flags.set(canon(a), true);
        } else verb.push(a);
    }
    return { verb, flags };
}

function canon(flag: string): string {
    return ({ "-s": "--stack", "-C": "--cwd", "-m": "--message", "-y": "--yes", "-f": "--skip-preview", "-r": "--refresh", "-p": "--parallel" } as Record<string, string>)[flag] ?? flag;
}

// ---------------------------------------------------------------------------
// Project, stack file, backend
// ---------------------------------------------------------------------------

class Project {
    readonly name: string;
    readonly decls: Record<string, any>;
    constructor(readonly dir: string) {
        const file = path.join(dir, "Pulumi.yaml");
        if (!fs.existsSync(file)) throw new CliError(`no Pulumi.yaml project file found (searching upwards from ${dir})`);
        const doc = YAML.parse(fs.readFileSync(file, "utf8"));
        this.name = String(doc.name);
        this.decls = doc.config ?? {};
    }
    stackFile(stack: string): string {
        return path.join(this.dir, `Pulumi.${stack}.yaml`);
    }
}

function backendDir(): string {
    const url = process.env.PULUMI_BACKEND_URL ?? "";
    if (!url.startsWith("file://")) throw new CliError(`PULUMI_BACKEND_URL must be a file:// URL for this stand-in (got ${JSON.stringify(url)})`);
    const p = url.slice("file://".length).replace(/^~(?=\/|$)/, os.homedir());
    fs.mkdirSync(p, { recursive: true });
    return p;
}

function statePath(project: Project, stack: string): string {
    return path.join(backendDir(), ".pulumi", "stacks", project.name, `${stack}.json`);
}

function requireStack(project: Project, stack: string): string {
    const p = statePath(project, stack);
    if (!fs.existsSync(p)) throw new CliError(`no stack named '${stack}' found`);
    return p;
}

function stackName(a: Args): string {
    const s = a.flags.get("--stack");
    if (typeof s !== "string" || !s) throw new CliError("no stack selected; pass --stack <name> (this stand-in keeps no selected stack)");
    return s;
}

function readStackDoc(project: Project, stack: string): YAML.Document {
    const f = project.stackFile(stack);
    return fs.existsSync(f) ? YAML.parseDocument(fs.readFileSync(f, "utf8")) : new YAML.Document({});
}

function writeStackDoc(project: Project, stack: string, doc: YAML.Document): void {
    fs.writeFileSync(project.stackFile(stack), doc.toString());
}

// ---------------------------------------------------------------------------
// Passphrase secrets manager
// ---------------------------------------------------------------------------

function passphrase(): string {
    if (process.env.PULUMI_CONFIG_PASSPHRASE !== undefined) return process.env.PULUMI_CONFIG_PASSPHRASE;
    if (process.env.PULUMI_CONFIG_PASSPHRASE_FILE) return fs.readFileSync(process.env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8");
    throw new CliError("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables");
}

class Crypter {
    constructor(private key: Buffer) {}
    static derive(phrase: string, salt: Buffer): Crypter {
        return new Crypter(crypto.pbkdf2Sync(phrase, salt, 1_000_000, 32, "sha256"));
    }
    encrypt(plain: string): string {
        const nonce = crypto.randomBytes(12);
        const c = crypto.createCipheriv("aes-256-gcm", this.key, nonce);
        const body = Buffer.concat([c.update(plain, "utf8"), c.final(), c.getAuthTag()]);
        return `v1:${nonce.toString("base64")}:${body.toString("base64")}`;
    }
    decrypt(value: string): string {
        const [v, n, b] = value.split(":");
        if (v !== "v1" || n === undefined || b === undefined) throw new CliError("failed to decrypt: bad value");
        const buf = Buffer.from(b, "base64");
        const d = crypto.createDecipheriv("aes-256-gcm", this.key, Buffer.from(n, "base64"));
        d.setAuthTag(buf.subarray(buf.length - 16));
        try {
            return Buffer.concat([d.update(buf.subarray(0, buf.length - 16)), d.final()]).toString("utf8");
        } catch {
            throw new CliError("failed to decrypt: message authentication failed");
        }
    }
}

/** The stack's crypter; `create` writes a new salt into the document when it has none. */
function crypterFor(doc: YAML.Document, create: boolean): Crypter | undefined {
    const state = doc.get("encryptionsalt") as string | undefined;
    if (!state) {
        if (!create) return undefined;
        const salt = crypto.randomBytes(8);
        const c = Crypter.derive(passphrase(), salt);
        doc.set("encryptionsalt", `v1:${salt.toString("base64")}:${c.encrypt("pulumi")}`);
        return c;
    }
    const parts = String(state).split(":");
    if (parts.length < 3 || parts[0] !== "v1") throw new CliError("malformed state value");
    const c = Crypter.derive(passphrase(), Buffer.from(parts[1], "base64"));
    let check = "";
    try {
        check = c.decrypt(parts.slice(2).join(":"));
    } catch {
        /* below */
    }
    if (check !== "pulumi") throw new CliError("incorrect passphrase");
    return c;
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

interface ConfigEntry {
    /** Plain value (secrets decrypted when a crypter was given). */
    value: unknown;
    secret: boolean;
}

function hasSecure(v: unknown): boolean {
    if (v && typeof v === "object") {
        if (!Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as any).secure === "string") return true;
        return Object.values(v as object).some(hasSecure);
    }
    return false;
}

function decryptTree(v: unknown, c: Crypter | undefined): unknown {
    if (v && typeof v === "object") {
        if (!Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as any).secure === "string") {
            if (!c) throw new CliError("this stack's config holds secure values but the stack file has no encryptionsalt: failed to decrypt");
            return c.decrypt((v as any).secure);
        }
        if (Array.isArray(v)) return v.map((x) => decryptTree(x, c));
        return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, decryptTree(x, c)]));
    }
    return v;
}

/** The stack's values merged with the project's defaults (ApplyProjectConfig). */
function configEntries(project: Project, doc: YAML.Document, decrypt: boolean): Record<string, ConfigEntry> {
    const raw = ((doc.toJS() ?? {}).config ?? {}) as Record<string, unknown>;
    const anySecret = Object.values(raw).some(hasSecure);
    const c = decrypt && anySecret ? crypterFor(doc, false) : undefined;
    const out: Record<string, ConfigEntry> = {};
    for (const [key, v] of Object.entries(raw)) out[key] = { value: decrypt ? decryptTree(v, c) : v, secret: hasSecure(v) };
    for (const [k, decl] of Object.entries(project.decls)) {
        const key = k.includes(":") ? k : `${project.name}:${k}`;
        if (key in out || !decl || typeof decl !== "object") continue;
        if ("value" in decl) out[key] = { value: decl.value, secret: false };
        if ("default" in decl) out[key] = { value: decl.default, secret: false };
    }
    return out;
}

function asString(v: unknown): string {
    return typeof v === "string" ? v : JSON.stringify(v);
}

/** `pulumi config --json` shape (pkg/cmd/pulumi/config/config.go `configValueJSON`). */
function configJson(entries: Record<string, ConfigEntry>, showSecrets: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(entries)) {
        const o: Record<string, unknown> = { secret: e.secret };
        if (!e.secret || showSecrets) {
            o.value = asString(e.value);
            if (e.value && typeof e.value === "object") o.objectValue = e.value;
        }
        out[k] = o;
    }
    return out;
}

/** `ns:key.path[0]` -> the config key and the path below it (io.go parseConfigKey + resource.ParsePropertyPath). */
function parseKey(project: Project, raw: string, usePath: boolean): { key: string; path: (string | number)[] } {
    const ns = (k: string) => (k.includes(":") ? k : `${project.name}:${k}`);
    if (!usePath) return { key: ns(raw), path: [] };
    const segs: (string | number)[] = [];
    const re = /([^.[\]]+)|\[(\d+)\]|\["([^"]*)"\]/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(raw))) segs.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]));
    return { key: ns(String(segs[0] ?? "")), path: segs.slice(1) };
}

function readStdin(): string | undefined {
    if (process.stdin.isTTY) return undefined;
    try {
        return fs.readFileSync(0, "utf8").replace(/\r?\n$/, "");
    } catch {
        return undefined;
    }
}

function configCmd(project: Project, a: Args): void {
    const stack = stackName(a);
    requireStack(project, stack);
    const sub = a.verb[1];
    const usePath = a.flags.has("--path");
    if (sub === undefined) {
        const entries = configEntries(project, readStackDoc(project, stack), a.flags.has("--show-secrets"));
        if (a.flags.has("--json")) return void process.stdout.write(`${JSON.stringify(configJson(entries, a.flags.has("--show-secrets")), null, 2)}\n`);
        for (const [k, e] of Object.entries(entries)) process.stdout.write(`${k}  ${e.secret && !a.flags.has("--show-secrets") ? "[secret]" : asString(e.value)}\n`);
        return;
    }
    if (sub === "get") {
        const { key, path: p } = parseKey(project, a.verb[2] ?? "", usePath);
        const e = configEntries(project, readStackDoc(project, stack), true)[key];
        let v = e?.value;
        for (const s of p) v = v === undefined || v === null ? undefined : (v as any)[s];
        if (v === undefined) throw new CliError(`configuration key '${a.verb[2]}' not found for stack '${stack}'`);
        process.stdout.write(`${a.flags.has("--json") ? JSON.stringify({ value: asString(v), secret: e.secret }) : asString(v)}\n`);
        return;
    }
    if (sub === "set") {
        const { key, path: p } = parseKey(project, a.verb[2] ?? "", usePath);
        const value = a.verb[3] ?? readStdin();
        if (value === undefined) throw new CliError("config value must be specified in non-interactive mode");
        const doc = readStackDoc(project, stack);
        const secret = a.flags.has("--secret");
        const stored: unknown = secret ? { secure: crypterFor(doc, true)!.encrypt(value) } : value;
        doc.setIn(["config", key, ...p], doc.createNode(stored));
        writeStackDoc(project, stack, doc);
        return;
    }
    if (sub === "rm") {
        const { key, path: p } = parseKey(project, a.verb[2] ?? "", usePath);
        const doc = readStackDoc(project, stack);
        doc.deleteIn(["config", key, ...p]);
        writeStackDoc(project, stack, doc);
        return;
    }
    throw new CliError(`unknown command "config ${sub}"`);
}

// ---------------------------------------------------------------------------
// Stacks, outputs, export
// ---------------------------------------------------------------------------

function keyDir(): string {
    return path.join(backendDir(), ".pulumi", "applier-keys");
}

function outputsPath(project: Project, stack: string): string {
    return statePath(project, stack).replace(/\.json$/, ".outputs.json");
}

function stackCmd(project: Project, a: Args): void {
    const sub = a.verb[1];
    if (sub === "init") {
        const stack = a.verb[2] ?? stackName(a);
        const p = statePath(project, stack);
        if (fs.existsSync(p)) throw new CliError(`stack '${stack}' already exists`);
        const provider = a.flags.get("--secrets-provider") ?? "passphrase";
        if (provider !== "passphrase") throw new CliError(`this stand-in knows the passphrase secrets provider only (got ${provider})`);
        // stack_new.go -> createSecretsManagerForNewStack: reuses a salt in the file, else writes a new one.
        const doc = readStackDoc(project, stack);
        crypterFor(doc, true);
        writeStackDoc(project, stack, doc);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, JSON.stringify({ version: 2, resources: [] }), { mode: 0o600 });
        process.stdout.write(`Created stack '${stack}'\n`);
        return;
    }
    if (sub === "output") {
        const stack = stackName(a);
        requireStack(project, stack);
        const f = outputsPath(project, stack);
        const stored = fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as { values: Record<string, unknown>; secret: string[] }) : { values: {}, secret: [] };
        const show = (k: string) => (stored.secret.includes(k) && !a.flags.has("--show-secrets") ? "[secret]" : stored.values[k]);
        const name = a.verb[2];
        if (name !== undefined) {
            if (!(name in stored.values)) throw new CliError(`current stack does not have output property '${name}'`);
            const v = show(name);
            process.stdout.write(`${a.flags.has("--json") ? JSON.stringify(v, null, 2) : asString(v)}\n`);
            return;
        }
        const all = Object.fromEntries(Object.keys(stored.values).map((k) => [k, show(k)]));
        process.stdout.write(a.flags.has("--json") ? `${JSON.stringify(all, null, 2)}\n` : Object.entries(all).map(([k, v]) => `    ${k}  ${asString(v)}\n`).join(""));
        return;
    }
    if (sub === "export") {
        const stack = stackName(a);
        const p = requireStack(project, stack);
        process.env.BERTH_APPLIER_KEY_DIR = keyDir();
        const { readState, SECRET_SIG } = require("./engine") as typeof import("./engine");
        const show = a.flags.has("--show-secrets");
        const hide = (v: any): any => {
            if (v && typeof v === "object" && v[SECRET_SIG] !== undefined) return show ? { [SECRET_SIG]: v[SECRET_SIG], value: hide(v.value) } : { [SECRET_SIG]: v[SECRET_SIG], ciphertext: "[encrypted]" };
            if (Array.isArray(v)) return v.map(hide);
            if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hide(x)]));
            return v;
        };
        const resources = readState(p).resources.map((r) => ({
            urn: r.urn,
            custom: r.custom,
            ...(r.pendingDelete ? { delete: true } : {}),
            type: r.type,
            inputs: hide(r.inputs),
            outputs: hide(r.outputs),
            ...(r.parent ? { parent: r.parent } : {}),
            protect: r.protect,
            dependencies: r.dependencies,
            ...(r.provider ? { provider: r.provider } : {}),
        }));
        process.stdout.write(`${JSON.stringify({ version: 3, deployment: { manifest: { magic: "berth-standin" }, secrets_providers: { type: "passphrase" }, resources } }, null, 2)}\n`);
        return;
    }
    if (sub === "ls") {
        // stack_ls.go: every stack of the project in the backend; --json: [{name, current, ...}].
        const dir = path.dirname(statePath(project, "x"));
        const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^[^.]+\.json$/.test(f)).map((f) => f.slice(0, -".json".length)).sort() : [];
        process.stdout.write(a.flags.has("--json") ? `${JSON.stringify(names.map((name) => ({ name, current: false })), null, 2)}\n` : names.map((n) => `${n}\n`).join(""));
        return;
    }
    if (sub === "rm") {
        // stack_rm.go: refuses a stack that still has resources unless --force; removes the stack file unless --preserve-config.
        const stack = a.verb[2] ?? stackName(a);
        const p = requireStack(project, stack);
        if (!a.flags.has("--yes")) throw new CliError("--yes must be passed in to proceed when running in non-interactive mode");
        process.env.BERTH_APPLIER_KEY_DIR = keyDir();
        const { readState } = require("./engine") as typeof import("./engine");
        const left = readState(p).resources.filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
        if (left.length > 0 && !a.flags.has("--force")) throw new CliError(`'${stack}' still has resources; removal rejected (${left.length} resources)`);
        for (const f of [p, outputsPath(project, stack)]) fs.rmSync(f, { force: true });
        if (!a.flags.has("--preserve-config")) fs.rmSync(project.stackFile(stack), { force: true });
        process.stdout.write(`Stack '${stack}' has been removed!\n`);
        return;
    }
    if (sub === "select") {
        const stack = a.verb[2] ?? stackName(a);
        if (!fs.existsSync(statePath(project, stack))) {
            if (!a.flags.has("--create")) throw new CliError(`no stack named '${stack}' found`);
            stackCmd(project, { verb: ["stack", "init", stack], flags: new Map() });
        }
        return;
    }
    throw new CliError(`unknown command "stack ${sub ?? ""}"`);
}

// ---------------------------------------------------------------------------
// up / preview / refresh / destroy: the test applier of the project's own checkout
// ---------------------------------------------------------------------------

async function operation(project: Project, a: Args): Promise<number> {
    const verb = a.verb[0] === "update" ? "up" : a.verb[0];
    const stack = stackName(a);
    const state = requireStack(project, stack);
    if ((verb === "up" || verb === "destroy" || verb === "refresh") && !a.flags.has("--yes") && !a.flags.has("--skip-preview")) {
        throw new CliError("--yes or --skip-preview must be passed in to proceed when running in non-interactive mode");
    }
    const doc = readStackDoc(project, stack);
    const entries = configEntries(project, doc, true);
    const missing = Object.entries(project.decls)
        .filter(([k, d]) => !(`${k.includes(":") ? k : `${project.name}:${k}`}` in entries) && !(d && typeof d === "object" && ("default" in d || "value" in d)))
        .map(([k]) => k);
    if (missing.length && verb !== "destroy" && verb !== "refresh") {
        throw new CliError(`Stack '${stack}' is missing configuration values:\n${missing.map((k) => `  ${k}`).join("\n")}`);
    }
    const values = Object.fromEntries(Object.entries(entries).map(([k, e]) => [k, asString(e.value)]));
    const secretKeys = Object.entries(entries).filter(([, e]) => e.secret).map(([k]) => k);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-standin-"));
    try {
        const configPath = path.join(dir, "config.json");
        const reportPath = path.join(dir, "report.json");
        fs.writeFileSync(configPath, JSON.stringify({ stack, values, secretKeys, secrets: [] }), { mode: 0o600 });
        const flags = [...(a.flags.has("--refresh") ? ["--refresh"] : []), ...(a.flags.has("--expect-no-changes") ? ["--expect-no-changes"] : [])];
        const applyCli = path.join(project.dir, "test", "e2e", "apply-cli.ts");
        const dnsApi = process.env.BERTH_STANDIN_DNS_API ?? "";
        process.stdout.write(`${verb === "up" ? "Updating" : verb === "preview" ? "Previewing update" : verb === "refresh" ? "Refreshing" : "Destroying"} (${stack})\n`);
        const code = await new Promise<number>((resolve, reject) => {
            const p = spawn(process.execPath, ["--import", "tsx", applyCli, verb, state, configPath, reportPath, dnsApi, ...flags], {
                cwd: project.dir,
                stdio: ["ignore", "inherit", "inherit"],
                env: { ...process.env, BERTH_REAL_HOME: "1", BERTH_APPLIER_KEY_DIR: keyDir() },
            });
            p.on("error", reject);
            p.on("close", (c) => resolve(c ?? 1));
        });
        if (code !== 0) throw new CliError(`the engine (test applier) crashed (exit ${code})`);
        const report = JSON.parse(fs.readFileSync(reportPath, "utf8")) as {
            ok: boolean;
            error?: string;
            steps: Record<string, { op: string; keys: string[] }>;
            outputs: Record<string, unknown>;
            secretOutputs?: string[];
        };
        const counts: Record<string, number> = {};
        for (const [urn, s] of Object.entries(report.steps ?? {})) {
            counts[s.op] = (counts[s.op] ?? 0) + 1;
            if (s.op !== "same" && a.flags.has("--diff")) process.stdout.write(`  ${s.op === "create" ? "+" : s.op === "delete" ? "-" : s.op === "replace" ? "+-" : "~"} ${urn.split("::").slice(-2).join("::")}${s.keys?.length ? ` [${s.keys.join(", ")}]` : ""}\n`);
        }
        process.stdout.write(`Resources: ${Object.entries(counts).map(([op, n]) => `${n} ${op}`).join(", ")}\n`);
        if (verb === "up" && report.ok) {
            fs.writeFileSync(outputsPath(project, stack), JSON.stringify({ values: report.outputs, secret: report.secretOutputs ?? [] }), { mode: 0o600 });
        }
        if (!report.ok) {
            process.stderr.write(`error: ${report.error ?? "update failed"}\n`);
            return 255;
        }
        return 0;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

async function main(argv: string[]): Promise<number> {
    const a = parseArgs(argv);
    const cwd = typeof a.flags.get("--cwd") === "string" ? path.resolve(a.flags.get("--cwd") as string) : process.cwd();
    switch (a.verb[0]) {
        case "version":
            process.stdout.write("v3.200.0-berth-standin\n");
            return 0;
        case "login":
            backendDir();
            process.stdout.write(`Logged in to ${process.env.PULUMI_BACKEND_URL}\n`);
            return 0;
        case "config":
            configCmd(new Project(cwd), a);
            return 0;
        case "stack":
            stackCmd(new Project(cwd), a);
            return 0;
        case "up":
        case "update":
        case "preview":
        case "refresh":
        case "destroy":
            return operation(new Project(cwd), a);
        default:
            throw new CliError(`unknown command "${a.verb[0] ?? ""}" for "pulumi"`);
    }
}

// exitCode, not exit(): process.exit() drops what a pipe has not taken yet (a large `stack export`).
main(process.argv.slice(2)).then(
    (code) => {
        process.exitCode = code;
    },
    (e) => {
        process.stderr.write(`error: ${e instanceof CliError ? e.message : (e as Error).stack}\n`);
        process.exitCode = 255;
    },
);

/**
 * What the program declares for a stack, read off the program itself:
 * index.ts runs under Pulumi's mock runtime (no engine, no provider, nothing
 * touches a host) with the stack's configuration, the generated passwords
 * from the stack's state, and the revision the host serves
 * (BERTH_REVISION_SHA, as the drift workflow does). Every
 * `command:remote:Command` is recorded with its create script and stdin, in
 * the order the program constructs them (dependencies first), and every
 * Docker container with its name and image.
 *
 * The files: each script writes files through lib/shell.ts `writeFile`, whose
 * text has one fixed shape (`tmp=$(mktemp <path>.berth.XXXXXX)`, a quoted
 * heredoc, `chmod`, `chown`); `filesOf` reads path, content, mode and owner
 * back from it, so every file any component writes is found without a list
 * to keep up to date. Files whose content arrives on stdin (the env file:
 * `cat > "$tmp"`; the deploy key: `base64 -d > "$tmp"`) get their content
 * from the recorded stdin: the comparison uses sha256 digests only, and no
 * secret leaves this machine.
 *
 * Outputs one command's script is built from (the WireGuard mesh: each
 * host's key command prints its public key, the peers' configs carry it)
 * are found, not listed: a first run gives every command a stand-in stdout
 * unique to it (shaped like a WireGuard key); a command whose stand-in shows
 * up in another resource's inputs is *read*. The caller then gives the
 * stdout the engine would hold for each (cli/support/stack.ts reads the public key
 * on its host with `wg pubkey`: only public keys leave a host), and a
 * second run declares with them. Without them a read stdout is empty, as
 * before (the mesh's config step then is the script that fails naming the
 * host without a key).
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfig } from "../../lib/config";
import { PRIVATE_KEY_PLACEHOLDER } from "../../components/host/meshScripts";
import { REVISION_SHA_ENV } from "../../lib/revision";
import { ROOT, unwrapSecret } from "./source";

export interface DeclaredCommand {
    /** Resource name (e.g. `sample-dev-host-packages`). */
    name: string;
    /** The bash script body (unwrapped from `bash -c` / `sudo -n bash -c`). */
    script: string;
    /** stdin payload (secret) or undefined. */
    stdin?: string;
}

export interface FileVariant {
    sha256: string;
    /** `644 root:root`, as `stat -c '%a %U:%G'` prints it. */
    modeOwner: string;
    /** The text (undefined for secret-bearing files). */
    content?: string;
}

export interface DeclaredFile {
    path: string;
    /** A script may write one of several contents (the switch: one per slot). */
    variants: FileVariant[];
    /** Written from a secret (stdin): compared by digest only. */
    secret: boolean;
    /** Which command writes it. */
    by: string;
    /**
     * The host puts its own private key in (the mesh's wg-quick config): the
     * content has `PRIVATE_KEY_PLACEHOLDER` on the key's line, and the probe
     * hashes the host's file with that line masked the same way.
     */
    masked?: boolean;
}

export interface DeclaredContainer {
    name: string;
    image: string;
}

/** A command (on any host of the stack) whose stdout other resources are built from. */
export interface ReadCommand extends DeclaredCommand {
    /** The address it runs on (its connection's host). */
    host: string;
}

/** Gives the stdout the engine would hold for each read command (by resource name; missing: empty). */
export type StdoutSource = (read: ReadCommand[]) => Promise<Record<string, string>> | Record<string, string>;

export interface Declared {
    commands: DeclaredCommand[];
    /** Commands (any host) whose stdout the program read, and the stdout it was declared with. */
    read: (ReadCommand & { stdout: string })[];
    files: DeclaredFile[];
    containers: DeclaredContainer[];
    /** False when the generated passwords were not available (secret-bearing files cannot be compared). */
    secretsKnown: boolean;
}

export function sha256(text: string | Buffer): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

/** Inverse of lib/shell.ts `quote` for one word. */
export function unquoteWord(word: string): string {
    let out = "";
    let i = 0;
    while (i < word.length) {
        const c = word[i];
        if (c === "'") {
            const end = word.indexOf("'", i + 1);
            if (end < 0) throw new Error(`unterminated quote in ${word.slice(0, 40)}`);
            out += word.slice(i + 1, end);
            i = end + 1;
        } else if (c === "\\") {
            out += word[i + 1] ?? "";
            i += 2;
        } else {
            out += c;
            i++;
        }
    }
    return out;
}

/** The script inside a `remote()` command string. */
export function scriptOf(commandLine: string): string {
    const m = /^(?:sudo -n )?bash -c ([\s\S]*)$/.exec(commandLine);
    if (!m) throw new Error(`not a berth remote command: ${commandLine.slice(0, 60)}`);
    return unquoteWord(m[1]);
}

/** The files a script writes (see the header), with stdin for secret-bearing ones. */
export function filesOf(cmd: DeclaredCommand): DeclaredFile[] {
    const lines = cmd.script.split("\n");
    const found = new Map<string, DeclaredFile>();
    for (let i = 0; i < lines.length; i++) {
        const m = /^tmp=\$\(mktemp (\S+)\)$/.exec(lines[i]);
        if (!m) continue;
        const tmpl = unquoteWord(m[1]);
        if (!tmpl.endsWith(".berth.XXXXXX")) continue;
        const file = tmpl.slice(0, -".berth.XXXXXX".length);
        let content: string | undefined;
        let secret = false;
        let masked = false;
        let j = i + 1;
        const keyed = keyedBlock(lines, i + 1);
        const heredoc = /^cat > "\$tmp" <<'(BERTH_EOF(?:_\d+)?)'$/.exec(lines[j] ?? "");
        if (keyed) {
            content = keyed.content;
            masked = true;
            j = keyed.end;
        } else if (heredoc) {
            const body: string[] = [];
            for (j = j + 1; j < lines.length && lines[j] !== heredoc[1]; j++) body.push(lines[j]);
            content = `${body.join("\n")}\n`;
        } else {
            // Secret-bearing: the payload arrives on stdin.
            secret = true;
            for (; j < Math.min(lines.length, i + 8); j++) {
                if (lines[j] === 'cat > "$tmp"') content = cmd.stdin;
                else if (/base64 -d > "\$tmp"$/.test(lines[j])) content = cmd.stdin === undefined ? undefined : Buffer.from(cmd.stdin.split("\n")[0], "base64").toString("utf8");
                if (content !== undefined) break;
            }
        }
        let mode: string | undefined;
        let owner: string | undefined;
        for (let k = j; k < Math.min(lines.length, j + 8); k++) {
            const c = /^chmod (\S+) "\$tmp"$/.exec(lines[k]);
            if (c) mode = unquoteWord(c[1]).replace(/^0/, "");
            const o = /^chown (\S+) "\$tmp"$/.exec(lines[k]);
            if (o) owner = unquoteWord(o[1]);
            if (mode && owner) break;
        }
        if (!mode) continue;
        // No chown: the file stays root's (scripts run as root; mktemp makes it).
        owner ??= "root:root";
        const variant: FileVariant = { sha256: content === undefined ? "" : sha256(content), modeOwner: `${mode} ${owner}`, content: secret ? undefined : content };
        const f: DeclaredFile = found.get(file) ?? { path: file, variants: [], secret, by: cmd.name, ...(masked ? { masked } : {}) };
        if (!f.variants.some((v) => v.sha256 === variant.sha256 && v.modeOwner === variant.modeOwner)) f.variants.push(variant);
        found.set(file, f);
    }
    return [...found.values()];
}

/**
 * The mesh's wg-quick config block (components/host/meshScripts.ts writeConfLines): after the
 * mktemp, `IFS= read -r private_key < <key file>`, then `{ ... } > "$tmp"`
 * with quoted heredocs and one `printf 'PrivateKey = %s\n'` line. Returns
 * the content with the key's line as `PRIVATE_KEY_PLACEHOLDER`, and the
 * line after the block.
 */
function keyedBlock(lines: string[], from: number): { content: string; end: number } | undefined {
    let i = from;
    while (i < lines.length && i < from + 3 && !/^IFS= read -r private_key < /.test(lines[i])) i++;
    if (!/^IFS= read -r private_key < /.test(lines[i] ?? "") || lines[i + 1] !== "{") return undefined;
    const out: string[] = [];
    for (i = i + 2; i < lines.length && lines[i] !== '} > "$tmp"'; i++) {
        const h = /^\s*cat <<'(BERTH_EOF(?:_\d+)?)'$/.exec(lines[i]);
        if (h) {
            for (i++; i < lines.length && lines[i] !== h[1]; i++) out.push(lines[i]);
        } else if (/^\s*printf 'PrivateKey = %s\\n' "\$private_key"$/.test(lines[i])) out.push(PRIVATE_KEY_PLACEHOLDER);
        else return undefined;
    }
    return i < lines.length ? { content: `${out.join("\n")}\n`, end: i + 1 } : undefined;
}

/** A placeholder for a generated password the state did not give (never compared). */
const UNKNOWN = "berth-unknown-generated-secret";

/**
 * The first run's stand-in stdout of a command: 32 bytes from its name, in
 * base64 (a well-formed WireGuard key, so a script built from it is the one
 * a real key gives, and the stand-in is found in it).
 */
export function standInStdout(name: string): string {
    return `${crypto.createHash("sha256").update(`berth declared stdout ${name}`).digest("base64")}\n`;
}

type Registered = { type: string; name: string; inputs: any };

/** One run of index.ts under mocks: the registered resources in the program's order. */
async function runProgram(
    cfg: BerthConfig,
    values: Readonly<Record<string, string>>,
    secretKeys: ReadonlySet<string>,
    randoms: Record<string, string> | undefined,
    sha: string | undefined,
    cloudflareRanges: readonly string[] | undefined,
    stdoutOf: (name: string) => string,
): Promise<{ resources: Registered[]; secretsKnown: boolean }> {
    const order: string[] = [];
    const seen = new Map<string, Registered>();
    const run: MockRun = { secretsKnown: randoms !== undefined, rangesMissing: false };
    pulumi.runtime.setAllConfig({ ...values }, [...secretKeys]);
    await pulumi.runtime.setMocks(mocks(seen, run, randoms, cloudflareRanges, stdoutOf), cfg.project, cfg.stack, false);
    const pinned = sha && (!/^[0-9a-f]{40}$/.test(cfg.release.revision) || cfg.release.revision === sha) ? sha : undefined;
    const failure = await withRevisionSha(pinned, () => loadProgram(order));
    if (failure) throw failure;
    if (run.rangesMissing) throw new Error("berth: a proxied stack's declared sites need Cloudflare's IP ranges");
    const resources = order.map((k) => seen.get(k)).filter((r): r is Registered => r !== undefined);
    return { resources, secretsKnown: run.secretsKnown };
}

/** What the mocks learn during one run: whether every generated password was known, whether Cloudflare's ranges were asked for and not given. */
type MockRun = { secretsKnown: boolean; rangesMissing: boolean };

/** The mock runtime: records every resource in `seen` (inputs unwrapped), answers with the known passwords, stand-in stdouts and the given Cloudflare ranges. */
function mocks(
    seen: Map<string, Registered>,
    run: MockRun,
    randoms: Record<string, string> | undefined,
    cloudflareRanges: readonly string[] | undefined,
    stdoutOf: (name: string) => string,
): pulumi.runtime.Mocks {
    return {
        newResource(a) {
            const state: Record<string, any> = { ...a.inputs };
            if (a.type === "random:index/randomPassword:RandomPassword") {
                const known = randoms?.[a.name];
                if (known === undefined) run.secretsKnown = false;
                state.result = known ?? UNKNOWN;
            }
            if (a.type === "docker:index/remoteImage:RemoteImage") state.imageId = a.inputs.name;
            if (a.type === "command:remote:Command") Object.assign(state, { stdout: stdoutOf(a.name), stderr: "" });
            seen.set(`${a.type}::${a.name}`, { type: a.type, name: a.name, inputs: unwrapSecret(a.inputs) });
            return { id: `${a.name}-id`, state };
        },
        call(a) {
            if (a.token === "cloudflare:index/getZone:getZone") return { id: "0".repeat(32), zoneId: "0".repeat(32) };
            // Cloudflare's published ranges are Cloudflare's fact, not the program's: the
            // caller gives the ones the host's site carries (ops.ts cloudflareRangesOnHost).
            if (a.token === "cloudflare:index/getIpRanges:getIpRanges") {
                // (an error thrown here would only fail an Output: reported after the run)
                if (!cloudflareRanges) run.rangesMissing = true;
                return { ipv4Cidrs: (cloudflareRanges ?? []).filter((c) => !c.includes(":")), ipv6Cidrs: (cloudflareRanges ?? []).filter((c) => c.includes(":")) };
            }
            return a.inputs;
        },
    };
}

/** Runs `f` with BERTH_REVISION_SHA set to `sha` (when given), restoring the variable after. */
async function withRevisionSha<T>(sha: string | undefined, f: () => Promise<T>): Promise<T> {
    const before = process.env[REVISION_SHA_ENV];
    if (sha) process.env[REVISION_SHA_ENV] = sha;
    try {
        return await f();
    } finally {
        if (sha) {
            if (before === undefined) delete process.env[REVISION_SHA_ENV];
            else process.env[REVISION_SHA_ENV] = before;
        }
    }
}

/** Loads a fresh copy of index.ts in a mock stack, recording the registration order in `order`; returns the error the program threw, if any. */
async function loadProgram(order: string[]): Promise<Error | undefined> {
    let failure: Error | undefined;
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            order.push(`${a.type}::${a.name}`);
            return undefined;
        });
        // A fresh copy of the program's modules (config is read at load).
        for (const k of Object.keys(require.cache)) {
            if (k.startsWith(ROOT) && ![`${path.sep}node_modules${path.sep}`, `${path.sep}test${path.sep}`, `${path.sep}ops${path.sep}`].some((d) => k.includes(d))) delete require.cache[k];
        }
        try {
            require(path.join(ROOT, "index.ts"));
        } catch (e) {
            failure = e as Error;
        }
        return {};
    });
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return failure;
}

const isCommand = (r: Registered) => r.type === "command:remote:Command" && typeof r.inputs.create === "string";
const toCommand = (r: Registered): DeclaredCommand => ({ name: r.name, script: scriptOf(r.inputs.create), stdin: typeof r.inputs.stdin === "string" ? r.inputs.stdin : undefined });

/** The commands whose stand-in stdout appears in another resource's inputs (see the header). */
export function readCommands(resources: readonly { type: string; name: string; inputs: any }[]): ReadCommand[] {
    const texts = resources.map((r) => JSON.stringify(r.inputs));
    return resources.flatMap((r, i) => {
        if (!isCommand(r)) return [];
        const mark = standInStdout(r.name).trim();
        if (!texts.some((t, j) => j !== i && t.includes(mark))) return [];
        return [{ ...toCommand(r), host: String(r.inputs.connection?.host ?? "") }];
    });
}

/**
 * Runs index.ts under mocks with `values`; `randoms` are the generated
 * passwords by resource name, `sha` the revision to declare (the one
 * served), `outputs` the stdout of each command others read (see the
 * header; without it, empty).
 */
export async function declared(
    cfg: BerthConfig,
    values: Readonly<Record<string, string>>,
    secretKeys: ReadonlySet<string>,
    randoms: Record<string, string> | undefined,
    sha: string | undefined,
    cloudflareRanges?: readonly string[],
    outputs?: StdoutSource,
): Promise<Declared> {
    const first = await runProgram(cfg, values, secretKeys, randoms, sha, cloudflareRanges, standInStdout);
    const read = readCommands(first.resources);
    const stdouts = read.length > 0 && outputs ? await outputs(read) : {};
    // Nothing read: the first run's scripts hold no stand-in. Otherwise declare again with the real stdouts.
    const run = read.length === 0 ? first : await runProgram(cfg, values, secretKeys, randoms, sha, cloudflareRanges, (name) => stdouts[name] ?? "");
    const { resources, secretsKnown } = run;
    // Several hosts: only what the program declares for the host this view is for.
    const here = (r: { inputs: any }) => !cfg.multiHost || r.inputs.connection?.host === cfg.host.address;
    const commands: DeclaredCommand[] = resources.filter((r) => isCommand(r) && here(r)).map(toCommand);
    const files = new Map<string, DeclaredFile>();
    for (const c of commands) {
        for (const f of filesOf(c)) {
            const had = files.get(f.path);
            if (had) f.variants.forEach((v) => had.variants.some((w) => w.sha256 === v.sha256) || had.variants.push(v));
            else files.set(f.path, f);
        }
    }
    const containers = resources
        .filter((r) => r.type === "docker:index/container:Container" && (!cfg.multiHost || cfg.host.roles.includes("data")))
        .map((r) => ({ name: String(r.inputs.name), image: String(r.inputs.image) }));
    return { commands, read: read.map((c) => ({ ...c, stdout: stdouts[c.name] ?? "" })), files: [...files.values()], containers, secretsKnown };
}

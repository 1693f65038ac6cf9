/**
 * `npx berth init <stack>`: writes `Pulumi.<stack>.yaml` for one host and
 * prints the Pulumi CLI commands still needed (the stack, the secrets).
 *
 * It asks (on a terminal; flags otherwise) for the host, the domain, the
 * repository and the app name, pins the host's SSH key (and the git server's,
 * for an SSH repository) with `ssh-keyscan -t ed25519`, and writes a stack
 * file that `parseConfig` accepts once the printed secrets are set. The file
 * holds no secret and no `encryptionsalt`: with the passphrase secrets
 * manager an existing salt is reused as it is, and a salt made with another
 * passphrase (or made up) answers "incorrect passphrase" (pulumi/pulumi
 * pkg/secrets/passphrase/manager.go: NewPromptingPassphraseSecretsManager
 * keeps info.EncryptionSalt when set; symmetricCrypterFromPhraseAndState
 * returns ErrIncorrectPassphrase when the salt's check message does not
 * decrypt). `pulumi stack init` writes a fresh one.
 *
 * With `--force` an existing file is edited, not replaced: only the keys
 * berth init manages change, the salt and the secrets already set stay (and
 * are not asked for again).
 *
 * Every printed command is the Pulumi CLI's own (pulumi/pulumi at 1b59498):
 * - `pulumi stack init <stack> --secrets-provider passphrase`:
 *   pkg/cmd/pulumi/stack/stack_new.go newStackNewCmd ("init" is an alias of
 *   `stack new`; flag --secrets-provider); pkg/cmd/pulumi/stack/secrets.go
 *   createSecretsManagerForNewStack reads the existing Pulumi.<stack>.yaml
 *   (readStackConfiguration -> DetectProjectStack), keeps its config, and
 *   saves the new salt into it (needsSaveProjectStackAfterSecretManger).
 * - `pulumi config set --secret <key> -s <stack> [< file]`:
 *   pkg/cmd/pulumi/config/config.go newConfigSetCmd (flags --secret, --path;
 *   -s/--stack from NewConfigCmd) and configSetCmd.Run: without a value
 *   argument it reads stdin when stdin is not a terminal (trailing newline
 *   stripped), and prompts without echo (cmdutil.ReadConsoleNoEcho) for a
 *   --secret on a terminal, so no secret lands in the shell's history.
 * - `--path 'secretEnv.NAME'`: pkg/cmd/pulumi/config/io.go parseConfigKey
 *   (with --path only the top segment gets the project namespace, `berth:`),
 *   and config.go's help ("will set the value of `parent` to a map").
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline/promises";
import * as YAML from "yaml";
import { configErrorMessage, NAMESPACE, parseConfig } from "../../lib/config";
import { sshEndpoint } from "../../lib/revision";
import { hostKeyType, isHostKey, isHostname, isImmutableRevision, UNPINNABLE_GIT_HOST_KEY_TYPES, UNPINNABLE_HOST_KEY_TYPES } from "../../lib/config/checks";

/** `ssh-keyscan -t ed25519 [-p port] <host>`'s stdout ("host type base64" lines). Injected in tests: no network. */
export type Keyscan = (host: string, port: number) => string;

export const sshKeyscan: Keyscan = (host, port) => {
    const r = spawnSync("ssh-keyscan", ["-t", "ed25519", ...(port === 22 ? [] : ["-p", String(port)]), host], { encoding: "utf8", timeout: 30_000 });
    if (r.error) throw new Error(`berth init: cannot run ssh-keyscan (${r.error.message}); install OpenSSH's client`);
    return r.stdout ?? "";
};

export interface InitOptions {
    stack: string;
    host?: string;
    domain?: string;
    repository?: string;
    app?: string;
    /** Cloudflare zone name; default: the domain's last two labels. */
    zone?: string;
    /** false writes `berth:dns: false` (no Cloudflare records, no cloudflare:apiToken). */
    dns?: boolean;
    revision?: string;
    /** Take the defaults, ask nothing. */
    yes?: boolean;
    /** Edit an existing stack file. */
    force?: boolean;
}

export const INIT_USAGE = `usage: berth init <stack> [--host <IPv4>] [--domain <name>] [--repository <git URL>] [--app <name>]
                  [--zone <Cloudflare zone> | --no-dns] [--revision <branch|sha|tag>] [--yes] [--force]
  writes Pulumi.<stack>.yaml (host key pinned with ssh-keyscan) and prints the pulumi commands still needed`;

export function parseInitArgs(argv: string[]): InitOptions {
    const o: Partial<InitOptions> = {};
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined || v.startsWith("--")) throw new InitUsageError(`${a} needs a value`);
            return v;
        };
        if (a === "-s" || a === "--stack") o.stack = value();
        else if (a === "--host") o.host = value();
        else if (a === "--domain") o.domain = value();
        else if (a === "--repository") o.repository = value();
        else if (a === "--app") o.app = value();
        else if (a === "--zone") o.zone = value();
        else if (a === "--no-dns") o.dns = false;
        else if (a === "--revision") o.revision = value();
        else if (a === "--yes" || a === "-y") o.yes = true;
        else if (a === "--force") o.force = true;
        else if (a.startsWith("-")) throw new InitUsageError(`unknown option ${a}`);
        else positional.push(a);
    }
    if (positional.length > 1) throw new InitUsageError(`one stack name, got ${positional.join(" ")}`);
    const stack = o.stack ?? positional[0];
    if (!stack) throw new InitUsageError("berth init <stack>");
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new InitUsageError(`${JSON.stringify(stack)} is not a stack name (letters, digits, _ . -)`);
    return { ...o, stack };
}

export class InitUsageError extends Error {}

/** Asks for a value (the default in brackets); undefined when there is no terminal. */
export type Ask = (question: string, def?: string) => Promise<string | undefined>;

export function terminalAsk(): Ask | undefined {
    if (!process.stdin.isTTY || !process.stdout.isTTY) return undefined;
    return async (question, def) => {
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        try {
            const a = (await rl.question(`${question}${def ? ` [${def}]` : ""}: `)).trim();
            return a || def;
        } finally {
            rl.close();
        }
    };
}

/** The app name a repository suggests: `git@github.com:example-co/shop.git` -> `shop` (a-z, 0-9, -; at most 20). */
export function appFromRepository(repository: string): string {
    const last = repository.replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
    const name = last
        .replace(/\.git$/, "")
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^[^a-z]+/, "")
        .slice(0, 20)
        .replace(/-+$/, "");
    return name || "app";
}

/** SHA256 fingerprint of a host key line, as `ssh-keygen -lf` prints it. */
export function fingerprint(hostKey: string): string {
    const blob = Buffer.from(hostKey.trim().split(/\s+/)[1] ?? "", "base64");
    return `SHA256:${crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * The host key to pin from ssh-keyscan's output: the first valid key whose
 * type the config accepts (`refused`: lib/config/checks.ts); a clear error
 * when the server offers none.
 */
export function pinFromKeyscan(output: string, server: string, refused: readonly string[], what: string): string {
    const keys = output
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(/\s+/).slice(1, 3).join(" "))
        .filter(isHostKey);
    const ok = keys.find((k) => !refused.includes(hostKeyType(k)));
    if (ok) return ok;
    if (keys.length > 0) {
        const types = [...new Set(keys.map(hostKeyType))].join(", ");
        throw new Error(
            `berth init: ${server} offers only ${types} host keys, which berth refuses to pin for ${what} (${refused.join(", ")}: the SSH client would verify it with SHA-1 signatures, which OpenSSH >= 8.8 refuses); give the server an ed25519 host key (ssh-keygen -A) and run berth init again`,
        );
    }
    throw new Error(`berth init: ssh-keyscan -t ed25519 ${server} returned no host key; is sshd reachable there, with an ed25519 host key?`);
}

/** What the command line and the prompts settled on. */
interface Answers {
    host: string;
    domain: string;
    repository: string;
    app: string;
    dns: boolean;
    zone?: string;
    revision: string;
}

async function answers(o: InitOptions, production: boolean, existing: Record<string, unknown>, ask: Ask | undefined): Promise<Answers> {
    const get = async (flag: string, given: string | undefined, question: string, def: string | undefined, check: (v: string) => string | undefined): Promise<string> => {
        let v = given;
        if (v === undefined) {
            if (o.yes || !ask) v = def;
            else v = await ask(question, def);
        }
        if (v === undefined || v === "") throw new InitUsageError(`berth init: ${flag} is needed (no terminal to ask on, or --yes)`);
        const problem = check(v);
        if (problem) throw new InitUsageError(`berth init: ${flag} ${JSON.stringify(v)}: ${problem}`);
        return v;
    };
    const str = (k: string) => (typeof existing[`${NAMESPACE}:${k}`] === "string" ? (existing[`${NAMESPACE}:${k}`] as string) : undefined);
    const host = await get("--host", o.host, "Host (IPv4 address of the VPS)", str("host"), (v) => (/^\d{1,3}(\.\d{1,3}){3}$/.test(v) ? undefined : "is not an IPv4 address"));
    const domain = await get("--domain", o.domain, "Domain the app is served on", str("domain"), (v) => (isHostname(v) ? undefined : "is not a host name"));
    const repository = await get("--repository", o.repository, "Git repository of the app (ssh://, git@host:path, https://)", str("repository"), (v) =>
        /^(ssh:\/\/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:\S+|https:\/\/\S+|file:\/\/\/\S+)$/.test(v) ? undefined : "is not a git URL (ssh://, user@host:path, https:// or file:///)",
    );
    const app = await get("--app", o.app, "App name", str("app") ?? appFromRepository(repository), (v) =>
        /^[a-z][a-z0-9-]{0,19}$/.test(v) && !v.endsWith("-") ? undefined : "is not an app name (a-z, 0-9, -; at most 20 characters)",
    );
    const existingCf = existing[`${NAMESPACE}:cloudflare`] as { zone?: string; zoneId?: string } | undefined;
    const dns = o.dns ?? existing[`${NAMESPACE}:dns`] !== false;
    let zone: string | undefined;
    if (dns && !(o.zone === undefined && existingCf?.zoneId)) {
        zone = await get("--zone", o.zone, "Cloudflare zone of the domain (--no-dns for none)", existingCf?.zone ?? domain.split(".").slice(-2).join("."), (v) =>
            !isHostname(v) ? "is not a zone name" : domain === v || domain.endsWith(`.${v}`) ? undefined : `does not contain ${domain}`,
        );
    }
    const revision = await get(
        "--revision",
        o.revision,
        production ? "Revision to deploy (a full commit sha or a tag: production never follows a branch)" : "Revision (branch, tag or sha)",
        str("revision") ?? (production ? undefined : "main"),
        (v) => (production && !isImmutableRevision(v) ? "can move; production needs a full commit sha or a tag (berth:revision)" : undefined),
    );
    return { host, domain, repository, app, dns, zone, revision };
}

/**
 * `berth init ...` from the command line: prints what init returns. Usage
 * problems exit 64 (wrong arguments with the usage); a refused host key or
 * an invalid answer throws (the CLI prints the message, exit 1).
 */
export async function initMain(argv: string[], keyscan: Keyscan = sshKeyscan, ask: Ask | undefined = terminalAsk()): Promise<number> {
    let o: InitOptions;
    try {
        o = parseInitArgs(argv);
    } catch (e) {
        if (!(e instanceof InitUsageError)) throw e;
        process.stderr.write(`${e.message}\n${INIT_USAGE}\n`);
        return 64;
    }
    try {
        const r = await init(o, findProjectRoot(process.cwd()), keyscan, ask);
        process.stdout.write(`${r.text.join("\n")}\n`);
        return 0;
    } catch (e) {
        if (!(e instanceof InitUsageError)) throw e;
        process.stderr.write(`${e.message}\n`);
        return 64;
    }
}

/** The directory of the nearest Pulumi.yaml at or above `dir`: where Pulumi looks for Pulumi.<stack>.yaml. */
export function findProjectRoot(dir: string): string {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        if (fs.existsSync(path.join(d, "Pulumi.yaml"))) return d;
        if (path.dirname(d) === d) throw new InitUsageError(`berth init: no Pulumi.yaml in ${dir} or above; run it in your berth checkout`);
    }
}

export interface InitResult {
    file: string;
    /** What to print. */
    text: string[];
}

/**
 * Writes (or, with --force, edits) `<root>/Pulumi.<stack>.yaml` and returns
 * the lines to print. `keyscan` and `ask` are parameters so tests need no
 * network and no terminal.
 */
export async function init(o: InitOptions, root: string, keyscan: Keyscan = sshKeyscan, ask: Ask | undefined = terminalAsk()): Promise<InitResult> {
    const file = path.join(root, `Pulumi.${o.stack}.yaml`);
    const exists = fs.existsSync(file);
    if (exists && !o.force) throw new InitUsageError(`berth init: ${path.basename(file)} exists; --force edits it (keeps its salt, secrets and other keys)`);
    const doc = exists ? YAML.parseDocument(fs.readFileSync(file, "utf8")) : new YAML.Document({ config: {} });
    if (doc.errors.length > 0) throw new Error(`berth init: ${path.basename(file)}: ${doc.errors[0].message}`);
    const existing = ((doc.toJS() ?? {}).config ?? {}) as Record<string, unknown>;
    if (existing[`${NAMESPACE}:hosts`] !== undefined) {
        throw new InitUsageError(`berth init: ${path.basename(file)} lists berth:hosts; berth init writes one-host stacks (edit the hosts by hand, README "Several hosts")`);
    }
    const production = o.stack === "production" || existing[`${NAMESPACE}:production`] === true;
    const a = await answers(o, production, existing, ask);

    const sshPort = typeof existing[`${NAMESPACE}:sshPort`] === "number" ? (existing[`${NAMESPACE}:sshPort`] as number) : 22;
    const hostKey = pinFromKeyscan(keyscan(a.host, sshPort), sshPort === 22 ? a.host : `${a.host} -p ${sshPort}`, UNPINNABLE_HOST_KEY_TYPES, "a VPS");
    const git = sshEndpoint(a.repository);
    const gitKey = git && pinFromKeyscan(keyscan(git.host, git.port), git.port === 22 ? git.host : `${git.host} -p ${git.port}`, UNPINNABLE_GIT_HOST_KEY_TYPES, "a git server");

    const set = (k: string, v: unknown) => (v === undefined ? doc.deleteIn(["config", `${NAMESPACE}:${k}`]) : doc.setIn(["config", `${NAMESPACE}:${k}`], v));
    set("app", a.app);
    set("host", a.host);
    set("hostKey", hostKey);
    set("domain", a.domain);
    set("dns", a.dns ? undefined : false);
    if (a.dns && a.zone) {
        const cf = { ...((existing[`${NAMESPACE}:cloudflare`] as object | undefined) ?? {}), zone: a.zone } as Record<string, unknown>;
        delete cf.zoneId;
        set("cloudflare", cf);
    }
    set("repository", a.repository);
    set("repositoryHostKey", gitKey);
    set("revision", a.revision);
    if (!exists) {
        doc.commentBefore = [
            ` Written by \`npx berth init ${o.stack}\`. No secrets and no encryptionsalt here:`,
            ` \`pulumi stack init\` adds the salt, \`pulumi config set --secret\` the secrets`,
            ` (the lines berth init printed). Every key: README "Configuration reference".`,
        ].join("\n");
    }
    const text = doc.toString({ lineWidth: 0 });
    const written = (YAML.parse(text) ?? {}) as { config?: Record<string, unknown>; [k: string]: unknown };
    const config = written.config ?? {};
    const needed = neededSecrets(o.stack, a, config);
    // What berth init wrote must be what the program accepts once the printed secrets are set
    // (other keys an edited file holds are the user's: preview reports them).
    const mine = Object.fromEntries([...MANAGED, "sshAgent", "production"].map((k) => `${NAMESPACE}:${k}`).filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
    const secrets = [...needed.filter((n) => !n.optional).map((n) => n.key), ...SET_BY_INIT_LINES.filter((k) => config[k] !== undefined)];
    const check = parseConfig(withPlaceholderSecrets(mine, secrets), { project: NAMESPACE, stack: o.stack, secretKeys: new Set(secrets) });
    if (!check.ok) throw new Error(configErrorMessage(o.stack, check.errors));
    fs.writeFileSync(file, text);

    const stackExists = ["encryptionsalt", "secretsprovider", "encryptedkey"].some((k) => written[k] !== undefined);
    return { file, text: report(o.stack, path.basename(file), a, hostKey, git && gitKey ? { ...git, key: gitKey } : undefined, needed, stackExists, exists) };
}

interface Needed {
    command: string;
    why: string;
    /** berth:privateKey, berth:secretEnv.NAME, cloudflare:apiToken */
    key: string;
    optional?: boolean;
}

/** The secrets the stack still needs (those not already in the file), as `pulumi config set --secret` lines with their reason. */
function neededSecrets(stack: string, a: Answers, config: Record<string, unknown>): Needed[] {
    const out: Needed[] = [];
    const has = (k: string) => config[k] !== undefined;
    if (!has(`${NAMESPACE}:privateKey`) && config[`${NAMESPACE}:sshAgent`] !== true) {
        out.push({
            key: `${NAMESPACE}:privateKey`,
            command: `pulumi config set --secret privateKey -s ${stack} < ~/.ssh/berth_ed25519`,
            why: `the SSH key berth logs in to ${a.host} with (its public half in the login user's authorized_keys)`,
        });
    }
    if (sshEndpoint(a.repository) && !has(`${NAMESPACE}:deployKey`)) {
        out.push({
            key: `${NAMESPACE}:deployKey`,
            command: `pulumi config set --secret deployKey -s ${stack} < ~/.ssh/${a.app}_deploy_key`,
            why: `a read-only deploy key of ${a.repository}: the host clones the app with it`,
        });
    }
    if (a.dns && !has("cloudflare:apiToken")) {
        out.push({
            key: "cloudflare:apiToken",
            command: `pulumi config set --secret cloudflare:apiToken -s ${stack}`,
            why: `a Cloudflare API token with DNS edit rights on ${a.zone ?? "the zone"} for the A/AAAA records (Pulumi prompts for it without echo); or set berth:dns: false`,
        });
    }
    out.push({
        key: `${NAMESPACE}:secretEnv.NAME`,
        optional: true,
        command: `pulumi config set --secret --path 'secretEnv.NAME' -s ${stack}`,
        why: "each secret environment variable of the app (e.g. RAILS_MASTER_KEY), prompted for without echo",
    });
    return out;
}

/** The keys berth init writes (with berth:cloudflare's zone). */
const MANAGED = ["app", "host", "hostKey", "domain", "dns", "cloudflare", "repository", "repositoryHostKey", "revision"];

/** The secrets berth init prints a line for (when the file does not hold them yet). */
const SET_BY_INIT_LINES = [`${NAMESPACE}:privateKey`, `${NAMESPACE}:deployKey`, "cloudflare:apiToken"];

/** Config as the engine hands it over (strings, objects as JSON), with a placeholder for each secret key. */
function withPlaceholderSecrets(config: Record<string, unknown>, secrets: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    for (const k of secrets) out[k] = k.endsWith("Key") ? "-----BEGIN OPENSSH PRIVATE KEY-----\nplaceholder\n-----END OPENSSH PRIVATE KEY-----\n" : "placeholder";
    return out;
}

function report(stack: string, file: string, a: Answers, hostKey: string, git: { host: string; port: number; key: string } | undefined, needed: Needed[], stackExists: boolean, edited: boolean): string[] {
    const cmd = (command: string, why: string) => [`  ${command}`, `      # ${why}`];
    const required = needed.filter((n) => !n.optional);
    return [
        `${edited ? "Updated" : "Wrote"} ${file}: app ${a.app}, host ${a.host}, ${a.domain}, revision ${a.revision}.`,
        `Pinned ${a.host}: ${hostKeyType(hostKey)} ${fingerprint(hostKey)}`,
        ...(git ? [`Pinned git server ${git.host}${git.port === 22 ? "" : `:${git.port}`}: ${hostKeyType(git.key)} ${fingerprint(git.key)}`] : []),
        "ssh-keyscan trusts the network once: compare the fingerprints with the server's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)",
        "or your provider's console.",
        "",
        "Still needed, one at a time (some prompt for input):",
        ...(stackExists ? [] : cmd(`pulumi stack init ${stack} --secrets-provider passphrase`, `creates the stack if it does not exist yet (skip it if it does); writes a fresh encryptionsalt into ${file}`)),
        ...required.flatMap((n) => cmd(n.command, n.why)),
        ...(required.length === 0 && stackExists ? ["  nothing: the secrets are set"] : []),
        "Optional:",
        ...needed.filter((n) => n.optional).flatMap((n) => cmd(n.command, n.why)),
        "Then:",
        ...cmd(`pulumi preview --diff -s ${stack}`, "what would change, secrets masked"),
    ];
}

/** `berth init ...` (cli/commands/index.ts). */
export function main(argv: string[]): Promise<number> {
    return initMain(argv);
}

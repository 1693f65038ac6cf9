/**
 * The Docker provider reaches the host's engine by running the system `ssh`
 * (docker/cli connhelper: `ssh <sshOpts> -T -l user -p port -- host docker
 * system dial-stdio`), which authenticates only with the SSH agent or key
 * files. So that a stack with only `berth:privateKey` (no agent) works, the
 * program writes that key to `~/.berth/ssh/<project>-<stack>-<host>.key`
 * (lib/names.ts `sshIdentityFile`) under the passwd home directory of the
 * user running `pulumi`, and `dockerSshOpts` points ssh at it.
 *
 * When: at program start (index.ts, right after the configuration is
 * validated), on every run that executes the program: `pulumi up`, `pulumi
 * preview` (also in CI), `pulumi destroy --run-program`, `pulumi refresh
 * --run-program`. Once per run, only when the file's content or mode differ,
 * atomically (a 0600 temporary file in the same directory renamed over it), in
 * a 0700 directory. Commands that do not run the program (`pulumi destroy`,
 * `pulumi refresh`, the refresh step of `preview --refresh`) use the file a
 * previous run left; on a fresh machine run `node --import tsx cli/main.ts
 * prepare <stack>` (what the CI workflows do) or a `pulumi preview` first.
 *
 * Hosts the configuration no longer lists: after the data host moves, the
 * old host's containers are deleted through the old Docker provider, whose
 * ssh names the old host's key file, which only the machine that ran the
 * earlier `up` has. `prepare` therefore also writes the key file of every
 * Docker provider the stack's state still holds (`writeStateSshIdentities`:
 * the provider's `sshOpts` name the file; the key is `berth:privateKey`,
 * one key for every host of a stack), so a fresh CI runner can delete them.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BerthConfig } from "./config";
import { hostView, plan } from "./plan";
import { sshIdentityFile } from "./names";

/** Files written by this process (a program run writes each at most once). */
const written = new Set<string>();

/** The passwd home directory of the user running pulumi (what ssh's `~` means). */
export function passwdHome(): string {
    return os.userInfo().homedir;
}

/**
 * Writes `berth:privateKey` to its key file when set; returns the file's
 * absolute path, or undefined when the stack authenticates with the agent.
 */
export function writeSshIdentity(cfg: Pick<BerthConfig, "project" | "stack" | "host">, home: string = passwdHome()): string | undefined {
    const key = cfg.host.privateKey;
    if (key === undefined) return undefined;
    return writeKeyFile(path.join(home, sshIdentityFile(cfg.project, cfg.stack, cfg.host.address).relative), key);
}

/** Writes a key file (0600 in a 0700 directory, atomically, only when it differs; once per run). */
function writeKeyFile(file: string, key: string): string {
    if (written.has(file)) return file;
    const content = key.endsWith("\n") ? key : `${key}\n`;
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    let same = false;
    try {
        same = (fs.statSync(file).mode & 0o777) === 0o600 && fs.readFileSync(file, "utf8") === content;
    } catch {
        same = false;
    }
    if (!same) {
        const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`);
        try {
            fs.writeFileSync(tmp, content, { mode: 0o600, flag: "wx" });
            fs.renameSync(tmp, file);
        } finally {
            fs.rmSync(tmp, { force: true });
        }
    }
    written.add(file);
    return file;
}

/**
 * The key file the Docker provider's ssh names: the data host's (the one host
 * that runs Docker; with external data there is none and nothing is written).
 */
export function writeDockerSshIdentity(cfg: BerthConfig, home: string = passwdHome()): string | undefined {
    const p = plan(cfg);
    return p.data.kind === "containers" ? writeSshIdentity(hostView(p, p.data.host), home) : undefined;
}

/** A resource of a stack's state: `pulumi stack export` (`deployment.resources[]`) or the test applier's state file. */
export interface StateResource {
    /** Set where the caller read it (`pulumi stack export`, the applier's state). */
    urn?: string;
    type: string;
    /** A replaced or removed resource awaiting its delete (`delete: true` in Pulumi's state, the applier's pendingDelete). */
    delete?: boolean;
    inputs?: Record<string, unknown>;
}

/** The key files (relative to the home directory) that the stack's Docker providers in `resources` name. */
export function stateKeyFiles(resources: readonly StateResource[], project: string, stack: string): string[] {
    // Only files of this stack, as lib/names.ts names them: the state never picks a path.
    const prefix = sshIdentityFile(project, stack, "h").relative.replace(/h\.key$/, "");
    const out = new Set<string>();
    for (const r of resources) {
        if (r.type !== "pulumi:providers:docker") continue;
        let opts: unknown = r.inputs?.sshOpts;
        if (opts && typeof opts === "object" && !Array.isArray(opts) && "value" in opts) opts = (opts as { value: unknown }).value; // a secret-wrapped value
        if (typeof opts === "string") {
            try {
                opts = JSON.parse(opts); // providers' non-string config is stored as JSON text
            } catch {
                continue;
            }
        }
        if (!Array.isArray(opts)) continue;
        for (const o of opts) {
            const m = /^IdentityFile=~\/(.+)$/.exec(String(o));
            if (!m || !m[1].startsWith(prefix) || !m[1].endsWith(".key")) continue;
            const host = m[1].slice(prefix.length, -".key".length);
            // The same check and name as the program's (a host that is no plain name is no file of ours).
            try {
                out.add(sshIdentityFile(project, stack, host).relative);
            } catch {
                /* not a berth key file name */
            }
        }
    }
    return [...out].sort();
}

/**
 * Writes `berth:privateKey` to the key file of every Docker provider the
 * stack's state still holds (see the header); returns the absolute paths.
 * Nothing without `berth:privateKey` (the agent authenticates then).
 */
export function writeStateSshIdentities(cfg: Pick<BerthConfig, "project" | "stack" | "host">, resources: readonly StateResource[], home: string = passwdHome()): string[] {
    const key = cfg.host.privateKey;
    if (key === undefined) return [];
    return stateKeyFiles(resources, cfg.project, cfg.stack).map((rel) => writeKeyFile(path.join(home, rel), key));
}

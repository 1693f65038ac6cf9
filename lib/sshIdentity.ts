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
 * previous run left; on a fresh machine run `node --import tsx lib/cli.ts
 * prepare <stack>` (what the CI workflows do) or a `pulumi preview` first.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BerthConfig } from "./config";
import { dataHost, forHost } from "./topology";
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
    const file = path.join(home, sshIdentityFile(cfg.project, cfg.stack, cfg.host.address).relative);
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
    const data = dataHost(cfg);
    return data ? writeSshIdentity(forHost(cfg, data), home) : undefined;
}

/**
 * SSH to a stack's host for the day-2 operations, with exactly the options
 * the Docker provider's `ssh` uses (components/data/dataServices.ts
 * `dockerSshOpts`): the pinned host key through KnownHostsCommand, the key
 * file lib/sshIdentity.ts writes from `berth:privateKey` (or the agent with
 * `berth:sshAgent`), BatchMode. Every command is a script built with
 * lib/shell.ts and wrapped by `remote` (`bash -c`, under `sudo -n` for a
 * non-root SSH user), like the program's own remote commands.
 *
 * Output that reaches the user passes through `redactor`: any secret value
 * the operation knows (the config's secrets, the generated passwords) is
 * replaced by `[secret]`, as a second guard behind never printing them.
 */
import { spawn, spawnSync } from "node:child_process";
import * as readline from "node:readline";
import { dockerSshOpts } from "../../lib/names";
import { BerthConfig } from "../../lib/config";
import { remote } from "../../lib/shell";
import { writeSshIdentity } from "../../lib/sshIdentity";

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Replaces every known secret value (and each long line of a multi-line one) with `[secret]`. */
export function redactor(secrets: Iterable<string>): (text: string) => string {
    const needles = new Set<string>();
    for (const s of secrets) {
        if (!s || s.length < 8) continue;
        needles.add(s);
        for (const line of s.split("\n")) if (line.trim().length >= 16) needles.add(line.trim());
    }
    const sorted = [...needles].sort((a, b) => b.length - a.length);
    return (text) => sorted.reduce((t, n) => t.split(n).join("[secret]"), text);
}

export class HostShell {
    private readonly base: string[];

    constructor(private readonly cfg: BerthConfig, private readonly redact: (t: string) => string = (t) => t) {
        writeSshIdentity(cfg);
        this.base = ["-l", cfg.host.sshUser, "-p", String(cfg.host.sshPort), ...dockerSshOpts(cfg)];
    }

    /** The ssh argv for a script (`tty`: allocate a terminal for an interactive session). */
    argv(body: string, tty = false): string[] {
        return [...this.base, tty ? "-t" : "-T", "--", this.cfg.host.address, remote(body, { sudo: this.cfg.host.sudo })];
    }

    /** Runs a script and captures its output (redacted). */
    run(body: string, input?: string, timeoutMs = 300_000): RunResult {
        const r = spawnSync("ssh", this.argv(body), { encoding: "utf8", input, timeout: timeoutMs, maxBuffer: 256 << 20 });
        if (r.error) throw new Error(`berth: ssh to ${this.cfg.host.address} failed: ${r.error.message}`);
        return { code: r.status ?? 255, stdout: this.redact(r.stdout ?? ""), stderr: this.redact(r.stderr ?? "") };
    }

    /** Like run, but fails with the script's stderr when it does not exit 0. */
    check(body: string, what: string, input?: string): string {
        const r = this.run(body, input);
        if (r.code !== 0) throw new Error(`berth: ${what} failed on ${this.cfg.host.address} (exit ${r.code}): ${r.stderr.trim()}`);
        return r.stdout;
    }

    /**
     * Runs a script with the user's terminal: stdin is passed through, output
     * is streamed line by line through the redactor. With `tty` (stdin is a
     * terminal) ssh gets a terminal and output goes straight to it.
     */
    stream(body: string, opts: { tty?: boolean } = {}): Promise<number> {
        return new Promise((resolve, reject) => {
            if (opts.tty) {
                const p = spawn("ssh", this.argv(body, true), { stdio: "inherit" });
                p.on("error", reject);
                p.on("close", (c) => resolve(c ?? 255));
                return;
            }
            const p = spawn("ssh", this.argv(body), { stdio: ["inherit", "pipe", "pipe"] });
            const pipe = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream) =>
                new Promise<void>((done) => {
                    const rl = readline.createInterface({ input: from, crlfDelay: Infinity });
                    rl.on("line", (l) => to.write(`${this.redact(l)}\n`));
                    rl.on("close", () => done());
                });
            const piped = Promise.all([pipe(p.stdout!, process.stdout), pipe(p.stderr!, process.stderr)]);
            p.on("error", reject);
            p.on("close", (c) => void piped.then(() => resolve(c ?? 255)));
        });
    }
}

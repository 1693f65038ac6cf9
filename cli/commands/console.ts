/** `berth console [--shell]`: Rails console (or a shell) as the app user with the app's environment. */
import { BerthConfig } from "../../lib/config";
import { runAsApp } from "../../lib/names";
import { presetOf } from "../../lib/presets";
import { script } from "../../lib/shell";
import { CommandContext } from "../support/command";

/**
 * `body` as the app user in the current release with the app's environment:
 * the same `systemd-run` as the release's build and release command
 * (components/app/release.ts runAsApp), with a terminal (`--pty`) for an
 * interactive session.
 */
export function releaseRunAs(cfg: BerthConfig, what: string, body: string, tty: boolean): string {
    const line = runAsApp(cfg, what, `${cfg.names.root}/current`, body);
    return tty ? line.replace(" --pipe ", " --pipe --pty ") : line;
}

/** `bin/rails console` (Rails preset) or a shell, as the app user in the current release with the app's environment. */
export function consoleScript(cfg: BerthConfig, opts: { shell?: boolean; tty: boolean }): string {
    const presetConsole = presetOf(cfg).console;
    const body = presetConsole && !opts.shell ? presetConsole : opts.tty ? "exec bash -i" : "exec bash";
    return script(releaseRunAs(cfg, "console", body, opts.tty));
}

export async function run(c: CommandContext): Promise<number> {
    const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
    return c.s.host.stream(consoleScript(c.s.cfg, { shell: c.opts.shell, tty }), { tty });
}

/** `berth exec [--] <command...>`: one command as the app user with the app's environment. */
import { BerthConfig } from "../../lib/config";
import { cmd, script } from "../../lib/shell";
import { releaseRunAs } from "./console";
import { CommandContext } from "../support/command";

/** A command line as the app user in the current release with the app's environment; its exit status is the script's. */
export function execScript(cfg: BerthConfig, argv: string[]): string {
    if (argv.length === 0) throw new Error("berth: exec needs a command, e.g. berth exec -s staging -- bin/rails runner 'puts 1'");
    const line = argv.length === 1 ? argv[0] : cmd(...argv);
    return script(releaseRunAs(cfg, "exec", line, false));
}

export async function run(c: CommandContext): Promise<number> {
    return c.s.host.stream(execScript(c.s.cfg, c.args));
}

/**
 * What every subcommand of `berth` (cli/commands/) is handed: its arguments,
 * the parsed options, the stack opened for it, and the one way to print an
 * operation's output (redacted, text or --json).
 */
import type { OpOptions, OpOutput, Stack } from "./stack";

/** Bad command-line input: main prints the message and the usage, exit 64. */
export class UsageError extends Error {}

/** The options of the command line (cli/main.ts parseArgs). */
export type CliOptions = OpOptions & { to?: string };

export interface CommandContext {
    /** The subcommand's name (`restart`, `stop` and `start` share a file). */
    readonly op: string;
    /** Its positional arguments. */
    readonly args: string[];
    readonly opts: CliOptions;
    /** The stack opened for it (`-s`, or `--config`/`--state`). */
    readonly s: Stack;
}

/** Prints an operation's output (`--json`: its data) through the stack's redactor; its exit code. */
export function print(c: Pick<CommandContext, "opts" | "s">, out: OpOutput): number {
    process.stdout.write(c.s.redact(c.opts.json ? `${JSON.stringify(out.data, null, 2)}\n` : `${out.text.join("\n")}\n`));
    return out.code;
}

/**
 * berth's one command line (`npx berth <op>`, scripts/berth; or
 * `node --import tsx cli/main.ts <op>`). Each subcommand is a file of
 * cli/commands/ and a line of its table (cli/commands/index.ts), which also
 * makes the usage below. Operations take the stack with `-s <stack>` (read
 * with the Pulumi CLI, or the local dev stack without it) or `--config
 * <file>` [`--state <file>` `--dns-api <url>`]: see cli/support/source.ts.
 * `--json` prints data for scripts. No secret is ever printed: output passes
 * through a redactor of every secret value the operation knows.
 *
 * Layers: cli/ may import components/ (their pure script builders) and lib/;
 * lib/ never imports cli/ or components/.
 */
import { COMMANDS, StackCommand } from "./commands";
import { CliOptions, UsageError } from "./support/command";

export { UsageError };

export const USAGE = [
    "usage: berth <op> -s <stack> [--host <name>] [--config <file> [--state <file>] [--dns-api <url>]] [--json]",
    ...Object.values(COMMANDS).map((c) => `  ${c.usage}`),
    "  help, --help, -h            this text",
].join("\n");

export interface Parsed {
    op: string;
    args: string[];
    opts: CliOptions;
}

export function parseArgs(argv: string[]): Parsed {
    const opts: CliOptions = {};
    const args: string[] = [];
    let op = "";
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            const v = argv[++i];
            if (v === undefined) throw new UsageError(`${a} needs a value`);
            return v;
        };
        if (a === "--") {
            args.push(...argv.slice(i + 1));
            break;
        } else if (a === "-s" || a === "--stack") opts.stack = value();
        else if (a === "--config") opts.configFile = value();
        else if (a === "--state") opts.stateFile = value();
        else if (a === "--dns-api") opts.dnsApi = value();
        else if (a === "--host") opts.host = value();
        else if (a === "--all-hosts") opts.allHosts = true;
        else if (a === "--json") opts.json = true;
        else if (a === "--yes" || a === "-y") opts.yes = true;
        else if (a === "-f" || a === "--follow") opts.follow = true;
        else if (a === "-n" || a === "--lines") {
            const n = Number(value());
            if (!Number.isInteger(n) || n < 1) throw new UsageError("-n needs a positive integer");
            opts.lines = n;
        } else if (a === "--shell") opts.shell = true;
        else if (a === "--dry-run") opts.dryRun = true;
        else if (a === "--local") opts.local = true;
        else if (op === "db" && (a === "-c" || a === "--command")) args.push(a, value());
        else if (op === "db" && /^--[a-z0-9_]+$/.test(a)) args.push(a);
        else if (op === "backup" && a === "--to") opts.to = value();
        else if (a.startsWith("-") && !(op === "exec" && args.length > 0)) throw new UsageError(`unknown option ${a}`);
        else if (!op) op = a;
        else {
            args.push(a);
            if (op === "exec") {
                args.push(...argv.slice(i + 1));
                break;
            }
        }
    }
    return { op, args, opts };
}

/** `--help`/`-h` anywhere before `--` or the command `exec` runs (`berth --help`, `berth status -h`). */
export function wantsHelp(argv: string[]): boolean {
    for (const a of argv) {
        if (a === "--" || a === "exec") return false;
        if (a === "--help" || a === "-h") return true;
    }
    return false;
}

export async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    // init, check-desired, set-desired read their own arguments (no stack options).
    const first = COMMANDS[argv[0] ?? ""];
    if (first && !first.stack && argv[0] !== "prepare") return first.load().main(argv.slice(1));
    const { op, args, opts } = parseArgs(argv);
    if (!op || op === "help") {
        process.stdout.write(`${USAGE}\n`);
        return op ? 0 : 64;
    }
    const command = COMMANDS[op];
    if (!command) throw new UsageError(`unknown operation ${JSON.stringify(op)}`);
    if (!command.stack) return command.load().main(ownArgv(argv, op));
    return runOnStack(op, command, args, opts);
}

/**
 * A stackless command's own arguments: everything but its name, options
 * before it included (`berth --config f --state s prepare dev`, as the e2e
 * and scripts call it).
 */
export function ownArgv(argv: string[], op: string): string[] {
    const i = argv.indexOf(op);
    return [...argv.slice(0, i), ...argv.slice(i + 1)];
}

/** A command on the stack the options name. */
async function runOnStack(op: string, command: StackCommand, args: string[], opts: CliOptions): Promise<number> {
    if (opts.allHosts && !command.allHosts) throw new UsageError(`--all-hosts is for ${Object.keys(COMMANDS).filter((k) => (COMMANDS[k] as StackCommand).allHosts).join(" and ")}`);
    if (opts.allHosts && opts.host !== undefined) throw new UsageError("--all-hosts or --host, not both");
    // Loaded here, not at the top: prepare, help and pulumi-cli stay fast.
    const { Stack } = require("./support/stack") as typeof import("./support/stack");
    const s = new Stack(opts);
    // Output of the app (logs, console, exec, ...) may hold generated secrets: know them to redact them.
    if (command.appOutput) s.randoms();
    return command.load().run({ op, args, opts, s });
}

/**
 * process.exit() once stdout and stderr have handed everything to the OS:
 * exit() itself drops what a pipe has not taken yet (`berth verify --json |
 * jq` of a large fleet would read truncated JSON).
 */
function exitAfterFlush(code: number): void {
    process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

if (require.main === module) {
    // The dev and --state sources load the test applier's modules; the SSH
    // key file must be the one in the real home (test/unit/harness.ts TEST_HOME).
    process.env.BERTH_REAL_HOME ??= "1";
    main(process.argv.slice(2)).then(
        (code) => exitAfterFlush(code),
        (e) => {
            process.stderr.write(`${(e as Error).message}\n`);
            if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
            exitAfterFlush(e instanceof UsageError ? 64 : 1);
        },
    );
}

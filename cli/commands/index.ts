/**
 * The subcommands of `berth`: one entry each, one file each in this
 * directory. An entry says how the command is used (USAGE is made of these
 * lines, in this order), whether it needs a stack, and loads its module only
 * when it runs (so prepare, help and pulumi-cli stay fast). Adding a command
 * is a file here and a line in this table.
 */
import type { CommandContext } from "../support/command";

/** A command that runs on an opened stack. */
export interface StackCommand {
    readonly usage: string;
    readonly stack: true;
    /** Prints what the app prints (logs, console, ...): the generated passwords are loaded to redact them. */
    readonly appOutput?: boolean;
    /** Accepts `--all-hosts`. */
    readonly allHosts?: boolean;
    readonly load: () => { run(c: CommandContext): Promise<number> };
}

/** A command that needs no stack: it reads its own arguments (everything after its name). */
export interface PlainCommand {
    readonly usage: string;
    readonly stack: false;
    readonly load: () => { main(argv: string[]): number | Promise<number> };
}

export type Command = StackCommand | PlainCommand;

export const COMMANDS: Readonly<Record<string, Command>> = {
    init: {
        usage: `init <stack> [--host <IPv4>] [--domain <name>] [--repository <url>] [--app <name>] [--zone <zone>|--no-dns]
               [--revision <rev>] [--yes] [--force]   write Pulumi.<stack>.yaml, print the pulumi commands still needed`,
        stack: false,
        load: () => require("./init"),
    },
    status: { usage: "status                      serving revision and slot, kept releases, units, containers, certificates", stack: true, load: () => require("./status") },
    releases: { usage: "releases                    kept releases with dates", stack: true, load: () => require("./releases") },
    logs: { usage: "logs [-f] [-n N] [web|worker|nginx|postgres|redis|<process>|<schedule>]", stack: true, appOutput: true, load: () => require("./logs") },
    console: { usage: "console [--shell]           Rails console (or a shell) as the app user with the app's environment", stack: true, appOutput: true, load: () => require("./console") },
    exec: { usage: "exec [--] <command...>      a command as the app user with the app's environment", stack: true, appOutput: true, load: () => require("./exec") },
    rollback: { usage: "rollback [sha] [--dry-run] [--yes] [--local]   set berth:revision to a kept release: commit + push to main, converge", stack: true, load: () => require("./rollback") },
    maintenance: { usage: "maintenance on|off [--dry-run] [--yes] [--local]   set berth:maintenance: commit + push to main, converge (no release)", stack: true, load: () => require("./maintenance") },
    restart: { usage: "restart [web|worker|<process>] [--dry-run]   web: on the idle instance, zero downtime; workers/processes: systemctl restart", stack: true, load: () => require("./restart") },
    stop: { usage: "stop [web|worker|<process>] [--dry-run] [--yes] [--local]   no name or web: maintenance on (as above); workers, processes, schedules stopped", stack: true, load: () => require("./restart") },
    start: { usage: "start [web|worker|<process>] [--dry-run] [--yes] [--local]  the reverse of stop", stack: true, load: () => require("./restart") },
    db: { usage: "db [--primary|--<database>] [-c <sql>]   psql (sqlite3) as the app role; interactive, or -c / stdin; no password shown", stack: true, appOutput: true, load: () => require("./db") },
    backup: { usage: "backup now|list|download <snapshot> [--to <file>]   run the backup unit now and wait; list snapshots; stream one to a file", stack: true, appOutput: true, load: () => require("./backup") },
    verify: { usage: "verify [--all-hosts]        drift: one line per difference, exit 1 when any (--all-hosts: every host, a section each)", stack: true, allHosts: true, load: () => require("./verify") },
    repair: { usage: "repair [--dry-run] [--all-hosts]   re-run every host script (idempotent) without a release", stack: true, allHosts: true, load: () => require("./repair") },
    review: {
        usage: "review up <n> [--sha <commit>] [--from <stack>] | review down <n>   review stack pr-<n> from staging (README: Review apps)",
        stack: false,
        load: () => require("./review"),
    },
    prepare: { usage: "prepare <stack>             CI: validate config, write the SSH key file, print sha=<resolved revision>", stack: false, load: () => require("./prepare") },
    "check-desired": { usage: "check-desired <stack> [--since <commit>]   CI: exit 1 when the stack runs something main does not say", stack: false, load: () => require("./checkDesired") },
    "set-desired": { usage: "set-desired <stack> <key>=<value>...       CI: write values into Pulumi.<stack>.yaml (comments kept)", stack: false, load: () => require("./setDesired") },
    "pulumi-cli": { usage: "pulumi-cli                  exit 0 when a working Pulumi CLI is on PATH", stack: false, load: () => require("./pulumiCli") },
};

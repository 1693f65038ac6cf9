/**
 * berth's one command line (`npx berth <op>`, scripts/berth; or
 * `node --import tsx lib/cli.ts <op>`):
 *
 *   prepare <stack>        what CI runs once before `pulumi preview` / `pulumi up`:
 *                          1. validates the stack's configuration (`pulumi config
 *                             --json --show-secrets`, the same parser as the program);
 *                          2. writes `berth:privateKey` to the Docker provider's key
 *                             file (lib/sshIdentity.ts), so steps that use the
 *                             provider before the program runs (the refresh of
 *                             `preview --refresh`, `pulumi refresh`/`destroy`) can
 *                             authenticate, and to the key file of every Docker
 *                             provider the stack's state still holds (`pulumi stack
 *                             export`, or the applier's `--state <file>`): a host
 *                             the configuration no longer lists, whose containers
 *                             the next up deletes, on a fresh runner too;
 *                          3. resolves `berth:revision` exactly like the program (or
 *                             takes BERTH_REVISION_SHA when set, e.g. the stack
 *                             output `revision` in the drift check) and prints
 *                             `sha=<40 hex>` for `$GITHUB_OUTPUT`. Hand it to every
 *                             later run as BERTH_REVISION_SHA so they all deploy
 *                             that commit. Only `sha=...` goes to stdout.
 *   status | releases | verify [--all-hosts] | repair [--all-hosts]
 *   logs [-f] [-n N] [web|worker|nginx|postgres|redis]
 *   console [--shell]
 *   exec [--] <command...>
 *   rollback [sha] [--dry-run] [--yes] [--local]
 *   maintenance on|off [--dry-run] [--yes] [--local]
 *                          commit the change to Pulumi.<stack>.yaml, push it to
 *                          main, then converge (lib/ops/desired.ts); --local:
 *                          this checkout's file and the stack only
 *   restart | stop | start [web|worker|<process>] [--dry-run] [--yes] [--local]
 *                          lib/ops/restart.ts: the web restarted on the idle
 *                          instance (zero downtime); stop = maintenance on (as
 *                          above) + workers, processes and schedules stopped
 *   db [--primary|--<name>] [-c <sql>]   psql / sqlite3 as the app (lib/ops/db.ts)
 *   backup now | list | download <snapshot> [--to <file>]   lib/ops/backup.ts
 *   check-desired <stack> [--since <commit>]
 *                          CI, before an up: the stack's last deployed state
 *                          (outputs revisionRef/revision/maintenance) is what
 *                          main's stack file says, or a change of main not yet
 *                          deployed; exit 1 naming the divergence otherwise
 *   set-desired <stack> <key>=<value>...
 *                          CI: writes values into Pulumi.<stack>.yaml (comments
 *                          kept; the production workflow commits it)
 *   review up <n> [--sha S] | review down <n>
 *                          a review stack pr-<n> copied from staging (lib/ops/review.ts)
 *   pulumi-cli             exit 0 when a working Pulumi CLI is on PATH
 *   init <stack>           writes Pulumi.<stack>.yaml (host key pinned) and prints
 *                          the pulumi commands still needed (lib/ops/init.ts)
 *   help | --help | -h     the usage, exit 0
 *
 * Operations take the stack with `-s <stack>` (read with the Pulumi CLI, or
 * the local dev stack without it) or `--config <file>` [`--state <file>`
 * `--dns-api <url>`]: see lib/ops/source.ts. `--json` prints data for
 * scripts. No secret is ever printed: output passes through a redactor of
 * every secret value the operation knows.
 */
import { configErrorMessage, parseConfig } from "./config";
import type { OpOptions, OpOutput } from "./ops/ops";
import { fromConfigJson, projectName, pulumiWorks, readConfigFile, ROOT, stateResources } from "./ops/source";
import { resolveRevision } from "./revision";
import { writeDockerSshIdentity, writeStateSshIdentities } from "./sshIdentity";
import { execFileSync } from "node:child_process";

export { fromConfigJson };

export function prepare(stack: string, root = ROOT, stateFile?: string, configFile?: string): string {
    const { values, secretKeys } = configFile
        ? readConfigFile(configFile, stack)
        : fromConfigJson(
              JSON.parse(
                  execFileSync("pulumi", ["config", "--json", "--show-secrets", "--stack", stack], {
                      cwd: root,
                      encoding: "utf8",
                      stdio: ["ignore", "pipe", "inherit"],
                      maxBuffer: 16 * 1024 * 1024,
                  }),
              ),
          );
    const r = parseConfig(values, { project: projectName(root), stack, secretKeys });
    if (!r.ok) throw new Error(configErrorMessage(stack, r.errors));
    writeDockerSshIdentity(r.config);
    // Hosts the state still references (an old data host whose containers the next up deletes).
    writeStateSshIdentities(r.config, stateResources(stack, root, stateFile));
    return resolveRevision(r.config).sha;
}

export const USAGE = `usage: berth <op> -s <stack> [--host <name>] [--config <file> [--state <file>] [--dns-api <url>]] [--json]
  init <stack> [--host <IPv4>] [--domain <name>] [--repository <url>] [--app <name>] [--zone <zone>|--no-dns]
               [--revision <rev>] [--yes] [--force]   write Pulumi.<stack>.yaml, print the pulumi commands still needed
  status                      serving revision and slot, kept releases, units, containers, certificates
  releases                    kept releases with dates
  logs [-f] [-n N] [web|worker|nginx|postgres|redis]
  console [--shell]           Rails console (or a shell) as the app user with the app's environment
  exec [--] <command...>      a command as the app user with the app's environment
  rollback [sha] [--dry-run] [--yes] [--local]   set berth:revision to a kept release: commit + push to main, converge
  maintenance on|off [--dry-run] [--yes] [--local]   set berth:maintenance: commit + push to main, converge (no release)
  restart [web|worker|<process>] [--dry-run]   web: on the idle instance, zero downtime; workers/processes: systemctl restart
  stop [web|worker|<process>] [--dry-run] [--yes] [--local]   no name or web: maintenance on (as above); workers, processes, schedules stopped
  start [web|worker|<process>] [--dry-run] [--yes] [--local]  the reverse of stop
  db [--primary|--<database>] [-c <sql>]   psql (sqlite3) as the app role; interactive, or -c / stdin; no password shown
  backup now|list|download <snapshot> [--to <file>]   run the backup unit now and wait; list snapshots; stream one to a file
  verify [--all-hosts]        drift: one line per difference, exit 1 when any (--all-hosts: every host, a section each)
  repair [--dry-run] [--all-hosts]   re-run every host script (idempotent) without a release
  prepare <stack>             CI: validate config, write the SSH key file, print sha=<resolved revision>
  check-desired <stack> [--since <commit>]   CI: exit 1 when the stack runs something main does not say
  set-desired <stack> <key>=<value>...       CI: write values into Pulumi.<stack>.yaml (comments kept)
  review up <n> [--sha <commit>] [--from <stack>] | review down <n>   review stack pr-<n> from staging (lib/ops/review.ts)
  help, --help, -h            this text`;

export interface Parsed {
    op: string;
    args: string[];
    opts: OpOptions & { to?: string };
}

export function parseArgs(argv: string[]): Parsed {
    const opts: Parsed["opts"] = {};
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

export class UsageError extends Error {}

function print(out: OpOutput, opts: OpOptions, redact: (t: string) => string): number {
    process.stdout.write(redact(opts.json ? `${JSON.stringify(out.data, null, 2)}\n` : `${out.text.join("\n")}\n`));
    return out.code;
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
    const early = await withoutStack(argv);
    if (early !== undefined) return early;
    const { op, args, opts } = parseArgs(argv);
    const known = ["status", "releases", "logs", "console", "exec", "rollback", "maintenance", "verify", "repair", "restart", "stop", "start", "db", "backup"];
    if (!known.includes(op)) throw new UsageError(`unknown operation ${JSON.stringify(op)}`);
    // Loaded here, not at the top: prepare, help and pulumi-cli stay fast.
    const { Stack } = require("./ops/ops") as typeof import("./ops/ops");
    if (opts.allHosts && !["verify", "repair"].includes(op)) throw new UsageError("--all-hosts is for verify and repair");
    if (opts.allHosts && opts.host !== undefined) throw new UsageError("--all-hosts or --host, not both");
    const s = new Stack(opts);
    // Output of the app (logs, console, exec) may hold generated secrets: know them to redact them.
    if (["logs", "console", "exec", "db", "backup"].includes(op)) s.randoms();
    return runOperation(op, s, args, opts);
}

/** The commands that need no stack (help, init, CI's check-desired/set-desired/prepare, pulumi-cli); undefined for the rest. */
async function withoutStack(argv: string[]): Promise<number | undefined> {
    if (wantsHelp(argv)) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    if (argv[0] === "init") return (require("./ops/init") as typeof import("./ops/init")).initMain(argv.slice(1));
    if (argv[0] === "review") {
        const r = require("./ops/review") as typeof import("./ops/review");
        return r.reviewMain(argv.slice(1)).catch((e) => Promise.reject(e instanceof r.ReviewUsageError ? new UsageError(e.message) : e));
    }
    if (argv[0] === "check-desired" || argv[0] === "set-desired") {
        const d = require("./ops/desired") as typeof import("./ops/desired");
        try {
            return argv[0] === "check-desired" ? d.checkDesiredMain(argv.slice(1), ROOT) : d.setDesiredMain(argv.slice(1), ROOT);
        } catch (e) {
            throw e instanceof d.DesiredUsageError ? new UsageError(e.message) : e;
        }
    }
    const { op, args, opts } = parseArgs(argv);
    if (op === "prepare") {
        const stack = args[0] ?? opts.stack;
        if (!stack) throw new UsageError("prepare <stack>");
        process.stdout.write(`sha=${prepare(stack, ROOT, opts.stateFile, opts.configFile)}\n`);
        return 0;
    }
    if (op === "pulumi-cli") return pulumiWorks() ? 0 : 1;
    if (!op || op === "help") {
        process.stdout.write(`${USAGE}\n`);
        return op ? 0 : 64;
    }
    return undefined;
}

/** One operation on the stack `s` (the op is known). */
async function runOperation(op: string, s: import("./ops/ops").Stack, args: string[], opts: Parsed["opts"]): Promise<number> {
    const { consoleScript, execScript, logs, maintenance, onAllHosts, releases, repair, rollback, status, verify } = require("./ops/ops") as typeof import("./ops/ops");
    const redact = (t: string) => s.redact(t);
    switch (op) {
        case "status":
            return print(status(s), opts, redact);
        case "releases":
            return print(releases(s), opts, redact);
        case "verify":
            return print(opts.allHosts ? await onAllHosts(s, "verify", (h) => verify(h)) : await verify(s), opts, redact);
        case "repair":
            return print(await (opts.allHosts ? onAllHosts(s, "repair", (h) => repair(h, opts)) : repair(s, opts)), opts, redact);
        case "rollback":
            return print(await rollback(s, args[0], opts), opts, redact);
        case "maintenance":
            return print(await maintenance(s, args[0], opts), opts, redact);
        case "logs":
            return logs(s, args[0], opts);
        case "console": {
            const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
            return s.host.stream(consoleScript(s.cfg, { shell: opts.shell, tty }), { tty });
        }
        case "exec":
            return s.host.stream(execScript(s.cfg, args));
        case "restart":
        case "stop":
        case "start": {
            const { runAction } = require("./ops/restart") as typeof import("./ops/restart");
            if (args.length > 1) throw new UsageError(`${op} takes at most one process name`);
            return print(await runAction(s, op, args[0], opts), opts, redact);
        }
        case "db":
            return db(s, args);
        case "backup":
            return backup(s, args, opts, redact);
    }
    return 64;
}

/** `berth db`: interactive on a terminal (ssh -t), else the SQL of -c (or stdin) on stdin; psql's exit status. */
async function db(s: import("./ops/ops").Stack, args: string[]): Promise<number> {
    const { dbHost, dbScript, parseDbArgs } = require("./ops/db") as typeof import("./ops/db");
    let parsed;
    try {
        parsed = parseDbArgs(s.cfg, args);
    } catch (e) {
        throw new UsageError((e as Error).message);
    }
    const on = s.on(dbHost(s.source.config).host.name);
    const tty = parsed.sql === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
    const body = dbScript(on.cfg, parsed.database, { tty, sql: parsed.sql !== undefined });
    if (parsed.sql === undefined) return on.host.stream(body, { tty });
    const r = on.host.run(body, `${parsed.sql}\n`, 3_600_000);
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
}

async function backup(s: import("./ops/ops").Stack, args: string[], opts: Parsed["opts"], redact: (t: string) => string): Promise<number> {
    const b = require("./ops/backup") as typeof import("./ops/backup");
    const [sub, id, ...rest] = args;
    if (rest.length > 0 || (sub !== "download" && id !== undefined)) throw new UsageError(`unexpected ${JSON.stringify(sub === "download" ? rest[0] : id)}`);
    if (opts.to !== undefined && sub !== "download") throw new UsageError("--to is for backup download");
    switch (sub) {
        case "now":
            return b.backupNow(s);
        case "list":
            return print(await b.backupList(s), opts, redact);
        case "download":
            if (!id) throw new UsageError("backup download <snapshot id> [--to <file>]");
            return print(await b.backupDownload(s, id, opts.to), opts, redact);
    }
    throw new UsageError(`backup ${sub === undefined ? "needs" : `${JSON.stringify(sub)}? use`} now, list or download <snapshot>`);
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

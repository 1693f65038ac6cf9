/**
 * `berth prepare <stack>`: what CI runs once before `pulumi preview` / `pulumi up`:
 * 1. validates the stack's configuration (`pulumi config --json
 *    --show-secrets`, the same parser as the program);
 * 2. writes `berth:privateKey` to the Docker provider's key file
 *    (lib/sshIdentity.ts), so steps that use the provider before the program
 *    runs (the refresh of `preview --refresh`, `pulumi refresh`/`destroy`) can
 *    authenticate, and to the key file of every Docker provider the stack's
 *    state still holds (`pulumi stack export`, or the applier's `--state
 *    <file>`): a host the configuration no longer lists, whose containers the
 *    next up deletes, on a fresh runner too;
 * 3. refuses a data host that moved to another machine under the same
 *    resource names (lib/dataHostMove.ts: Pulumi would not move its
 *    containers), naming the state edit of README "Moving a stack to a new VPS";
 * 4. resolves `berth:revision` exactly like the program (or takes
 *    BERTH_REVISION_SHA when set, e.g. the stack output `revision` in the drift
 *    check) and prints `sha=<40 hex>` for `$GITHUB_OUTPUT`. Hand it to every
 *    later run as BERTH_REVISION_SHA so they all deploy that commit. Only
 *    `sha=...` goes to stdout.
 */
import { execFileSync } from "node:child_process";
import { configErrorMessage, parseConfig } from "../../lib/config";
import { dataHostMoves } from "../../lib/dataHostMove";
import { resolveRevision } from "../../lib/revision";
import { writeDockerSshIdentity, writeStateSshIdentities } from "../../lib/sshIdentity";
import { UsageError } from "../support/command";
import { fromConfigJson, projectName, readConfigFile, ROOT, stateResources } from "../support/source";
import { parseArgs } from "../main";

/** `prepare <stack> [--config <file>] [--state <file>]`: prints `sha=<resolved revision>`. */
export function main(argv: string[]): number {
    const a = prepareArgs(argv);
    process.stdout.write(`sha=${prepare(a.stack, ROOT, a.stateFile, a.configFile)}\n`);
    return 0;
}

/** The stack (positional or `-s`) and the `--config`/`--state` files, wherever they stand. */
export function prepareArgs(argv: string[]): { stack: string; configFile?: string; stateFile?: string } {
    const { args, opts } = parseArgs(["prepare", ...argv]);
    const stack = args[0] ?? opts.stack;
    if (!stack) throw new UsageError("prepare <stack>");
    return { stack, configFile: opts.configFile, stateFile: opts.stateFile };
}

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
    const resources = stateResources(stack, root, stateFile);
    // A data host moved under the same names: Pulumi would not move its containers (lib/dataHostMove.ts).
    const moves = dataHostMoves(r.config, resources);
    if (moves.length) throw new Error(`berth: stack ${stack}:\n${moves.join("\n\n")}`);
    writeDockerSshIdentity(r.config);
    // Hosts the state still references (an old data host whose containers the next up deletes).
    writeStateSshIdentities(r.config, resources);
    return resolveRevision(r.config).sha;
}


/**
 * `node --import tsx lib/cli.ts prepare <stack>`: what a CI job (or a fresh
 * machine) runs once before `pulumi preview` / `pulumi up` for a stack:
 *
 * 1. validates the stack's configuration (`pulumi config --json
 *    --show-secrets`, the same parser as the program);
 * 2. writes `berth:privateKey` to the Docker provider's key file
 *    (lib/sshIdentity.ts), so steps that use the provider before the program
 *    runs (the refresh of `preview --refresh`, `pulumi refresh`/`destroy`)
 *    can authenticate;
 * 3. resolves `berth:revision` exactly like the program (or takes
 *    BERTH_REVISION_SHA when set, e.g. the stack output `revision` in the
 *    drift check) and prints `sha=<40 hex>` for `$GITHUB_OUTPUT`. Hand it to
 *    every later run as BERTH_REVISION_SHA so they all deploy that commit.
 *
 * Only `sha=...` goes to stdout; no secret is ever printed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { configErrorMessage, parseConfig } from "./config";
import { resolveRevision } from "./revision";
import { writeSshIdentity } from "./sshIdentity";

interface ConfigJsonValue {
    value?: string;
    objectValue?: unknown;
    secret?: boolean;
}

/** `pulumi config --json --show-secrets` output -> the raw berth:* strings and secret keys. */
export function fromConfigJson(json: Record<string, ConfigJsonValue>): { values: Record<string, string>; secretKeys: Set<string> } {
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [key, v] of Object.entries(json)) {
        if (!key.startsWith("berth:")) continue;
        values[key] = typeof v.value === "string" ? v.value : JSON.stringify(v.objectValue ?? "");
        if (v.secret) secretKeys.add(key);
    }
    return { values, secretKeys };
}

function projectName(root: string): string {
    const m = /^name:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8"));
    if (!m) throw new Error("Pulumi.yaml has no name");
    return m[1];
}

export function prepare(stack: string, root = path.resolve(__dirname, "..")): string {
    const json = JSON.parse(
        execFileSync("pulumi", ["config", "--json", "--show-secrets", "--stack", stack], {
            cwd: root,
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
            maxBuffer: 16 * 1024 * 1024,
        }),
    ) as Record<string, ConfigJsonValue>;
    const { values, secretKeys } = fromConfigJson(json);
    const r = parseConfig(values, { project: projectName(root), stack, secretKeys });
    if (!r.ok) throw new Error(configErrorMessage(stack, r.errors));
    writeSshIdentity(r.config);
    return resolveRevision(r.config).sha;
}

if (require.main === module) {
    const [verb, stack] = process.argv.slice(2);
    if (verb !== "prepare" || !stack) {
        process.stderr.write("usage: node --import tsx lib/cli.ts prepare <stack>\n");
        process.exit(64);
    }
    try {
        process.stdout.write(`sha=${prepare(stack)}\n`);
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exit(1);
    }
}

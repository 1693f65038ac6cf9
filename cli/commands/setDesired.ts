/**
 * `berth set-desired <stack> <key>=<value>...` (CI): writes values into
 * Pulumi.<stack>.yaml, comments kept; the production workflow commits it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { KEYS } from "../../lib/config/keys";
import { DesiredStateError, DesiredUsageError, lineDiff, setStackValues, stackFileName } from "../support/desired";
import { UsageError } from "../support/command";
import { ROOT } from "../support/source";

/**
 * `set-desired <stack> <key>=<value>...`: writes the values into the stack
 * file (comments kept), the diff on stderr; no commit (the workflow commits).
 */
export function setDesiredMain(argv: string[], root: string, namespace = "berth"): number {
    const [stack, ...pairs] = argv;
    if (!stack || stack.startsWith("-") || pairs.length === 0) throw new DesiredUsageError("set-desired <stack> <key>=<value>...");
    const changes: Record<string, string> = {};
    for (const p of pairs) {
        const m = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/s.exec(p);
        if (!m || !(m[1] in KEYS)) throw new DesiredUsageError(`set-desired: ${JSON.stringify(p)} is not <berth key>=<value>`);
        changes[`${namespace}:${m[1]}`] = m[2];
    }
    const name = stackFileName(stack);
    const file = path.join(root, name);
    if (!fs.existsSync(file)) throw new DesiredStateError(`berth: no ${name} in ${root}`);
    const text = fs.readFileSync(file, "utf8");
    const next = setStackValues(text, changes, name);
    fs.writeFileSync(file, next);
    process.stderr.write(`${next === text ? `${name} already says ${pairs.join(" ")}` : lineDiff(text, next, name).join("\n")}\n`);
    return 0;
}

/** `berth set-desired ...` in this checkout (a DesiredUsageError is a usage error: exit 64 with the usage). */
export function main(argv: string[]): number {
    try {
        return setDesiredMain(argv, ROOT);
    } catch (e) {
        throw e instanceof DesiredUsageError ? new UsageError(e.message) : e;
    }
}

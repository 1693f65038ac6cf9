/**
 * `berth check-desired <stack> [--since <commit>]` (CI, before an up): the
 * stack's last deployed state (outputs revisionRef/revision/maintenance) is
 * what main's stack file says, or a change of main not yet deployed; exit 1
 * naming the divergence otherwise (cli/support/desired.ts).
 */
import { checkDesired, deployedFromOutputs, DesiredUsageError, stackOutputs } from "../support/desired";
import { UsageError } from "../support/command";
import { ROOT } from "../support/source";

/**
 * `check-desired <stack> [--since <commit>]`: exit 0 when the stack runs what
 * main says (or a change of main not deployed yet), 1 naming the divergence.
 */
export function checkDesiredMain(argv: string[], root: string, pulumi = "pulumi", namespace = "berth"): number {
    let stack: string | undefined;
    let since: string | undefined;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--since") since = argv[++i];
        else if (a === "-s" || a === "--stack") stack = argv[++i];
        else if (a.startsWith("-") || stack !== undefined) throw new DesiredUsageError(`check-desired: unexpected ${JSON.stringify(a)}`);
        else stack = a;
    }
    if (!stack) throw new DesiredUsageError("check-desired <stack> [--since <commit>]");
    const r = checkDesired(root, stack, deployedFromOutputs(stackOutputs(stack, root, pulumi)), { since, namespace });
    (r.ok ? process.stdout : process.stderr).write(`${r.text.join("\n")}\n`);
    return r.ok ? 0 : 1;
}

/** `berth check-desired ...` in this checkout (a DesiredUsageError is a usage error: exit 64 with the usage). */
export function main(argv: string[]): number {
    try {
        return checkDesiredMain(argv, ROOT);
    } catch (e) {
        throw e instanceof DesiredUsageError ? new UsageError(e.message) : e;
    }
}

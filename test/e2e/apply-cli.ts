/**
 * Runs one applier operation in its own process, so that Pulumi's runtime
 * state (global mocks, unhandled rejections of a failed resource) never
 * leaks between runs or into the test process:
 *   apply-cli.ts up|preview|refresh|destroy <state.json> <config.json> <report.json> [dnsApi]
 *                [--refresh] [--expect-no-changes]
 *   apply-cli.ts unprotect <state.json> - - <stack>
 * config.json holds the StackConfig (0600, deleted by the caller); `-` reads it
 * from stdin once everything is loaded (berth's applier converge starts the
 * process early, cli/support/source.ts; an empty stdin applies nothing). The two
 * flags are the CLI's (`up`/`preview --refresh`, `--expect-no-changes`).
 */
import * as fs from "node:fs";
import { Applier } from "./applier";
import { StackConfig } from "../unit/harness";

(async () => {
    const argv = process.argv.slice(2);
    const flags = new Set(argv.filter((a) => a.startsWith("--")));
    for (const f of flags) if (f !== "--refresh" && f !== "--expect-no-changes") throw new Error(`apply-cli: unknown flag ${f}`);
    const [verb, statePath, configPath, reportPath, dnsApi] = argv.filter((a) => !a.startsWith("--"));
    const opts = { refresh: flags.has("--refresh"), expectNoChanges: flags.has("--expect-no-changes") };
    const applier = new Applier({ statePath, dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    process.on("unhandledRejection", () => undefined); // recorded by the applier itself
    if (verb === "unprotect") {
        applier.unprotectAll(dnsApi);
        return;
    }
    const text = configPath === "-" ? await readStdin() : fs.readFileSync(configPath, "utf8");
    if (text === "") process.exit(0);
    const cfg = JSON.parse(text) as StackConfig;
    const report =
        verb === "destroy" ? await applier.destroy(cfg)
        : verb === "preview" ? await applier.preview(cfg, opts)
        : verb === "refresh" ? await applier.refresh(cfg, opts)
        : verb === "up" ? await applier.up(cfg, opts)
        : undefined;
    if (!report) throw new Error(`apply-cli: unknown operation ${verb}`);
    fs.writeFileSync(reportPath, JSON.stringify(report), { mode: 0o600 });
    process.exit(0);
})().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
});

function readStdin(): Promise<string> {
    return new Promise((resolve, reject) => {
        let text = "";
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", (d) => (text += d));
        process.stdin.on("end", () => resolve(text));
        process.stdin.on("error", reject);
    });
}

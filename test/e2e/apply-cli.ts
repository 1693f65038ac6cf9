/**
 * Runs one applier operation in its own process, so that Pulumi's runtime
 * state (global mocks, unhandled rejections of a failed resource) never
 * leaks between runs or into the test process:
 *   apply-cli.ts up|preview|refresh|destroy <state.json> <config.json> <report.json> [dnsApi]
 *                [--refresh] [--expect-no-changes]
 *   apply-cli.ts unprotect <state.json> - - <stack>
 * config.json holds the StackConfig (0600, deleted by the caller). The two
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
    const cfg = JSON.parse(fs.readFileSync(configPath, "utf8")) as StackConfig;
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

/**
 * Runs one applier operation in its own process, so that Pulumi's runtime
 * state (global mocks, unhandled rejections of a failed resource) never
 * leaks between runs or into the test process:
 *   apply-cli.ts up|preview|destroy <state.json> <config.json> <report.json> [dnsApi]
 *   apply-cli.ts unprotect <state.json> - - <stack>
 * config.json holds the StackConfig (0600, deleted by the caller).
 */
import * as fs from "node:fs";
import { Applier } from "./applier";
import { StackConfig } from "../unit/harness";

(async () => {
    const [verb, statePath, configPath, reportPath, dnsApi] = process.argv.slice(2);
    const applier = new Applier({ statePath, dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    process.on("unhandledRejection", () => undefined); // recorded by the applier itself
    if (verb === "unprotect") {
        applier.unprotectAll(dnsApi);
        return;
    }
    const cfg = JSON.parse(fs.readFileSync(configPath, "utf8")) as StackConfig;
    const report = verb === "destroy" ? await applier.destroy(cfg) : verb === "preview" ? await applier.preview(cfg) : await applier.up(cfg);
    fs.writeFileSync(reportPath, JSON.stringify(report), { mode: 0o600 });
    process.exit(0);
})().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
});

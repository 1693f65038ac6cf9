/**
 * Runs one applier operation in its own process, so that Pulumi's runtime
 * state (global mocks, unhandled rejections of a failed resource) never
 * leaks between runs or into the test process:
 *   apply-cli.ts up|destroy|unprotect <state.json> <config.json> <report.json> [dnsApi]
 * config.json holds the StackConfig (0600, deleted by the caller).
 */
import * as fs from "node:fs";
import { Applier } from "./applier";
import { StackConfig } from "../unit/harness";

(async () => {
    const [verb, statePath, configPath, reportPath, dnsApi] = process.argv.slice(2);
    const cfg = JSON.parse(fs.readFileSync(configPath, "utf8")) as StackConfig;
    const applier = new Applier({ statePath, dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    process.on("unhandledRejection", () => undefined); // recorded by the applier itself
    if (verb === "unprotect") {
        applier.unprotectAll();
        fs.writeFileSync(reportPath, "{}");
        return;
    }
    const report = verb === "destroy" ? await applier.destroy(cfg) : await applier.up(cfg);
    fs.writeFileSync(reportPath, JSON.stringify(report), { mode: 0o600 });
    process.exit(0);
})().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
});

/**
 * The figures test/e2e/alerts.test.ts writes with BERTH_BENCH_OUT (failure
 * to alert, sustained failure to automatic rollback, and the settings they
 * were measured at) -> `<outDir>/alerts.json` and the "Alerts" section of
 * `<outDir>/README.md` (replaced, the rest kept). `npm run bench` calls it
 * through `bench-report.ts --alerts FIGURES OUTDIR`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeBenchSection } from "./kit";

export interface AlertFigures {
    unitFailureToAlertMs?: number;
    backupFailureToAlertMs?: number;
    healthFailureToAlertMs?: number;
    sustainedFailureToRollbackMs?: number;
    settings?: { checkSeconds: number; healthFailSeconds: number; autoRollbackFailSeconds: number };
}

/** The section's lines (pure: the unit test renders it from fixed figures). */
export function alertsSection(f: AlertFigures, measuredAt: string): string[] {
    const s = (ms: number | undefined) => (typeof ms === "number" ? (ms / 1000).toFixed(1) : "n/a");
    const set = f.settings;
    const at = (secs: number | undefined) => (set ? `configured ${secs} s + at most one check (${set.checkSeconds} s)` : "");
    return [
        "## Alerts",
        "",
        `Measured by \`npm run bench\` (test/e2e/alerts.test.ts), ${measuredAt}: a fresh Debian 13 VPS with \`berth:alerts\` (a check every ${set?.checkSeconds ?? "?"} s),`,
        "`berth:autoRollback` and `berth:backup` to an SFTP container; each time is from the failure made on the host to the message at the test's webhook receiver.",
        "",
        "| figure | value (s) | expected |",
        "| --- | --- | --- |",
        `| a unit enters \`failed\` (worker SIGKILLed) -> alert | ${s(f.unitFailureToAlertMs)} | at once (\`OnFailure=\`) |`,
        `| the backup service fails (target refuses the key) -> alert, the failed run included | ${s(f.backupFailureToAlertMs)} | at once (\`OnFailure=\`) |`,
        `| health through nginx fails (nginx stopped) -> alert | ${s(f.healthFailureToAlertMs)} | ${at(set?.healthFailSeconds)} |`,
        `| release unhealthy after its switch -> automatic rollback notice | ${s(f.sustainedFailureToRollbackMs)} | ${at(set?.autoRollbackFailSeconds)} |`,
    ];
}

/** Writes alerts.json and the README section from the test's figures file. */
export function writeAlertsBench(figuresFile: string, outDir: string): void {
    const f = JSON.parse(fs.readFileSync(figuresFile, "utf8")) as AlertFigures;
    const measuredAt = new Date().toISOString();
    fs.writeFileSync(path.join(outDir, "alerts.json"), `${JSON.stringify({ measuredAt, ...f }, null, 2)}\n`);
    writeBenchSection(path.join(outDir, "README.md"), "alerts", alertsSection(f, measuredAt));
}

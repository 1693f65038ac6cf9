/**
 * Turns the figures written by the scenarios (BERTH_BENCH_OUT) into
 * bench/results.json and the table in bench/README.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const [input, outDir] = process.argv.slice(2);
const f = JSON.parse(fs.readFileSync(input, "utf8")) as Record<string, number>;
const results = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() },
    driver: process.env.BERTH_E2E_DRIVER ?? "applier",
    ...f,
    targets: { releaseFailedRequests: 0, noopCommands: 0, rollbackSecondsBelow: 10 },
};
fs.writeFileSync(path.join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
const row = (k: string, v: unknown, target = "") => `| ${k} | ${v ?? "n/a"} | ${target} |`;
const s = (x: unknown) => (typeof x === "number" ? x.toFixed(1) : String(x));
const md = [
    "# berth figures",
    "",
    `Measured by \`npm run bench\` (scenarios 1-5 of test/e2e/scenarios.test.ts) on ${results.machine.cpus} cores / ${results.machine.memoryGiB} GiB, ${results.measuredAt}.`,
    "The host is a local Debian 12 container booting systemd; the program is applied by the test applier (see test/e2e/README.md).",
    "",
    "| figure | value | target |",
    "| --- | --- | --- |",
    row("fresh provision (s)", s(f.freshProvisionSeconds)),
    row("no-op apply (s)", s(f.noopSeconds)),
    row("no-op apply: commands executed", f.noopCommands, "0"),
    row("release under load (s)", s(f.releaseSeconds)),
    row("release: requests sent / failed", `${f.releaseRequests} / ${f.releaseFailedRequests}`, "0 failed"),
    row("broken release: requests sent / failed", `${f.brokenRequests} / ${f.brokenFailedRequests}`, "0 failed"),
    row("rollback (s)", s(f.rollbackSeconds), "< 10"),
    "",
];
fs.writeFileSync(path.join(outDir, "README.md"), md.join("\n"));
console.log(md.join("\n"));

/**
 * Golden files: generated text is compared byte for byte with the file under
 * test/golden/. `UPDATE_GOLDEN=1 npm test` rewrites them; review the diff.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { ROOT } from "./harness";

export const GOLDEN_DIR = path.join(ROOT, "test", "golden");

export function expectGolden(rel: string, actual: string): void {
    const file = path.join(GOLDEN_DIR, rel);
    if (process.env.UPDATE_GOLDEN === "1") {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, actual);
        return;
    }
    assert.ok(fs.existsSync(file), `golden file ${rel} is missing; run UPDATE_GOLDEN=1 npm test and review it`);
    assert.equal(actual, fs.readFileSync(file, "utf8"), `generated text differs from test/golden/${rel}`);
}

/** Runs shellcheck on a bash script text; fails the test with its report. */
export function expectShellcheckClean(label: string, scriptText: string): void {
    const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], { input: scriptText, encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck could not run (${r.error.message}); install it: apt-get install shellcheck`);
    assert.equal(r.status, 0, `shellcheck found problems in ${label}:\n${r.stdout}${r.stderr}`);
}

export function which(bin: string): string {
    return execFileSync("bash", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
}

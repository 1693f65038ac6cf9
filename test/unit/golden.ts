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

/**
 * Golden directories that hold only what differs from another one: a file
 * missing here is the base's (the generic preset's files are the rails
 * preset's where they are the same; production's are staging's). With
 * UPDATE_GOLDEN=1 a file equal to its base is removed, so the goldens keep
 * exactly what differs between stacks and presets.
 */
export const GOLDEN_BASES: Readonly<Record<string, string>> = {
    "staging/generic": "staging",
    "production/generic": "production",
    production: "staging",
};

/** The golden file that holds `rel`'s expected text: its own, else its base's (recursively). */
export function goldenSource(rel: string): string | undefined {
    const own = path.join(GOLDEN_DIR, rel);
    if (fs.existsSync(own)) return own;
    return baseSource(rel);
}

function baseSource(rel: string): string | undefined {
    const dir = path.posix.dirname(rel);
    const base = GOLDEN_BASES[dir];
    return base === undefined ? undefined : goldenSource(`${base}/${path.posix.basename(rel)}`);
}

export function expectGolden(rel: string, actual: string): void {
    const file = path.join(GOLDEN_DIR, rel);
    if (process.env.UPDATE_GOLDEN === "1") {
        const base = baseSource(rel);
        if (base !== undefined && fs.readFileSync(base, "utf8") === actual) {
            fs.rmSync(file, { force: true });
            return;
        }
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, actual);
        return;
    }
    const src = goldenSource(rel);
    assert.ok(src, `golden file ${rel} is missing; run UPDATE_GOLDEN=1 npm test and review it`);
    assert.equal(actual, fs.readFileSync(src, "utf8"), `generated text differs from test/golden/${path.relative(GOLDEN_DIR, src)}${src === file ? "" : ` (the base of ${rel})`}`);
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

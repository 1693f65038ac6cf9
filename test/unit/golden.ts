/**
 * Golden files: generated text is compared byte for byte with the file under
 * test/golden/. `UPDATE_GOLDEN=1 npm test` rewrites them; review the diff.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { deriveNames } from "../../lib/names";
import { ROOT } from "./harness";

export const GOLDEN_DIR = path.join(ROOT, "test", "golden");

/**
 * Golden directories of one stack that hold only what differs from another
 * directory of the same stack: a file missing here is the base's (the
 * generic preset's files are the rails preset's where they are the same;
 * `storage/` and `basic-auth/` are staging rendered with `berth:backup.storage`
 * and `berth:basicAuth` set).
 */
export const GOLDEN_BASES: Readonly<Record<string, string>> = {
    "staging/generic": "staging",
    "production/generic": "production",
    "staging/proxy": "staging",
    storage: "staging",
    "basic-auth": "staging",
};

/**
 * Stack directories whose goldens are another stack's rendered once with the
 * stack (the directory's last name) as a parameter: a file of `production/`
 * (or any directory below it) missing there is staging's text with the stack
 * name substituted (`substituteStack`), so only what production really
 * renders differently (its domain, ports, worker, CA, retention...) is
 * stored. The test still renders production: a change the substitution does
 * not explain fails it. `processes/` (examples/Pulumi.processes.yaml) is a
 * variant the same way: the process and schedule units it shares with
 * `units/staging/` (staging with `berth:processes` and `berth:schedules`
 * set) are that text for the stack `processes`; its scripts and its own
 * units are stored.
 */
export const STACK_BASES: Readonly<Record<string, string>> = { production: "staging", "units/production": "units/staging", processes: "units/staging" };

/** The golden stacks' app (the stack files' `berth:app`). */
const GOLDEN_APP = "shop";

/**
 * What the stack name changes in generated text: the names derived from
 * `<app>-<stack>` (units, paths, containers, `app_stack` identifiers) and the
 * managed-by line (`stack <name>)`). Nothing else: a domain, CA or port that
 * differs between stacks is not explained by it.
 */
export function substituteStack(text: string, from: string, to: string): string {
    const a = deriveNames(GOLDEN_APP, from);
    const b = deriveNames(GOLDEN_APP, to);
    const pairs: [string, string][] = [
        [a.id, b.id],
        [a.dbIdentifier, b.dbIdentifier],
        [`stack ${from})`, `stack ${to})`],
    ];
    return pairs.reduce((t, [x, y]) => t.split(x).join(y), text);
}

export interface GoldenText {
    readonly text: string;
    /** The file it was read from (relative to test/golden). */
    readonly source: string;
    /** Set when `text` is `source`'s with the stack name substituted. */
    readonly substituted?: { readonly from: string; readonly to: string };
}

/** The expected text of `rel`: its own file, else its base's (see `goldenBase`). */
export function goldenText(rel: string): GoldenText | undefined {
    if (fs.existsSync(path.join(GOLDEN_DIR, rel))) return { text: fs.readFileSync(path.join(GOLDEN_DIR, rel), "utf8"), source: rel };
    return goldenBase(rel);
}

/**
 * The expected text of `rel` when it has no file of its own, the first of:
 * 1. the same file of the base stack, when it has its own file there, with
 *    the stack name substituted (`production/generic/x` <- `staging/generic/x`:
 *    what makes a preset's file differ is the same in both stacks);
 * 2. the first own file along its stack's directory bases
 *    (`production/generic/x` <- `production/x`);
 * 3. the base stack's expected text for the same path, substituted
 *    (`staging/generic/x`, which may itself be `staging/x`).
 */
export function goldenBase(rel: string): GoldenText | undefined {
    const stackDir = Object.keys(STACK_BASES).find((d) => rel.startsWith(`${d}/`));
    const inBaseStack = stackDir && `${STACK_BASES[stackDir]}/${rel.slice(stackDir.length + 1)}`;
    const substituted = (base: GoldenText | undefined): GoldenText | undefined => {
        if (!base || !stackDir) return undefined;
        const [from, to] = [path.posix.basename(STACK_BASES[stackDir]), path.posix.basename(stackDir)];
        return { text: substituteStack(base.text, from, to), source: base.source, substituted: { from, to } };
    };
    if (inBaseStack && fs.existsSync(path.join(GOLDEN_DIR, inBaseStack))) return substituted(goldenText(inBaseStack));
    for (let dir = GOLDEN_BASES[path.posix.dirname(rel)]; dir !== undefined; dir = GOLDEN_BASES[dir]) {
        const r = `${dir}/${path.posix.basename(rel)}`;
        if (fs.existsSync(path.join(GOLDEN_DIR, r))) return { text: fs.readFileSync(path.join(GOLDEN_DIR, r), "utf8"), source: r };
    }
    return inBaseStack ? substituted(goldenText(inBaseStack)) : undefined;
}

function describeSource(g: GoldenText): string {
    return `test/golden/${g.source}${g.substituted ? ` with stack ${g.substituted.from} -> ${g.substituted.to} substituted` : ""}`;
}

export function expectGolden(rel: string, actual: string): void {
    const file = path.join(GOLDEN_DIR, rel);
    if (process.env.UPDATE_GOLDEN === "1") {
        const base = goldenBase(rel);
        if (base !== undefined && base.text === actual) {
            fs.rmSync(file, { force: true });
            return;
        }
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, actual);
        return;
    }
    checkGolden(rel, actual);
}

/** The check of `expectGolden` alone: never writes, also under UPDATE_GOLDEN=1 (for tests that must see it fail). */
export function checkGolden(rel: string, actual: string): void {
    const expected = goldenText(rel);
    assert.ok(expected, `golden file ${rel} is missing; run UPDATE_GOLDEN=1 npm test and review it`);
    assert.equal(actual, expected.text, `generated text differs from ${describeSource(expected)}${expected.source === rel ? "" : ` (the base of ${rel})`}`);
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

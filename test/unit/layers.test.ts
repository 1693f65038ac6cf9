/**
 * The layers (README "Code layout"): lib/ imports neither components/ nor
 * cli/, components/ do not import cli/; every subcommand in the table of
 * cli/commands/index.ts is a file there that exports what the table calls,
 * and every file there is in the table.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./harness";

/** Every .ts file under `dir` (relative to the repository). */
function tsFiles(dir: string): string[] {
    const out: string[] = [];
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = path.join(dir, e.name);
        if (e.isDirectory()) out.push(...tsFiles(rel));
        else if (e.name.endsWith(".ts")) out.push(rel);
    }
    return out;
}

/** The repository-relative targets of a file's relative imports (`from "..."`, `require("...")`, `import("...")`). */
export function importsOf(file: string, text = fs.readFileSync(path.join(ROOT, file), "utf8")): string[] {
    const out: string[] = [];
    for (const m of text.matchAll(/(?:\bfrom|\brequire\(|\bimport\()\s*"(\.{1,2}\/[^"]*)"/g)) out.push(path.normalize(path.join(path.dirname(file), m[1])));
    return out;
}

const LAYERS: [string, string[]][] = [
    ["lib", ["components", "cli", "index"]],
    ["components", ["cli", "index"]],
];

describe("layers", () => {
    test("the import scanner sees every form of relative import (a scanner that finds nothing proves nothing)", () => {
        const text = 'import { a } from "../components/x";\nconst b = require("../cli/y") as typeof import("../cli/y");\nimport type { C } from "./z";';
        assert.deepEqual(importsOf("lib/f.ts", text), ["components/x", "cli/y", "cli/y", "lib/z"]);
    });

    for (const [layer, above] of LAYERS) {
        test(`nothing under ${layer}/ imports ${above.join(", ")}`, () => {
            const files = tsFiles(layer);
            assert.ok(files.length > 5, `${layer}/ has files`);
            const wrong = files.flatMap((f) => importsOf(f).filter((t) => above.some((a) => t === a || t.startsWith(`${a}/`))).map((t) => `${f} -> ${t}`));
            assert.deepEqual(wrong, []);
        });
    }

    test("cli/commands/: one file per table entry, each exporting what the table calls; no file outside the table", () => {
        const { COMMANDS } = require("../../cli/commands") as typeof import("../../cli/commands");
        const text = fs.readFileSync(path.join(ROOT, "cli/commands/index.ts"), "utf8");
        const loaded = new Set<string>();
        for (const [name, c] of Object.entries(COMMANDS)) {
            const mod = c.load() as Record<string, unknown>;
            assert.equal(typeof mod[c.stack ? "run" : "main"], "function", `${name}: its file exports ${c.stack ? "run" : "main"}`);
            assert.ok(c.usage.startsWith(name), `${name}: its usage starts with its name`);
        }
        for (const m of text.matchAll(/require\("\.\/(\w+)"\)/g)) loaded.add(`${m[1]}.ts`);
        const files = fs.readdirSync(path.join(ROOT, "cli/commands")).filter((f) => f !== "index.ts");
        assert.deepEqual(files.filter((f) => !loaded.has(f)), [], "files no entry loads");
    });
});

describe("a stackless command gets the options written before its name", () => {
    test("`berth --config f --state s prepare dev` (as the e2e's berthCli writes it): prepare sees the stack and both files", () => {
        const { ownArgv } = require("../../cli/main") as typeof import("../../cli/main");
        const { prepareArgs } = require("../../cli/commands/prepare") as typeof import("../../cli/commands/prepare");
        const argv = ["--config", "c.json", "--state", "s.json", "--dns-api", "http://x", "prepare", "dev"];
        assert.deepEqual(ownArgv(argv, "prepare"), ["--config", "c.json", "--state", "s.json", "--dns-api", "http://x", "dev"]);
        assert.deepEqual(prepareArgs(ownArgv(argv, "prepare")), { stack: "dev", configFile: "c.json", stateFile: "s.json" });
        assert.deepEqual(prepareArgs(["staging"]), { stack: "staging", configFile: undefined, stateFile: undefined });
        assert.throws(() => prepareArgs([]), /prepare <stack>/);
    });
});

describe("berth rollback starts without the Pulumi SDK", () => {
    test("its command file and everything it imports (the switch's scripts included) load no @pulumi module", () => {
        // The rollback moves traffic before its converge: loading the SDK (~0.7 s here) would come before the move.
        const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
        const probe = "require('./cli/commands/rollback'); process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@pulumi'))))";
        const r = spawnSync(process.execPath, ["--import", "tsx", "-e", probe], { cwd: ROOT, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), []);
        // The same probe sees the SDK when it is loaded: the check can fail.
        const seen = spawnSync(process.execPath, ["--import", "tsx", "-e", probe.replace("cli/commands/rollback", "components/app/switch")], { cwd: ROOT, encoding: "utf8" });
        assert.ok(JSON.parse(seen.stdout).length > 0, seen.stderr);
    });
});

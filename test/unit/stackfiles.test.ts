/**
 * The repository's own stack files (`Pulumi.<stack>.yaml` next to
 * Pulumi.yaml) are the user's: berth's goldens and snapshots are rendered
 * from its example stacks (test/unit/harness.ts EXAMPLE_STACK_FILES), so a
 * user who writes their own stacks keeps a green `npm test` (pr.yml runs it
 * on every pull request; test/e2e/workflows.test.ts runs it with a stack
 * file of its own). What `npm test` does check of the user's files: each is
 * a valid configuration (every problem listed, as `pulumi up` would) and the
 * program runs with it under mocks, its `secure:` values stood in for by test
 * secrets.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { parseConfig } from "../../lib/config";
import { ROOT, runProgram, stackConfig } from "./harness";

const files = fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f) && f !== "Pulumi.yaml");

describe("the repository's stack files are valid configurations", () => {
    test("there is at least one (staging and production ship as copies of the examples)", () => {
        assert.ok(files.includes("Pulumi.staging.yaml") && files.includes("Pulumi.production.yaml"), files.join(", "));
    });
    for (const file of files) {
        const stack = /^Pulumi\.(.+)\.yaml$/.exec(file)![1];
        test(`${file}: parses and the program runs under mocks`, async () => {
            const sc = stackConfig(stack, stack === "dev" ? { "berth:deployKey": { secure: "set-by-dev-up" } } : {}, file);
            const parsed = parseConfig(sc.values, { project: "berth", stack, secretKeys: new Set(sc.secretKeys) });
            assert.ok(parsed.ok, `${file}:\n  ${parsed.ok ? "" : parsed.errors.join("\n  ")}`);
            const r = await runProgram(sc);
            assert.equal(r.error, undefined, `${file}: ${r.error}`);
            assert.ok(r.resources.length > 10, `${file}: the program registered ${r.resources.length} resources`);
        });
    }
});

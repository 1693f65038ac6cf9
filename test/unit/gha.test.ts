/**
 * The e2e's GitHub Actions runner (test/e2e/gha.ts): its actions/cache
 * stand-in and hashFiles(), on jobs run for real with bash in temporary
 * runners sharing one cache store.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runJob } from "../e2e/gha";

const WORKFLOW = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: printf '%s' "$LOCK" > package-lock.json
        env:
          LOCK: \${{ github.event.lock }}
      - uses: actions/cache@v4
        id: deps
        with:
          path: deps
          key: deps-\${{ runner.os }}-\${{ hashFiles('package-lock.json') }}
      - if: steps.deps.outputs.cache-hit != 'true'
        run: mkdir -p deps && printf '%s %s' "$RANDOM$RANDOM" "$GITHUB_REF" > deps/made
      - id: out
        run: echo "made=$(cat deps/made)" >> "$GITHUB_OUTPUT"
      - if: github.event.fail == 'yes'
        run: "false"
`;

describe("e2e runner: actions/cache", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-gha-"));
    const file = path.join(root, "wf.yml");
    fs.writeFileSync(file, WORKFLOW);
    const cacheDir = path.join(root, "cache");
    let n = 0;
    const run = (lock: string, o: { ref?: string; fail?: boolean } = {}) => {
        const r = runJob(file, "build", {
            origin: root,
            runnerDir: fs.mkdtempSync(path.join(root, `runner-${++n}-`)),
            sha: "0".repeat(40),
            ref: o.ref ?? "refs/heads/main",
            secrets: {},
            event: { lock, fail: o.fail ? "yes" : "no" },
            path: [],
            cacheDir,
            log: () => {},
        });
        const made = r.steps.find((s) => s.id === "out")?.outputs.made;
        return { ok: r.ok, hit: r.steps.find((s) => s.id === "deps")?.outputs["cache-hit"], installed: r.steps.some((s) => s.name.startsWith("mkdir") && s.outcome === "success"), made };
    };

    test("a miss installs and saves after the job; the next runner restores it (a hit skips the install); another lockfile misses", () => {
        const first = run("lock v1");
        assert.deepEqual([first.ok, first.hit, first.installed], [true, "false", true]);
        const second = run("lock v1");
        assert.deepEqual([second.ok, second.hit, second.installed, second.made], [true, "true", false, first.made]);
        const other = run("lock v2");
        assert.deepEqual([other.hit, other.installed], ["false", true]);
        assert.notEqual(other.made, first.made);
    });

    test("a failed job saves nothing", () => {
        assert.equal(run("lock v3", { fail: true }).ok, false);
        assert.deepEqual([run("lock v3").hit, run("lock v3").hit], ["false", "true"]);
    });

    test("a branch reads its own caches and the default branch's; main never reads a branch's", () => {
        const branch = run("lock v4", { ref: "refs/heads/feature" });
        assert.equal(branch.hit, "false");
        assert.equal(run("lock v4").hit, "false", "main does not see the feature branch's cache");
        assert.equal(run("lock v1", { ref: "refs/heads/feature" }).hit, "true", "a branch restores main's");
    });
});

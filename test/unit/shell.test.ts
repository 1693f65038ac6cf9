/**
 * lib/shell.ts against the real bash: quoted values must come back byte for
 * byte, and the file writer must be atomic and idempotent.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { and, assign, cmd, quote, raw, readSecrets, remote, retry, script, secretsPayload, writeFile } from "../../lib/shell";

function bash(text: string, stdin = ""): { stdout: string; stderr: string; status: number | null } {
    const r = spawnSync("bash", ["-c", text], { input: stdin, encoding: "utf8" });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const NASTY = [
    "plain",
    "",
    "with space",
    "it's",
    `"double" and 'single'`,
    "$HOME `id` $(id) ${PATH}",
    "semi; rm -rf / && echo | cat > x",
    "newline\ninside",
    "tab\tand\\backslash",
    "glob * ? [a-z] ~",
    "-n",
    "unicode é ✓",
    "!history",
];

describe("quote", () => {
    for (const value of NASTY) {
        test(`round-trips ${JSON.stringify(value)} through bash`, () => {
            const r = bash(`printf '%s' ${quote(value)}`);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, value);
        });
    }
    test("leaves safe words unquoted and quotes the empty string", () => {
        assert.equal(quote("nginx"), "nginx");
        assert.equal(quote("/etc/x.conf"), "/etc/x.conf");
        assert.equal(quote(""), "''");
        assert.equal(quote("a b"), "'a b'");
    });
});

describe("cmd", () => {
    test("quotes every argument except raw fragments", () => {
        const line = cmd("printf", "%s|", "a b", "c'd", raw("; echo done"));
        assert.equal(bash(line).stdout, "a b|c'd|done\n");
    });
    test("numbers are arguments too", () => {
        assert.equal(cmd("ufw", "allow", 22), "ufw allow 22");
    });
    test("and() chains with &&", () => {
        assert.equal(and("true", "false", "echo never"), "true && false && echo never");
        assert.notEqual(bash(and("true", "false", "echo never")).status, 0);
    });
    test("assign rejects bad variable names", () => {
        assert.equal(assign("A_B", "x y"), "A_B='x y'");
        assert.throws(() => assign("1A", "x"), /invalid shell variable name/);
        assert.throws(() => assign("A;B", "x"), /invalid shell variable name/);
    });
});

describe("script and remote", () => {
    test("strict mode: a failing line stops the script", () => {
        const r = bash(script("false", "echo unreachable"));
        assert.notEqual(r.status, 0);
        assert.equal(r.stdout, "");
    });
    test("drops false/undefined lines and flattens nested arrays", () => {
        const s = script("echo a", false, undefined, ["echo b", ["echo c"]]);
        assert.equal(bash(s).stdout, "a\nb\nc\n");
    });
    test("remote() wraps the script for bash -c, with sudo -n for non-root users", () => {
        const body = script(`echo ${quote("it's here")}`);
        const asRoot = remote(body, { sudo: false });
        assert.match(asRoot, /^bash -c '/);
        assert.equal(bash(asRoot).stdout, "it's here\n");
        assert.match(remote(body, { sudo: true }), /^sudo -n bash -c '/);
    });
    test("retry gives up after the last attempt", () => {
        assert.notEqual(bash(script(retry(2, 0, "false"))).status, 0);
        assert.equal(bash(script(retry(2, 0, "true"), "echo ok")).stdout, "ok\n");
    });
});

describe("secrets on stdin", () => {
    test("readSecrets reads each line into its variable", () => {
        const s = script(readSecrets("A", "B"), `printf '%s/%s' "$A" "$B"`);
        const r = bash(s, secretsPayload(["first secret", "second"]));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "first secret/second");
    });
    test("a missing secret fails with exit 64 and names it", () => {
        const r = bash(script(readSecrets("A", "B")), "only-one\n");
        assert.equal(r.status, 64);
        assert.match(r.stderr, /missing secret B/);
    });
    test("secretsPayload refuses multi-line values", () => {
        assert.throws(() => secretsPayload(["a\nb"]), /newline/);
    });
});

describe("writeFile", () => {
    test("writes atomically, reports change once, then is idempotent", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-wf-"));
        const target = path.join(dir, "x y.conf");
        const content = "line 1\nBERTH_EOF\n$NOT_EXPANDED `id`\n";
        const s = script("changed=0", writeFile(target, content, { mode: "0640", owner: `${os.userInfo().username}:${os.userInfo().username === "root" ? "root" : os.userInfo().username}` }), 'echo "changed=$changed"');
        const first = bash(s);
        assert.equal(first.status, 0, first.stderr);
        assert.equal(first.stdout, "changed=1\n");
        assert.equal(fs.readFileSync(target, "utf8"), content);
        assert.equal((fs.statSync(target).mode & 0o777).toString(8), "640");
        const second = bash(s);
        assert.equal(second.stdout, "changed=0\n");
        assert.deepEqual(fs.readdirSync(dir), ["x y.conf"], "no temp files left behind");
        fs.chmodSync(target, 0o644);
        assert.equal(bash(s).stdout, "changed=1\n", "a mode drift is repaired");
    });
});

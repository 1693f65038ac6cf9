/**
 * CLI manners, with the CLI spawned as a user runs it: help exits 0 on
 * stdout, no npm engine warnings, `berth init` end to end with a stand-in
 * `ssh-keyscan` on PATH, and the plan an operation shows before it converges
 * is not printed a second time in its summary.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { maintenance } from "../../cli/commands/maintenance";
import { Stack } from "../../cli/support/stack";
import { configFor, ROOT } from "./harness";

const BERTH = path.join(ROOT, "scripts", "berth");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID/OkqO5A1NNS+H5MK5fHskty1lNvmdXYIlpgLQpTTDi";
const RSA_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAACaurq6urq6urqw==";

/** PATH as in the user's shell: without the node_modules/.bin that `npm test` puts first (so `node` is the machine's). */
const USER_PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((d) => !d.includes(`${path.sep}node_modules${path.sep}`) && !d.endsWith(`${path.sep}node_modules`))
    .join(path.delimiter);

function run(cmd: string, args: string[], opts: { cwd?: string; path?: string; env?: NodeJS.ProcessEnv } = {}) {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: opts.path ?? USER_PATH };
    for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
    Object.assign(env, opts.env);
    const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, env, encoding: "utf8", timeout: 120_000 });
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}

describe("berth --help", () => {
    for (const args of [["--help"], ["-h"], ["help"], ["status", "--help"], ["-s", "staging", "help"]]) {
        test(`scripts/berth ${args.join(" ")}: the usage on stdout, exit 0, nothing on stderr`, () => {
            const r = run(BERTH, args);
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^usage: berth <op>/);
            assert.match(r.stdout, /^ {2}init <stack>/m);
            assert.equal(r.stderr, "");
        });
    }
    test("no operation: the usage, exit 64; an unknown one: exit 64", () => {
        assert.equal(run(BERTH, []).code, 64);
        const r = run(BERTH, ["bogus"]);
        assert.equal(r.code, 64);
        assert.match(r.stderr, /unknown operation "bogus"/);
    });
    test("`exec` keeps -h for its command", async () => {
        const { wantsHelp } = await import("../../cli/main");
        assert.equal(wantsHelp(["-s", "dev", "exec", "ls", "-h"]), false);
        assert.equal(wantsHelp(["exec", "--", "grep", "--help"]), false);
        assert.equal(wantsHelp(["logs", "-h"]), true);
    });
});

describe("no npm engine warnings", () => {
    test("npm run berth -- --help runs cli/main.ts on the project's Node: no EBADENGINE", () => {
        const r = run("npm", ["run", "--silent", "berth", "--", "--help"]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^usage: berth/);
        assert.doesNotMatch(r.stderr, /EBADENGINE/);
    });
    test("scripts/berth runs the project's Node 24, with no node on PATH at all", () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nonode-"));
        process.once("exit", () => fs.rmSync(bin, { recursive: true, force: true }));
        for (const tool of ["bash", "env", "readlink", "dirname"]) {
            const real = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
            fs.symlinkSync(real, path.join(bin, tool));
        }
        const r = run(BERTH, ["help"], { path: bin });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        const v = run(path.join(ROOT, "node_modules", ".bin", "node"), ["--version"]);
        assert.match(v.stdout, /^v24\./, "the node devDependency is Node 24");
    });
    /**
     * `npx berth` as on a machine that never ran it: npx links the project into a fresh
     * npm cache (`~/.npm/_npx`), the install that checks package.json's engines (offline:
     * it is a link to this checkout).
     */
    const firstNpx = (pathVar: string) => {
        const cache = fs.mkdtempSync(path.join(os.tmpdir(), "berth-npm-cache-"));
        process.once("exit", () => fs.rmSync(cache, { recursive: true, force: true }));
        return run("npx", ["--offline", "berth", "--help"], { path: pathVar, env: { npm_config_cache: cache } });
    };
    test("npx berth --help with npm on the project's Node (node_modules/.bin first on PATH): exit 0, no EBADENGINE", () => {
        const r = firstNpx(`${path.join(ROOT, "node_modules", ".bin")}${path.delimiter}${USER_PATH}`);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^usage: berth/);
        assert.equal(r.stderr, "");
    });
    test(
        "npx berth --help with the machine's own Node: no EBADENGINE",
        {
            // npx's first run links the project into its cache, and that install checks
            // package.json's engines against the Node npm runs on (@npmcli/arborist
            // build-ideal-tree.js #checkEngineAndPlatform) before scripts/berth starts. berth
            // declares no engines: its Node is the `node` devDependency, whatever npm runs on.
        },
        () => {
            const r = firstNpx(USER_PATH);
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^usage: berth/);
            assert.doesNotMatch(r.stderr, /EBADENGINE/);
        },
    );
});

describe("berth init on the command line", () => {
    /** A project directory and a PATH whose ssh-keyscan prints `answer` and records its arguments. */
    function world(answer: string) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-init-cli-"));
        process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
        fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "ssh-keyscan"), `#!/bin/sh\necho "$*" >> ${JSON.stringify(path.join(dir, "keyscan.log"))}\nfor h; do last=$h; done\necho "$last ${answer}"\n`, { mode: 0o755 });
        fs.mkdirSync(path.join(dir, "sub"));
        return { dir, path: `${bin}${path.delimiter}${USER_PATH}`, log: () => fs.readFileSync(path.join(dir, "keyscan.log"), "utf8") };
    }
    const args = ["init", "staging", "--host", "203.0.113.10", "--domain", "staging.shop.example.com", "--repository", "git@github.com:example-co/shop.git", "--yes"];

    test("writes Pulumi.<stack>.yaml next to Pulumi.yaml, pins keys with ssh-keyscan -t ed25519, prints the commands", () => {
        const w = world(HOST_KEY);
        const r = run(BERTH, args, { cwd: path.join(w.dir, "sub"), path: w.path });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(w.log(), "-t ed25519 203.0.113.10\n-t ed25519 github.com\n");
        const doc = YAML.parse(fs.readFileSync(path.join(w.dir, "Pulumi.staging.yaml"), "utf8"));
        assert.equal(doc.config["berth:hostKey"], HOST_KEY);
        assert.equal(doc.config["berth:repositoryHostKey"], HOST_KEY);
        assert.match(r.stdout, /^ {2}pulumi stack init staging --secrets-provider passphrase$/m);
        assert.match(r.stdout, /^ {2}pulumi config set --secret privateKey -s staging < /m);

        const again = run(BERTH, args, { cwd: w.dir, path: w.path });
        assert.equal(again.code, 64);
        assert.match(again.stderr, /Pulumi\.staging\.yaml exists; --force edits it/);
    });

    test("an ssh-rsa-only host is refused: exit 1, the reason, no file", () => {
        const w = world(RSA_KEY);
        const r = run(BERTH, args, { cwd: w.dir, path: w.path });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /offers only ssh-rsa host keys, which berth refuses to pin/);
        assert.ok(!fs.existsSync(path.join(w.dir, "Pulumi.staging.yaml")));
    });

    test("without a stack name: the init usage, exit 64", () => {
        const w = world(HOST_KEY);
        const r = run(BERTH, ["init"], { cwd: w.dir, path: w.path });
        assert.equal(r.code, 64);
        assert.match(r.stderr, /usage: berth init <stack>/);
    });
});

describe("headers printed once", () => {
    /** A stack whose converge only records what it was asked, on a host that then answers in maintenance. */
    function fakeStack(applied: Record<string, string>[]): Stack {
        const converger = {
            describe: (c: Record<string, string>) => [`pulumi up (${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(" ")})`],
            apply: async (c: Record<string, string>) => (applied.push(c), { ok: true }),
        };
        return { cfg: configFor("staging"), source: { converger }, probe: () => ({ maintenance: true }) } as unknown as Stack;
    }
    async function withStderr<T>(f: () => Promise<T>): Promise<{ out: T; stderr: string }> {
        const seen: string[] = [];
        const write = process.stderr.write;
        process.stderr.write = ((chunk: unknown) => (seen.push(String(chunk)), true)) as typeof process.stderr.write;
        try {
            return { out: await f(), stderr: seen.join("") };
        } finally {
            process.stderr.write = write;
        }
    }
    test("lines an operation showed on stderr before converging are not repeated in its summary", async () => {
        const applied: Record<string, string>[] = [];
        const { out, stderr } = await withStderr(() => maintenance(fakeStack(applied), "on", { yes: true }));
        assert.deepEqual(applied, [{ maintenance: "true" }]);
        assert.deepEqual(out.text, ["maintenance is on"]);
        assert.deepEqual(out.data, { maintenance: true, applied: true });
        assert.equal(stderr.split("\n").filter((l) => l === "maintenance on for shop-staging: berth:maintenance false -> true").length, 1, `stderr still shows the plan, once:\n${stderr}`);
        assert.match(stderr, /\$ pulumi up \(maintenance=true\)/);
    });
    test("a dry run (nothing shown on stderr) keeps its whole text", async () => {
        const applied: Record<string, string>[] = [];
        const { out, stderr } = await withStderr(() => maintenance(fakeStack(applied), "on", { dryRun: true }));
        assert.deepEqual(applied, []);
        assert.equal(stderr, "");
        assert.equal(out.text[0], "maintenance on for shop-staging: berth:maintenance false -> true");
        assert.equal(out.text[out.text.length - 1], "(dry run: nothing changed)");
    });
});

/**
 * Docker over SSH with only berth:privateKey: the program writes the key to
 * `~/.berth/ssh/<project>-<stack>-<host>.key` under the passwd home (the harness
 * points `os.userInfo().homedir` at a temporary TEST_HOME), and the Docker
 * provider's ssh options name that file with ssh's own `~/`, the same text
 * on every machine, never the key.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { dockerSshOpts } from "../../components/data/dataServices";
import { sshIdentityFile } from "../../lib/names";
import { stateKeyFiles, writeDockerSshIdentity, writeSshIdentity, writeStateSshIdentities } from "../../lib/sshIdentity";
import { dataHostMoves } from "../../lib/dataHostMove";
import { pulumiConverger } from "../../cli/support/source";
import { byType, configFor, runProgram, stackConfig, TEST_HOME, testPrivateKey, unwrap } from "./harness";

const KEY_FILE = "~/.berth/ssh/berth-staging-203.0.113.10.key";

function providerOpts(r: Awaited<ReturnType<typeof runProgram>>): string[] {
    const [p] = byType(r, "pulumi:providers:docker");
    const raw = unwrap(p.inputs.sshOpts);
    return typeof raw === "string" ? JSON.parse(raw) : raw;
}

describe("the key file path is one fact", () => {
    test("names: relative to the home directory, and ssh's ~/ form", () => {
        assert.deepEqual(sshIdentityFile("berth", "staging", "203.0.113.10"), { relative: ".berth/ssh/berth-staging-203.0.113.10.key", forSsh: KEY_FILE });
        assert.throws(() => sshIdentityFile("berth", "../x", "h"), /plain names/);
        assert.throws(() => sshIdentityFile("berth", "x", "../h"), /plain names/);
        assert.notEqual(sshIdentityFile("berth", "dev", "10.0.0.1").relative, sshIdentityFile("berth", "dev", "10.0.0.2").relative, "one file per host");
    });
});

describe("dockerSshOpts", () => {
    test("with berth:privateKey: IdentitiesOnly and the ~/ key file, host key still pinned, no key text", () => {
        const cfg = configFor("staging");
        const opts = dockerSshOpts(cfg);
        const i = opts.indexOf("IdentitiesOnly=yes");
        assert.ok(i > 0 && opts[i - 1] === "-o");
        assert.equal(opts[opts.indexOf(`IdentityFile=${KEY_FILE}`) - 1], "-o");
        assert.ok(opts.includes("StrictHostKeyChecking=yes"));
        assert.ok(opts.some((o) => o.startsWith("KnownHostsCommand=/bin/echo 203.0.113.10 ssh-ed25519 ")), opts.join(" "));
        const text = opts.join(" ");
        assert.ok(!text.includes(cfg.host.privateKey!.split("\n")[1]), "the key never appears in sshOpts");
        assert.doesNotMatch(text, /PRIVATE KEY|\/root|\/home\//, "no machine-specific path");
    });
    test("with the agent only: as before, no identity options", () => {
        const cfg = configFor("staging", { "berth:privateKey": undefined, "berth:sshAgent": true });
        const opts = dockerSshOpts(cfg);
        assert.ok(!opts.some((o) => o.startsWith("Identit")), opts.join(" "));
        assert.ok(opts.includes("StrictHostKeyChecking=yes"));
    });
    test("real ssh accepts the options as given (ssh -G resolves the configuration without connecting)", () => {
        const r = spawnSync("ssh", ["-G", ...dockerSshOpts(configFor("staging")), "-p", "22", "root@203.0.113.10"], { encoding: "utf8" });
        if (r.error) return; // no OpenSSH client here
        assert.equal(r.status, 0, r.stderr);
        // ssh expands ~ itself when it loads the file, from the passwd entry
        // (tilde_expand_filename), which is os.userInfo().homedir.
        assert.match(r.stdout, /^identityfile ~\/\.berth\/ssh\/berth-staging-203\.0\.113\.10\.key$/m);
        assert.match(r.stdout, /^identitiesonly yes$/m);
        assert.match(r.stdout, /^stricthostkeychecking true$/m);
    });
});

describe("writeSshIdentity", () => {
    const cfg = (key: string | undefined, stack = "t1") => ({ project: "berth", stack, host: { privateKey: key, address: "192.0.2.1" } as any });
    const home = () => fs.mkdtempSync(path.join(os.tmpdir(), "berth-idhome-"));

    test("writes the key 0600 in a 0700 directory, with a final newline, atomically", () => {
        const h = home();
        const key = testPrivateKey("w1").trimEnd();
        const file = writeSshIdentity(cfg(key), h)!;
        assert.equal(file, path.join(h, ".berth/ssh/berth-t1-192.0.2.1.key"));
        assert.equal(fs.readFileSync(file, "utf8"), `${key}\n`);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
        assert.deepEqual(fs.readdirSync(path.dirname(file)), ["berth-t1-192.0.2.1.key"], "no temporary file left");
    });
    test("once per run, and only when the content (or mode) differs", () => {
        const h = home();
        const dir = path.join(h, ".berth/ssh");
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        const file = path.join(dir, "berth-t2-192.0.2.1.key");
        fs.writeFileSync(file, testPrivateKey("t2"), { mode: 0o600 });
        const ino = fs.statSync(file).ino;
        writeSshIdentity(cfg(testPrivateKey("t2"), "t2"), h);
        assert.equal(fs.statSync(file).ino, ino, "same content: not rewritten");
        assert.equal(fs.statSync(dir).mode & 0o777, 0o700, "directory tightened");
        // A different key on another stack name in the same process.
        const other = path.join(dir, "berth-t3-192.0.2.1.key");
        fs.writeFileSync(other, "old\n", { mode: 0o644 });
        writeSshIdentity(cfg(testPrivateKey("t3"), "t3"), h);
        assert.equal(fs.readFileSync(other, "utf8"), testPrivateKey("t3"));
        assert.equal(fs.statSync(other).mode & 0o777, 0o600);
        // Already written in this run: a second call does nothing.
        fs.writeFileSync(other, "changed behind our back\n");
        writeSshIdentity(cfg(testPrivateKey("t3"), "t3"), h);
        assert.equal(fs.readFileSync(other, "utf8"), "changed behind our back\n");
    });
    test("no berth:privateKey (agent): nothing written", () => {
        const h = home();
        assert.equal(writeSshIdentity(cfg(undefined, "t4"), h), undefined);
        assert.ok(!fs.existsSync(path.join(h, ".berth")));
    });
});

describe("writeDockerSshIdentity: the data host's key file only", () => {
    test("several hosts: one file, named after the data host's address", () => {
        const fleet = configFor("fleet", {}, "examples/Pulumi.fleet.yaml");
        const h = fs.mkdtempSync(path.join(os.tmpdir(), "berth-idhome-"));
        const file = writeDockerSshIdentity(fleet, h);
        assert.equal(file, path.join(h, ".berth/ssh/berth-fleet-203.0.113.33.key"));
        assert.deepEqual(fs.readdirSync(path.join(h, ".berth/ssh")), ["berth-fleet-203.0.113.33.key"]);
    });
});

describe("fresh runners: prepare writes the key file of every host the state still references", () => {
    const FLEET = "examples/Pulumi.fleet.yaml";
    const hostsWithData = (address: string) => [
        { name: "web1", address: "203.0.113.31", roles: ["web", "worker"] },
        { name: "web2", address: "203.0.113.32", roles: ["web"] },
        { name: "data", address, roles: ["data"] },
    ].map((h) => ({ ...h, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k" }));

    test("the data host moved: the old provider in state (as `pulumi stack export` holds it) names the old host's file, written with berth:privateKey", async () => {
        // The state an earlier up left: the program's resources with the data host on .33.
        const before = await runProgram(stackConfig("fleet", { "berth:hosts": hostsWithData("203.0.113.33") }, FLEET));
        const exported = {
            deployment: {
                resources: before.resources.map((r) => ({ type: r.type, inputs: unwrap(r.inputs) })),
            },
        };
        // Now the configuration says .44; a fresh runner has no key file at all.
        const moved = configFor("fleet", { "berth:hosts": hostsWithData("203.0.113.44") }, FLEET);
        const h = fs.mkdtempSync(path.join(os.tmpdir(), "berth-idhome-"));
        const current = writeDockerSshIdentity(moved, h);
        const fromState = writeStateSshIdentities(moved, JSON.parse(JSON.stringify(exported)).deployment.resources, h);
        assert.deepEqual(fromState, [path.join(h, ".berth/ssh/berth-fleet-203.0.113.33.key")]);
        assert.equal(current, path.join(h, ".berth/ssh/berth-fleet-203.0.113.44.key"));
        assert.deepEqual(fs.readdirSync(path.join(h, ".berth/ssh")).sort(), ["berth-fleet-203.0.113.33.key", "berth-fleet-203.0.113.44.key"]);
        const old = path.join(h, ".berth/ssh/berth-fleet-203.0.113.33.key");
        assert.equal(fs.readFileSync(old, "utf8"), moved.host.privateKey!.endsWith("\n") ? moved.host.privateKey : `${moved.host.privateKey}\n`);
        assert.equal((fs.statSync(old).mode & 0o777).toString(8), "600");
        // ssh finds it under the name the old provider's options carry.
        const oldOpts = exported.deployment.resources.find((r) => r.type === "pulumi:providers:docker")!.inputs.sshOpts;
        const opts: string[] = typeof oldOpts === "string" ? JSON.parse(oldOpts) : oldOpts;
        assert.ok(opts.includes(`IdentityFile=~/.berth/ssh/berth-fleet-203.0.113.33.key`), opts.join(" "));
    });

    test("providers' options stored as JSON text count too; other stacks' files, other paths and non-docker resources do not", () => {
        const res = [
            { type: "pulumi:providers:docker", inputs: { sshOpts: JSON.stringify(["-o", "IdentityFile=~/.berth/ssh/berth-fleet-198.51.100.7.key"]) } },
            { type: "pulumi:providers:docker", inputs: { sshOpts: ["-o", "IdentityFile=~/.berth/ssh/berth-other-198.51.100.8.key"] } },
            { type: "pulumi:providers:docker", inputs: { sshOpts: ["-o", "IdentityFile=~/.ssh/id_ed25519"] } },
            { type: "pulumi:providers:docker", inputs: { sshOpts: ["-o", "IdentityFile=~/.berth/ssh/berth-fleet-../../x.key"] } },
            { type: "command:remote:Command", inputs: { sshOpts: ["-o", "IdentityFile=~/.berth/ssh/berth-fleet-198.51.100.9.key"] } },
            { type: "pulumi:providers:docker", inputs: {} },
        ];
        assert.deepEqual(stateKeyFiles(res, "berth", "fleet"), [".berth/ssh/berth-fleet-198.51.100.7.key"]);
    });

    test("the test applier's state file (prepare --state) gives the same resources", () => {
        const { writeState } = require("../e2e/engine") as typeof import("../e2e/engine");
        const { stateResources } = require("../../cli/support/source") as typeof import("../../cli/support/source");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-state-"));
        const file = path.join(dir, "state.json");
        const provider = { urn: "urn:pulumi:fleet::berth::pulumi:providers:docker::p", type: "pulumi:providers:docker", name: "p", custom: true, inputs: { sshOpts: ["-o", "IdentityFile=~/.berth/ssh/berth-fleet-203.0.113.33.key"] }, outputs: {}, protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], dependencies: [], order: 0 };
        writeState(file, { version: 2, resources: [provider] });
        assert.deepEqual(stateKeyFiles(stateResources("fleet", undefined, file), "berth", "fleet"), [".berth/ssh/berth-fleet-203.0.113.33.key"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("agent only (no berth:privateKey): nothing written", () => {
        const dev = configFor("dev", {}, "examples/Pulumi.fleet.yaml");
        const agentOnly = { ...dev, host: { ...dev.host, privateKey: undefined } };
        const h = fs.mkdtempSync(path.join(os.tmpdir(), "berth-idhome-"));
        assert.deepEqual(writeStateSshIdentities(agentOnly, [{ type: "pulumi:providers:docker", inputs: { sshOpts: ["IdentityFile=~/.berth/ssh/berth-dev-198.51.100.7.key"] } }], h), []);
        assert.ok(!fs.existsSync(path.join(h, ".berth")));
    });
});

describe("the program writes the key file at start (also in preview)", () => {
    for (const preview of [false, true]) {
        test(`staging${preview ? " (preview)" : ""}: ~/.berth/ssh/berth-staging-<host>.key holds berth:privateKey, the provider points at it`, async () => {
            const file = path.join(TEST_HOME, ".berth/ssh/berth-staging-203.0.113.10.key");
            fs.rmSync(file, { force: true });
            const sc = stackConfig("staging");
            const r = await runProgram(sc, { preview });
            assert.equal(r.error, undefined, r.error?.message);
            assert.equal(fs.readFileSync(file, "utf8"), sc.values["berth:privateKey"]);
            assert.equal(fs.statSync(file).mode & 0o777, 0o600);
            assert.ok(providerOpts(r).includes(`IdentityFile=${KEY_FILE}`));
        });
    }
    test("dev (agent only): no key file, no identity options", async () => {
        const r = await runProgram(stackConfig("dev", { "berth:deployKey": { secure: "set-by-dev-up" } }));
        assert.equal(r.error, undefined, r.error?.message);
        const dir = path.join(TEST_HOME, ".berth/ssh");
        assert.ok(!fs.existsSync(dir) || !fs.readdirSync(dir).some((f) => f.startsWith("berth-dev-")));
        assert.ok(!providerOpts(r).some((o) => o.startsWith("Identit")));
    });
});

describe("a data host moved under the same names (lib/dataHostMove.ts, berth prepare)", () => {
    const providerUrn = (stack: string, name: string) => `urn:pulumi:${stack}::berth::berth:env:Environment$berth:data:DataServices$pulumi:providers:docker::${name}`;
    /** The state of the program's own Docker provider for `stack` (its name and host as the program registers them). */
    async function providerState(stack: string, overrides: Record<string, unknown> = {}) {
        const [p] = byType(await runProgram(stackConfig(stack, overrides)), "pulumi:providers:docker");
        return { urn: providerUrn(stack, p.name), type: p.type, inputs: { host: unwrap(p.inputs.host) } };
    }

    test("the same host passes; berth:host on another address is refused with both hosts and the state edit naming the provider's URN", async () => {
        const state = [await providerState("staging")];
        assert.deepEqual(dataHostMoves(configFor("staging"), state), []);
        const errs = dataHostMoves(configFor("staging", { "berth:host": "203.0.113.99" }), state);
        assert.equal(errs.length, 1);
        assert.match(errs[0], /^berth:host: the data services' Docker resources \(Postgres, Redis, their volumes\) are recorded on ssh:\/\/[a-z]+@203\.0\.113\.10:22, and this configuration points their provider at ssh:\/\/[a-z]+@203\.0\.113\.99:22\./);
        assert.ok(errs[0].includes(`pulumi state delete --target-dependents --force --yes --stack staging '${state[0].urn}'`), errs[0]);
        // A provider awaiting its delete (a replaced or removed one) is not what the program registers again.
        assert.deepEqual(dataHostMoves(configFor("staging", { "berth:host": "203.0.113.99" }), [{ ...state[0], delete: true }]), []);
    });
    test("a berth:hosts entry that keeps its name but not its address is refused; a new data host under its own name (the grow procedure) is not", async () => {
        const state = [await providerState("fleet")];
        const hosts = (address: string) => {
            const doc = stackConfig("fleet").values["berth:hosts"];
            return JSON.parse(doc).map((h: { name: string }) => (h.name === "data" ? { ...h, address } : h));
        };
        assert.deepEqual(dataHostMoves(configFor("fleet"), state), []);
        const errs = dataHostMoves(configFor("fleet", { "berth:hosts": hosts("203.0.113.99") }), state);
        assert.equal(errs.length, 1);
        assert.match(errs[0], /^berth:hosts \(data\): /);
        // The single-host staging's provider in the state, the stack now web1 (same address) + a new data host: a new URN, no refusal.
        const single = [await providerState("staging")];
        const grown = configFor("staging", {
            "berth:host": undefined,
            "berth:hostKey": undefined,
            "berth:hosts": [
                { name: "web1", address: "203.0.113.10", hostKey: configFor("staging").host.hostKey, roles: ["web", "worker"] },
                { name: "data", address: "203.0.113.11", hostKey: configFor("staging").host.hostKey, roles: ["data"] },
            ],
        });
        assert.deepEqual(dataHostMoves(grown, single), []);
    });
    test("the day-2 converges refuse it too (berth rollback, berth maintenance): before any traffic move, commit or up", async () => {
        // A stand-in pulumi that logs its calls and exports a state holding the program's own provider (on 203.0.113.10).
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-moved-"));
        const log = path.join(dir, "calls");
        fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify({ deployment: { resources: [await providerState("staging")] } }));
        const pulumi = path.join(dir, "pulumi");
        fs.writeFileSync(pulumi, `#!/usr/bin/env bash\necho "$*" >> ${log}\nif [ "$1 $2" = "stack export" ]; then cat ${dir}/state.json; fi\n`, { mode: 0o755 });
        const calls = () => fs.readFileSync(log, "utf8").trim().split("\n");
        const moved = configFor("staging", { "berth:host": "203.0.113.99" });
        const conv = pulumiConverger("staging", "berth", {}, {}, dir, pulumi, moved);
        assert.throws(() => conv.ready!(), /berth:host: the data services' Docker resources .* pulumi state delete --target-dependents --force --yes --stack staging '/s);
        const r = await conv.apply({ maintenance: "true" }, { yes: true });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /^berth: stack staging:\nberth:host: the data services' Docker resources/);
        assert.deepEqual(calls(), ["stack export --stack staging"], "the state was read once; nothing committed, no up");
        // The same host: no refusal (--local: no git checkout needed for ready).
        fs.rmSync(log);
        pulumiConverger("staging", "berth", {}, { local: true }, dir, pulumi, configFor("staging")).ready!();
        assert.deepEqual(calls(), ["stack export --stack staging"]);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});

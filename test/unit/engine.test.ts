/**
 * The engine model (test/e2e/engine.ts) and the provider argv builders
 * (test/e2e/providers.ts) on small synthetic programs with recording fake
 * providers: each test pins one behaviour of the real engine and fails if the
 * model loses it. The citations are in the two files' headers.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { bridgeRefreshInputs, diffBy, Engine, EngineReport, Models, PartialFailure, readState, ResourceModel, UNKNOWN, UpOptions } from "../e2e/engine";
import { commandSshArgs, connhelperArgs, CONTAINER_IN_PLACE, containerState, goDuration, HostModels } from "../e2e/providers";

process.env.BERTH_APPLIER_KEY_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "berth-engine-key-"));

const T = "test:index:Thing";
const C = "test:index:Group";

class Group extends pulumi.ComponentResource {
    constructor(name: string, opts?: pulumi.ComponentResourceOptions, type = C) {
        super(type, name, {}, opts);
        this.registerOutputs({});
    }
}

class Thing extends pulumi.CustomResource {
    declare public readonly out: pulumi.Output<string>;
    constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts?: pulumi.CustomResourceOptions) {
        super(T, name, { ...props, out: undefined }, opts);
    }
}

function thing(name: string, props: Record<string, pulumi.Input<unknown>>, opts?: pulumi.CustomResourceOptions): Thing {
    return new Thing(name, props, opts);
}

/** A fake provider: `key` changes replace, everything else updates; every call is logged. */
function fakeModels(log: string[], behaviour: { failCreate?: string; failDelete?: string; partial?: string; bridged?: boolean } = {}): Models {
    const m: ResourceModel = {
        diff: diffBy((k) => k === "key"),
        computed: ["out"],
        secretOutputs: [],
        create: async (ctx, i) => {
            log.push(`create ${ctx.name}`);
            if (behaviour.failCreate === ctx.name) throw new Error(`create of ${ctx.name} failed`);
            if (behaviour.partial === ctx.name) throw new PartialFailure(`${ctx.name} did not get healthy`, { ...i, out: `${ctx.name}-out` });
            return { ...i, out: `${ctx.name}-${i.key ?? ""}-out` };
        },
        update: async (ctx, _old, i) => {
            log.push(`update ${ctx.name}`);
            return { ...i, out: `${ctx.name}-${i.key ?? ""}-out` };
        },
        delete: async (ctx) => {
            log.push(`delete ${ctx.name}`);
            if (behaviour.failDelete === ctx.name) throw new Error(`delete of ${ctx.name} failed`);
        },
        bridged: behaviour.bridged,
    };
    return { [T]: m };
}

function engine(statePath: string, models: Models): Engine {
    return new Engine({ statePath, project: "proj", stack: "dev", models });
}

/**
 * One `pulumi up` of a synthetic program. A failed registration rejects the
 * resource's outputs inside the SDK, which nobody awaits: those rejections
 * belong to the run (the applier's child process ignores them), so the test
 * runner's own unhandledRejection listener is set aside meanwhile.
 */
async function up(statePath: string, models: Models, program: () => unknown, preview = false, opts: UpOptions = {}): Promise<EngineReport> {
    const listeners = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", () => undefined);
    try {
        return await engine(statePath, models).up({ config: {}, secretKeys: [], program: async () => ((await program()) as Record<string, unknown>) ?? {} }, preview, opts);
    } finally {
        await new Promise((r) => setTimeout(r, 50));
        process.removeAllListeners("unhandledRejection");
        for (const l of listeners) process.on("unhandledRejection", l);
    }
}

function tmpState(): string {
    return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "berth-engine-")), "state.json");
}

const urn = (qt: string, name: string) => `urn:pulumi:dev::proj::${qt}::${name}`;

describe("engine model: 1. identity is the URN", () => {
    test("URNs carry the whole parent type chain, without the Stack", async () => {
        const st = tmpState();
        const r = await up(st, fakeModels([]), () => {
            const outer = new Group("outer");
            const inner = new Group("inner", { parent: outer }, "test:index:Inner");
            thing("a", { key: "1" }, { parent: inner });
        });
        assert.ok(r.ok, r.error);
        assert.ok(r.steps[urn(`${C}$test:index:Inner$${T}`, "a")], Object.keys(r.steps).join("\n"));
        assert.ok(readState(st).resources.some((x) => x.urn === urn(`${C}$test:index:Inner$${T}`, "a")));
    });

    test("re-parenting without an alias creates the new resource and deletes the old one at the end", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("a", { key: "1" }, { parent: new Group("one") }));
        log.length = 0;
        // Another parent type: the URN changes (a parent of the same type would keep it, URNs hold types, not parent names).
        const r = await up(st, fakeModels(log), () => {
            thing("a", { key: "1" }, { parent: new Group("two", {}, "test:index:Other") });
            thing("b", { key: "1" });
        });
        assert.ok(r.ok, r.error);
        assert.deepEqual([...log.slice(0, 2)].sort(), ["create a", "create b"]);
        assert.equal(log[2], "delete a", "the old one goes last");
        assert.equal(r.steps[urn(`${C}$${T}`, "a")].op, "delete");
    });

    test("an alias (or one inherited from a renamed parent) moves the old resource instead", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("app-a", { key: "1" }, { parent: new Group("app") }));
        log.length = 0;
        // Parent renamed app -> web with an alias; the child named after it follows (inheritedChildAlias).
        const r = await up(st, fakeModels(log), () => thing("web-a", { key: "1" }, { parent: new Group("web", { aliases: [{ name: "app" }] }) }));
        assert.ok(r.ok, r.error);
        assert.deepEqual(log, []);
        const r2 = await up(st, fakeModels(log), () => thing("moved", { key: "1" }, { aliases: [{ name: "web-a", parent: undefined as unknown as pulumi.Resource }, urn(`${C}$${T}`, "web-a")] }));
        assert.ok(r2.ok, r2.error);
        assert.deepEqual(log, []);
        assert.deepEqual(readState(st).resources.filter((x) => x.type === T).map((x) => x.urn), [urn(T, "moved")]);
    });

    test("protect is inherited from the parent component; retainOnDelete too (engine inheritFromParent)", async () => {
        const st = tmpState();
        await up(st, fakeModels([]), () => {
            thing("p", { key: "1" }, { parent: new Group("g", { protect: true }) });
            thing("r", { key: "1" }, { parent: new Group("h", { retainOnDelete: true }) });
        });
        const s = readState(st).resources;
        assert.equal(s.find((x) => x.name === "p")!.protect, true);
        assert.equal(s.find((x) => x.name === "r")!.retainOnDelete, true);
    });
});

describe("engine model: 2. destroy", () => {
    test("deletes in reverse order, forgets retainOnDelete, fails on protected ones but carries on", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => {
            const early = thing("early", { key: "1" });
            const g = new Group("g", { dependsOn: [early] });
            const base = thing("base", { key: "1" }, { dependsOn: [early] });
            thing("kept", { key: "1" }, { protect: true, parent: g, dependsOn: [base] });
            thing("retained", { key: "1" }, { retainOnDelete: true });
            thing("plain", { key: "1" }, { dependsOn: [base] });
        });
        log.length = 0;
        const r = await engine(st, fakeModels(log)).destroy();
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /cannot be deleted\nbecause it is protected/);
        assert.deepEqual(log, ["delete plain"], "retained is forgotten without its delete; kept's dependencies (base, g, early) stay");
        const left = readState(st).resources.map((x) => x.name).sort();
        assert.deepEqual(left, ["base", "early", "g", "kept", "proj-dev"]);
        // An independent resource deleted after the protected one's failure: the engine carries on.
        const st2 = tmpState();
        await up(st2, fakeModels([]), () => {
            thing("other", { key: "1" });
            thing("kept", { key: "1" }, { protect: true });
        });
        log.length = 0;
        const r2 = await engine(st2, fakeModels(log)).destroy();
        assert.equal(r2.ok, false);
        assert.deepEqual(log, ["delete other"]);
    });
});

describe("engine model: 3. replace", () => {
    test("create-before-delete: the old one is deleted after every create and update", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => {
            thing("a", { key: "1" });
            thing("b", { v: "1" });
        });
        log.length = 0;
        const r = await up(st, fakeModels(log), () => {
            thing("a", { key: "2" });
            thing("b", { v: "2" });
        });
        assert.ok(r.ok, r.error);
        assert.deepEqual(log, ["create a", "update b", "delete a"]);
        assert.deepEqual(r.steps[urn(T, "a")], { op: "replace", keys: ["key"], replaceKeys: ["key"] });
    });

    test("deleteBeforeReplace deletes first", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("a", { key: "1" }, { deleteBeforeReplace: true }));
        log.length = 0;
        await up(st, fakeModels(log), () => thing("a", { key: "2" }, { deleteBeforeReplace: true }));
        assert.deepEqual(log, ["delete a", "create a"]);
    });

    test("a failed delete of the replaced resource stays pending and is retried by the next run (at its end)", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("a", { key: "1" }));
        const r = await up(st, fakeModels(log, { failDelete: "a" }), () => thing("a", { key: "2" }));
        assert.equal(r.ok, false);
        const pending = readState(st).resources.filter((x) => x.name === "a");
        assert.deepEqual(pending.map((x) => !!x.pendingDelete).sort(), [false, true]);
        log.length = 0;
        const r2 = await up(st, fakeModels(log), () => {
            thing("a", { key: "2" });
            thing("b", { key: "1" });
        });
        assert.ok(r2.ok, r2.error);
        assert.deepEqual(log, ["create b", "delete a"]);
        assert.equal(readState(st).resources.filter((x) => x.name === "a").length, 1);
    });

    test("replacing a protected resource stops the update; unprotect + replace in one update is allowed", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("a", { key: "1" }, { protect: true }));
        log.length = 0;
        const r = await up(st, fakeModels(log), () => thing("a", { key: "2" }, { protect: true }));
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /unable to replace resource .* marked for protection/s);
        assert.deepEqual(log, []);
        const r2 = await up(st, fakeModels(log), () => thing("a", { key: "2" }, { protect: false }));
        assert.ok(r2.ok, r2.error);
        assert.deepEqual(log, ["create a", "delete a"]);
    });

    test("ignoreChanges keeps the old value, so no replacement", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("a", { key: "1" }, { ignoreChanges: ["key"] }));
        log.length = 0;
        const r = await up(st, fakeModels(log), () => thing("a", { key: "2" }, { ignoreChanges: ["key"] }));
        assert.ok(r.ok, r.error);
        assert.deepEqual(log, []);
        assert.equal(r.steps[urn(T, "a")].op, "same");
    });
});

describe("engine model: 4. a failure cancels the deployment", () => {
    test("no step starts after a failed one; removed resources are not deleted", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("gone", { key: "1" }));
        log.length = 0;
        const r = await up(st, fakeModels(log, { failCreate: "first" }), () => {
            const first = thing("first", { key: "1" });
            thing("after", { key: "1" }, { dependsOn: [first] });
            // Independent, but registered once the failure is known.
            return new Promise((res) => setTimeout(() => (thing("later", { key: "1" }), res({})), 200));
        });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /create of first failed/);
        assert.deepEqual(log, ["create first"]);
        assert.ok(readState(st).resources.some((x) => x.name === "gone"), "removed resource kept after a failed run");
    });
});

describe("engine model: 6. partial creates (initErrors)", () => {
    test("state is kept with initErrors; the next run forces an update, which a bridged provider answers without calling Terraform", async () => {
        const st = tmpState();
        const log: string[] = [];
        const r = await up(st, fakeModels(log, { partial: "c", bridged: true }), () => thing("c", { key: "1" }));
        assert.equal(r.ok, false);
        assert.deepEqual(readState(st).resources.find((x) => x.name === "c")!.initErrors, ["c did not get healthy"]);
        log.length = 0;
        const r2 = await up(st, fakeModels(log, { bridged: true }), () => thing("c", { key: "1" }));
        assert.ok(r2.ok, r2.error);
        assert.equal(r2.steps[urn(T, "c")].op, "update");
        assert.deepEqual(log, [], "bridge Update with no diff returns the old state");
        assert.equal(readState(st).resources.find((x) => x.name === "c")!.initErrors, undefined);
    });

    test("container fields: healthcheck and restart update in place, image and uploads replace", () => {
        const models = new HostModels({ commands: [], dockerChanges: [] }).models();
        const d = models["docker:index/container:Container"].diff;
        const base = { name: "x", image: "i1", restart: "no", healthcheck: { tests: ["CMD-SHELL", "true"] }, uploads: [] };
        assert.deepEqual(d(base, { ...base, healthcheck: { tests: ["CMD-SHELL", "false"] }, restart: "always" }).replaceKeys, []);
        assert.deepEqual(d(base, { ...base, image: "i2", uploads: [{ file: "/f", content: "x" }] }).replaceKeys, ["image", "uploads"]);
        assert.ok(!CONTAINER_IN_PLACE.has("labels") && CONTAINER_IN_PLACE.has("wait"));
        const v = models["docker:index/volume:Volume"].diff;
        assert.deepEqual(v({ name: "v", labels: [1] }, { name: "v", labels: [2] }).replaceKeys, ["labels"], "volume labels are ForceNew");
    });
});

describe("providers: 5. docker over SSH and 7. host keys", () => {
    test("docker's connhelper argv: -l/-p, sshOpts verbatim, ConnectTimeout, -T, one remote command; no key of its own", () => {
        const opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"];
        assert.deepEqual(connhelperArgs("ssh://deploy@10.0.0.5:2222", opts), [
            "-l", "deploy", "-p", "2222", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o ConnectTimeout=30", "-T", "--", "10.0.0.5", "docker system dial-stdio",
        ]);
        assert.deepEqual(connhelperArgs("ssh://root@h", ["-o", "ConnectTimeout=5"]), ["-l", "root", "-o", "ConnectTimeout=5", "-T", "--", "h", "docker system dial-stdio"]);
    });

    test("pulumi-command's dial: no ssh_config, the key then the agent, only the pinned key's algorithm", () => {
        const conn = { host: "h", port: 22, user: "root", hostKey: "ssh-ed25519 AAAAC3Nza key", privateKey: "k" };
        const a = commandSshArgs(conn, { keyFile: "/k", knownHosts: "/kh" }, {});
        const opt = (name: string) => a[a.indexOf(a.find((x) => x.startsWith(`${name}=`))!)]?.split("=")[1];
        assert.deepEqual(a.slice(0, 2), ["-F", "/dev/null"]);
        assert.equal(opt("HostKeyAlgorithms"), "ssh-ed25519");
        assert.equal(opt("IdentityFile"), "/k");
        assert.equal(opt("IdentityAgent"), "none");
        assert.equal(opt("StrictHostKeyChecking"), "yes");
        const withAgent = commandSshArgs(conn, { keyFile: "/k", knownHosts: "/kh" }, { SSH_AUTH_SOCK: "/run/agent" });
        assert.ok(withAgent.includes("IdentityAgent=/run/agent"));
        const rsa = commandSshArgs({ ...conn, hostKey: "ssh-rsa AAAAB3" }, { knownHosts: "/kh" }, {});
        assert.ok(rsa.includes("HostKeyAlgorithms=ssh-rsa"), "a pinned RSA key asks for ssh-rsa (SHA-1) only");
    });
});

describe("engine model: 8. preview", () => {
    test("reports each step and changed keys without calling providers; unknowns flow to dependents; up then does that", async () => {
        const st = tmpState();
        const log: string[] = [];
        const program = (k: string) => () => {
            const a = thing("a", { key: k });
            thing("b", { v: a.out });
            thing("c", { v: "fixed" });
        };
        await up(st, fakeModels(log), () => (program("1")(), thing("removed", { key: "1" })));
        log.length = 0;
        const p = await up(st, fakeModels(log), program("2"), true);
        assert.ok(p.ok, p.error);
        assert.deepEqual(log, [], "a preview calls no provider");
        assert.deepEqual(p.steps[urn(T, "a")], { op: "replace", keys: ["key"], replaceKeys: ["key"] });
        assert.equal(p.steps[urn(T, "b")].op, "update", "b's input is unknown until a is replaced");
        assert.equal(p.steps[urn(T, "c")].op, "same");
        assert.equal(p.steps[urn(T, "removed")].op, "delete");
        assert.ok(readState(st).resources.some((x) => x.name === "removed"), "a preview changes no state");
        const u = await up(st, fakeModels(log), program("2"));
        for (const [k, s] of Object.entries(u.steps)) assert.equal(s.op, p.steps[k].op, k);
        assert.equal(UNKNOWN.length, 36);
    });
});

describe("engine model: secrets in state", () => {
    test("secret inputs and outputs are encrypted in the state file", async () => {
        const st = tmpState();
        const r = await up(st, fakeModels([]), () => thing("s", { key: "1", password: pulumi.secret("hunter2-very-secret") }));
        assert.ok(r.ok, r.error);
        const text = fs.readFileSync(st, "utf8");
        assert.ok(!text.includes("hunter2-very-secret"), "plaintext secret in state");
        assert.match(text, /ciphertext/);
        assert.equal((fs.statSync(st).mode & 0o777).toString(8), "600");
        const back = readState(st).resources.find((x) => x.name === "s")!;
        assert.equal(back.inputs.password.value, "hunter2-very-secret");
    });
});

describe("engine model: 9. refresh and 10. --expect-no-changes", () => {
    /**
     * A fake provider with a Read: `world` says what the outside holds for a
     * resource name (absent: gone; a record: the state the Read returns).
     */
    function readModels(log: string[], world: Map<string, Record<string, unknown>>, behaviour: { failRead?: string } = {}): Models {
        const base = fakeModels(log)[T];
        return {
            [T]: {
                ...base,
                create: async (ctx, i) => {
                    const out = await base.create(ctx, i);
                    world.set(ctx.name, { ...out });
                    return out;
                },
                read: async (ctx, old) => {
                    log.push(`read ${ctx.name}`);
                    if (behaviour.failRead === ctx.name) throw new Error(`cannot reach ${ctx.name}`);
                    const now = world.get(ctx.name);
                    if (!now) return undefined;
                    const outputs = { ...(old.outputs as Record<string, unknown>), ...now };
                    return { outputs, inputs: bridgeRefreshInputs(old.inputs, outputs) };
                },
            },
        };
    }

    test("a resource read as gone: the preview plans its create, writes nothing; the up creates it again", async () => {
        const st = tmpState();
        const log: string[] = [];
        const world = new Map<string, Record<string, unknown>>();
        const program = () => {
            thing("a", { key: "1", password: pulumi.secret("s3cret-value-123") });
            thing("b", { key: "1" });
        };
        await up(st, readModels(log, world), program);
        world.delete("a");
        log.length = 0;
        const plain = await up(st, readModels(log, world), program, true);
        assert.equal(plain.steps[urn(T, "a")].op, "same", "without refresh the state is believed");
        const p = await up(st, readModels(log, world), program, true, { refresh: true });
        assert.ok(p.ok, p.error);
        assert.equal(p.steps[urn(T, "a")].op, "create");
        assert.equal(p.steps[urn(T, "b")].op, "same");
        assert.deepEqual(p.refreshed, { [urn(T, "a")]: { op: "delete", keys: [] } });
        assert.ok(readState(st).resources.some((x) => x.name === "a"), "a preview writes no state");
        log.length = 0;
        const u = await up(st, readModels(log, world), program, false, { refresh: true });
        assert.ok(u.ok, u.error);
        assert.deepEqual(log.slice(0, 2).sort(), ["read a", "read b"], "every resource is read before the program runs");
        assert.deepEqual(log.slice(2), ["create a"]);
        assert.ok(world.has("a"));
        assert.ok(!fs.readFileSync(st, "utf8").includes("s3cret-value-123"), "secrets stay encrypted across a refresh");
    });

    test("a Read that changes an output: the step stays same, and what depends on it sees the new value", async () => {
        const st = tmpState();
        const log: string[] = [];
        const world = new Map<string, Record<string, unknown>>();
        const program = () => {
            const image = thing("image", { key: "1" });
            thing("container", { key: image.out });
        };
        await up(st, readModels(log, world), program);
        world.set("image", { ...world.get("image"), out: "re-tagged" });
        const p = await up(st, readModels(log, world), program, true, { refresh: true });
        assert.ok(p.ok, p.error);
        assert.equal(p.steps[urn(T, "image")].op, "same");
        assert.deepEqual(p.steps[urn(T, "container")], { op: "replace", keys: ["key"], replaceKeys: ["key"] });
        assert.equal(p.refreshed?.[urn(T, "image")], undefined, "an output-only change is a `same` refresh step");
    });

    test("a failed Read fails the operation before the program runs", async () => {
        const st = tmpState();
        const log: string[] = [];
        const world = new Map<string, Record<string, unknown>>();
        await up(st, readModels(log, world), () => thing("a", { key: "1" }));
        log.length = 0;
        const r = await up(st, readModels(log, world, { failRead: "a" }), () => (thing("a", { key: "1" }), thing("b", { key: "1" })), false, { refresh: true });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /refreshing failed: cannot reach a/);
        assert.deepEqual(log, ["read a"]);
    });

    test("a provider without Read (remote commands, random) keeps its state: no call, every step same", async () => {
        const host = new HostModels({ commands: [], dockerChanges: [] }).models();
        assert.equal(host["command:remote:Command"].read, undefined, "pulumi-command's Command has no Read");
        assert.equal(host["random:index/randomPassword:RandomPassword"].read, undefined);
        for (const t of ["docker:index/container:Container", "docker:index/volume:Volume", "docker:index/network:Network", "docker:index/remoteImage:RemoteImage", "cloudflare:index/dnsRecord:DnsRecord"]) {
            assert.equal(typeof host[t].read, "function", `${t} reads`);
        }
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => thing("cmd", { key: "1", create: "echo hi" }));
        log.length = 0;
        const before = readState(st).resources;
        const p = await up(st, fakeModels(log), () => thing("cmd", { key: "1", create: "echo hi" }), true, { refresh: true, expectNoChanges: true });
        assert.ok(p.ok, p.error);
        assert.deepEqual(log, []);
        assert.deepEqual(p.refreshed, {});
        const r = await engine(st, fakeModels(log)).refresh();
        assert.ok(r.ok, r.error);
        assert.ok(Object.values(r.steps).every((s) => s.op === "same"));
        assert.deepEqual(readState(st).resources, before, "the state a refresh writes is the state it had");
    });

    test("expectNoChanges: a preview with no change passes; a change fails it listing the steps; an up applies then fails", async () => {
        const st = tmpState();
        const log: string[] = [];
        await up(st, fakeModels(log), () => (thing("a", { key: "1" }), thing("b", { v: "1" })));
        const same = await up(st, fakeModels(log), () => (thing("a", { key: "1" }), thing("b", { v: "1" })), true, { expectNoChanges: true });
        assert.ok(same.ok, same.error);
        log.length = 0;
        const p = await up(st, fakeModels(log), () => (thing("a", { key: "2" }), thing("b", { v: "2" })), true, { expectNoChanges: true });
        assert.equal(p.ok, false);
        const lines = (p.error ?? "").split("\n");
        assert.equal(lines[0], "no changes were expected for preview but changes were proposed");
        assert.ok(lines.includes(`  +- replace ${urn(T, "a")} [key]`), p.error);
        assert.ok(lines.includes(`  ~ update ${urn(T, "b")} [v]`), p.error);
        assert.deepEqual(log, []);
        const u = await up(st, fakeModels(log), () => (thing("a", { key: "2" }), thing("b", { v: "1" })), false, { expectNoChanges: true });
        assert.equal(u.ok, false);
        assert.match(u.error ?? "", /^no changes were expected for update but changes were proposed\n {2}\+- replace /);
        assert.deepEqual(log, ["create a", "delete a"], "the up's changes are applied before the check");
        // pulumi refresh --expect-no-changes: a Read that changes an input fails it.
        const world = new Map<string, Record<string, unknown>>([["a", { key: "drifted" }], ["b", {}]]);
        const r = await engine(st, readModels([], world)).refresh(false, { expectNoChanges: true });
        assert.equal(r.ok, false);
        assert.match(r.error ?? "", /^no changes were expected for refresh but changes were proposed\n {2}~ update .*::a \[key\]/);
        assert.equal(unwrapKey(readState(st), "a"), "drifted", "a refresh writes the state it read");
    });

    test("docker containers (resourceDockerContainerRead): stopped with ports → replaced; stopped without → must_run update starts it; running → same", async () => {
        const D = "docker:index/container:Container";
        const real = new HostModels({ commands: [], dockerChanges: [] }).models()[D];
        const inspect = new Map<string, unknown>();
        const log: string[] = [];
        const models: Models = {
            [D]: {
                ...real,
                create: async (ctx, i) => (log.push(`create ${ctx.name}`), { ...i, id: `${ctx.name}-id` }),
                update: async (ctx, old, i) => (log.push(`update ${ctx.name}`), { ...(old.outputs as object), ...i }),
                delete: async (ctx) => void log.push(`delete ${ctx.name}`),
                read: async (ctx, old) => {
                    const c = inspect.get(ctx.name);
                    if (!c) return undefined;
                    const st = containerState(old.outputs as Record<string, unknown>, c);
                    return { outputs: st, inputs: bridgeRefreshInputs(old.inputs, st) };
                },
            },
        };
        class Container extends pulumi.CustomResource {
            constructor(name: string, props: Record<string, unknown>) {
                super(D, name, props, { deleteBeforeReplace: true });
            }
        }
        const image = "sha256:" + "a".repeat(64);
        const args = (name: string, ports: boolean) => ({
            name,
            image,
            restart: "unless-stopped",
            mustRun: true,
            logDriver: "json-file",
            logOpts: { "max-size": "10m", "max-file": "3" },
            ...(ports ? { ports: [{ internal: 5432, external: 15432, ip: "127.0.0.1", protocol: "tcp" }] } : {}),
            healthcheck: { tests: ["CMD-SHELL", "true"], interval: "5s", timeout: "5s", startPeriod: "20s", retries: 12 },
        });
        const program = () => {
            new Container("db", args("db", true));
            new Container("worker", args("worker", false));
        };
        // What `docker container inspect` prints (the fields the Read uses), running or exited.
        const container = (name: string, running: boolean, ports: boolean) => ({
            Id: `${name}-id`,
            Name: `/${name}`,
            Image: image,
            State: { Running: running, ExitCode: running ? 0 : 137 },
            Config: { Image: image, Cmd: ["run"], Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5e9, Timeout: 5e9, StartPeriod: 20e9, Retries: 12 } },
            HostConfig: { RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 }, LogConfig: { Type: "json-file", Config: { "max-file": "3", "max-size": "10m" } }, Memory: 0, MemoryReservation: 0, MemorySwap: 0, CpuShares: 0, CpusetCpus: "" },
            NetworkSettings: { Ports: running && ports ? { "5432/tcp": [{ HostIp: "127.0.0.1", HostPort: "15432" }] } : {} },
        });
        const st = tmpState();
        await up(st, models, program);
        inspect.set("db", container("db", true, true));
        inspect.set("worker", container("worker", true, false));
        const clean = await up(st, models, program, true, { refresh: true, expectNoChanges: true });
        assert.ok(clean.ok, `a running container reads as it was declared: ${clean.error}`);

        inspect.set("db", container("db", false, true));
        inspect.set("worker", container("worker", false, false));
        const p = await up(st, models, program, true, { refresh: true });
        assert.ok(p.ok, p.error);
        const db = p.steps[urn(D, "db")];
        assert.equal(db.op, "replace", "the exited container's ports read empty, and ports are ForceNew");
        assert.deepEqual(db.replaceKeys, ["ports"]);
        assert.ok(db.keys.includes("mustRun"));
        assert.deepEqual(p.steps[urn(D, "worker")], { op: "update", keys: ["mustRun"] });
        log.length = 0;
        const u = await up(st, models, program, false, { refresh: true });
        assert.ok(u.ok, u.error);
        assert.deepEqual([...log].sort(), ["create db", "delete db", "update worker"]);
        assert.ok(log.indexOf("delete db") < log.indexOf("create db"), "deleteBeforeReplace");

        inspect.delete("worker");
        const gone = await up(st, models, program, true, { refresh: true });
        assert.equal(gone.steps[urn(D, "worker")].op, "create", "a container that is gone is created again");
    });

    test("a refresh clears the init errors of a partial create: the next up no longer forces an update", async () => {
        const st = tmpState();
        const log: string[] = [];
        const partial = fakeModels(log, { partial: "c", bridged: true })[T];
        const reads: Models = { [T]: { ...partial, read: async (_ctx, old) => ({ outputs: old.outputs as Record<string, unknown> }) } };
        const r = await up(st, reads, () => thing("c", { key: "1" }));
        assert.equal(r.ok, false);
        assert.ok(readState(st).resources.find((x) => x.name === "c")!.initErrors?.length);
        const plain = await up(st, reads, () => thing("c", { key: "1" }), true);
        assert.equal(plain.steps[urn(T, "c")].op, "update", "without refresh: forced by the init errors");
        const p = await up(st, reads, () => thing("c", { key: "1" }), true, { refresh: true });
        assert.equal(p.steps[urn(T, "c")].op, "same");
    });

    test("the bridge's refresh inputs and the provider's duration strings", () => {
        assert.deepEqual(bridgeRefreshInputs({ a: 1, b: { x: 1 }, l: [{ p: 1 }, { p: 2 }], gone: 1 }, { a: 2, b: { x: 3, y: 4 }, l: [{ p: 5, q: 6 }], extra: 1 }), {
            a: 2,
            b: { x: 3 },
            l: [{ p: 5 }],
        });
        assert.deepEqual(["5s", "1m0s", "1.5s", "500ms", "1h0m0s"], [5e9, 60e9, 1.5e9, 500e6, 3600e9].map(goDuration));
    });
});

function unwrapKey(s: ReturnType<typeof readState>, name: string): unknown {
    return (s.resources.find((x) => x.name === name)!.inputs as Record<string, unknown>).key;
}

describe("engine model: a changed provider reference (step_generator.go providerChanged)", () => {
    const P = "pulumi:providers:test";
    class Prov extends pulumi.ProviderResource {
        constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts?: pulumi.ResourceOptions) {
            super("test", name, props, opts);
        }
    }
    /** The fake Thing provider plus a provider resource model whose DiffConfig replaces or not (undefined: does not say). */
    const models = (log: string[], replaces?: boolean): Models => {
        const prov: ResourceModel = {
            diff: diffBy(() => false),
            create: async (ctx, i) => (log.push(`create ${ctx.name}`), { ...i }),
            update: async (ctx, _o, i) => (log.push(`update ${ctx.name}`), { ...i }),
            ...(replaces === undefined ? {} : { diffConfigReplaces: () => replaces }),
        };
        return { ...fakeModels(log), [P]: prov };
    };
    const two = (host: string, name = "one", aliases?: pulumi.Input<string | pulumi.Alias>[]) => () => {
        const p = new Prov(name, { host }, aliases ? { aliases } : {});
        thing("a", { key: "1" }, { provider: p });
    };

    test("moved to another provider resource: diffed on its own inputs when DiffConfig does not replace; replaced when it does or does not say", async () => {
        for (const [replaces, want] of [[false, "same"], [true, "replace"], [undefined, "replace"]] as const) {
            const st = tmpState();
            const log: string[] = [];
            assert.ok((await up(st, models(log, replaces), two("a"))).ok);
            log.length = 0;
            const r = await up(st, models(log, replaces), two("b", "two"));
            assert.ok(r.ok, r.error);
            assert.equal(r.steps[urn(T, "a")].op, want, `DiffConfig replaces: ${replaces}`);
            if (want === "replace") assert.deepEqual(r.steps[urn(T, "a")].replaceKeys, ["provider"]);
            assert.equal(log.includes("create a"), want === "replace");
        }
    });
    test("the same provider resource with a new config (updated in place) or renamed through an alias: the resource is same", async () => {
        const st = tmpState();
        const log: string[] = [];
        assert.ok((await up(st, models(log), two("a"))).ok);
        log.length = 0;
        const r = await up(st, models(log), two("b"));
        assert.ok(r.ok, r.error);
        assert.deepEqual(log, ["update one"], "only the provider is updated");
        assert.equal(r.steps[urn(T, "a")].op, "same");
        const r2 = await up(st, models(log), two("b", "renamed", [{ name: "one" }]));
        assert.ok(r2.ok, r2.error);
        assert.equal(r2.steps[urn(T, "a")].op, "same", "an aliased provider is no change, even where DiffConfig is unknown");
    });
    test("the docker provider model: a config change never replaces (bridge DiffConfig, no ForcesProviderReplace)", () => {
        const docker = new HostModels({ commands: [], dockerChanges: [] }).models()["pulumi:providers:docker"];
        assert.equal(docker.diffConfigReplaces?.({ host: "ssh://a" }, { host: "ssh://b" }), false);
    });
});

describe("engine model: pulumi state delete (edit/operations.go DeleteResource)", () => {
    class Prov extends pulumi.ProviderResource {
        constructor(name: string) {
            super("test", name, { host: "a" });
        }
    }
    const models = (log: string[]): Models => ({ ...fakeModels(log), "pulumi:providers:test": { diff: diffBy(() => false), create: async (_c, i) => ({ ...i }) } });

    test("dependents (by provider and dependsOn, transitively) refuse it unless --target-dependents; protected ones unless --force; nothing runs", async () => {
        const st = tmpState();
        const log: string[] = [];
        assert.ok(
            (
                await up(st, models(log), () => {
                    const p = new Prov("engine");
                    const a = thing("a", { key: "1" }, { provider: p, protect: true });
                    thing("b", { key: "1" }, { dependsOn: [a] });
                    thing("c", { key: "1" });
                })
            ).ok,
        );
        log.length = 0;
        const e = new Engine({ statePath: st, project: "proj", stack: "dev", models: models(log) });
        const p = urn("pulumi:providers:test", "engine");
        assert.throws(() => e.stateDelete(p), /dangling dependencies: .*::a, .*::b/);
        assert.throws(() => e.stateDelete(p, { targetDependents: true }), /protected/);
        assert.deepEqual(e.stateDelete(p, { targetDependents: true, force: true }).sort(), [p, urn(T, "a"), urn(T, "b")].sort());
        assert.deepEqual(readState(st).resources.filter((r) => r.custom).map((r) => r.urn), [urn(T, "c")]);
        assert.deepEqual(log, [], "no provider call");
    });
});

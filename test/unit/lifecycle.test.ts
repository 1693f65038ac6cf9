/**
 * What `pulumi destroy` and replacements may do, per resource kind
 * (lib/lifecycle.ts), checked on the options the real program registers
 * under mocks: production survives a destroy (every remote command retained
 * without a delete script, DNS and passwords retained, containers and network
 * protected, volumes protected and retained); `berth:protect` switches the
 * container/network protection; fixed-name Docker objects never replace on a
 * label change.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { lifecycle } from "../../lib/lifecycle";
import { byType, configFor, Recorded, RunResult, runProgram, stackConfig } from "./harness";

const CMD = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const VOLUME = "docker:index/volume:Volume";
const DNS = "cloudflare:index/dnsRecord:DnsRecord";
const PASSWORD = "random:index/randomPassword:RandomPassword";

interface Run extends RunResult {
    /** Resource name -> ignoreChanges as registered. */
    ignoreChanges: Map<string, string[]>;
}

async function run(stack: string, overrides: Record<string, unknown> = {}): Promise<Run> {
    const ignoreChanges = new Map<string, string[]>();
    const r = await runProgram(stackConfig(stack, overrides), {
        onResource: (a: pulumi.ResourceTransformationArgs) => ignoreChanges.set(a.name, [...((a.opts as pulumi.CustomResourceOptions).ignoreChanges ?? [])]),
    });
    assert.equal(r.error, undefined, r.error?.message);
    return { ...r, ignoreChanges };
}

const runs: Record<string, Run> = {};
before(async () => {
    runs.staging = await run("staging");
    runs.production = await run("production");
    runs.productionUnprotected = await run("production", { "berth:protect": false });
    runs.stagingProtected = await run("staging", { "berth:protect": true });
});

function kinds(r: RunResult): Record<string, Recorded[]> {
    return {
        command: byType(r, CMD),
        container: byType(r, CONTAINER),
        network: byType(r, NETWORK),
        volume: byType(r, VOLUME),
        dnsRecord: byType(r, DNS),
        password: byType(r, PASSWORD),
    };
}

describe("pulumi destroy -s production leaves the site up and the data in place", () => {
    test("every kind is present (the checks below are not vacuous)", () => {
        const k = kinds(runs.production);
        assert.ok(k.command.length >= 14, `commands: ${k.command.length}`);
        assert.equal(k.container.length, 2);
        assert.equal(k.network.length, 1);
        assert.equal(k.volume.length, 2);
        assert.ok(k.dnsRecord.length >= 4, "A and AAAA for two names");
        assert.equal(k.password.length, 4, "postgres superuser, redis, role, secret key base");
    });

    test("every remote command is kept: retainOnDelete and no delete script (nginx sites, ssh hardening, firewall, engine, switch...)", () => {
        for (const c of byType(runs.production, CMD)) {
            assert.ok(c.retainOnDelete, `${c.name} retainOnDelete`);
            assert.equal(c.inputs.delete, undefined, `${c.name} has no delete script`);
            assert.ok(!c.protect, `${c.name} is not protected (a new release replaces it)`);
        }
        const names = byType(runs.production, CMD).map((c) => c.name);
        for (const s of ["-site-http-http", "-site-https-https", "-host-ssh-hardening", "-host-firewall", "-host-docker-engine", "-host-packages", "-switch-switch", "-release-deploy-key", "-release-checkout", "-release-release-command"]) {
            assert.ok(names.some((n) => n.endsWith(s)), `${s} exists`);
        }
    });

    test("DNS records and random passwords are retained on delete", () => {
        for (const r of [...byType(runs.production, DNS), ...byType(runs.production, PASSWORD)]) {
            assert.ok(r.retainOnDelete, `${r.name} retainOnDelete`);
            assert.ok(!r.protect, `${r.name} not protected`);
        }
    });

    test("containers and the network are protected (destroy refuses them, they keep running)", () => {
        for (const r of [...byType(runs.production, CONTAINER), ...byType(runs.production, NETWORK)]) {
            assert.ok(r.protect, `${r.name} protect`);
        }
    });

    test("volumes are protected and retained on delete", () => {
        for (const v of byType(runs.production, VOLUME)) {
            assert.ok(v.protect && v.retainOnDelete, v.name);
        }
    });
});

describe("berth:protect", () => {
    test("false on production: containers and network unprotected for the one up that replaces them; everything else unchanged", () => {
        const r = runs.productionUnprotected;
        for (const x of [...byType(r, CONTAINER), ...byType(r, NETWORK)]) assert.ok(!x.protect, `${x.name} unprotected`);
        for (const v of byType(r, VOLUME)) assert.ok(v.protect && v.retainOnDelete, `${v.name} still protected and retained`);
        for (const c of byType(r, CMD)) assert.ok(c.retainOnDelete && c.inputs.delete === undefined, c.name);
        // Only the options differ: no input changes, so the up is exactly the replacement that needed it.
        const inputs = (x: RunResult) => JSON.stringify(x.resources.map((y) => [y.name, y.inputs]));
        assert.equal(inputs(r), inputs(runs.production));
    });

    test("defaults to berth:production; true on staging protects its containers and network only", () => {
        assert.equal(configFor("production").protect, true);
        assert.equal(configFor("staging").protect, false);
        assert.equal(configFor("production", { "berth:protect": false }).protect, false);
        const r = runs.stagingProtected;
        for (const x of [...byType(r, CONTAINER), ...byType(r, NETWORK)]) assert.ok(x.protect, x.name);
        for (const v of byType(r, VOLUME)) assert.ok(!v.protect && !v.retainOnDelete, v.name);
    });

    test("staging: nothing protected or retained, delete scripts registered", () => {
        const k = kinds(runs.staging);
        for (const list of Object.values(k)) for (const x of list) assert.ok(!x.protect && !x.retainOnDelete, `${x.type} ${x.name}`);
        const withDelete = k.command.filter((c) => typeof c.inputs.delete === "string").map((c) => c.name.replace(/^shop-staging-/, ""));
        for (const s of ["site-http-http", "site-https-https", "host-ssh-hardening", "switch-switch", "release-deploy-key", "postgres-role-role"]) {
            assert.ok(withDelete.includes(s), `${s} deletes what it made (have ${withDelete.join(", ")})`);
        }
    });

    test("the rule table itself", () => {
        const prod = { production: true, protect: true };
        const prodUnprotected = { production: true, protect: false };
        const staging = { production: false, protect: false };
        assert.deepEqual(lifecycle(prod, "command"), { retainOnDelete: true });
        assert.deepEqual(lifecycle(prod, "dnsRecord"), { retainOnDelete: true });
        assert.deepEqual(lifecycle(prod, "password"), { retainOnDelete: true });
        assert.deepEqual(lifecycle(prod, "container"), { protect: true });
        assert.deepEqual(lifecycle(prod, "network"), { protect: true });
        assert.deepEqual(lifecycle(prod, "volume"), { protect: true, retainOnDelete: true });
        assert.deepEqual(lifecycle(prodUnprotected, "container"), {});
        assert.deepEqual(lifecycle(prodUnprotected, "volume"), { protect: true, retainOnDelete: true });
        for (const k of ["command", "dnsRecord", "password", "container", "network", "volume"] as const) assert.deepEqual(lifecycle(staging, k), {}, k);
    });
});

describe("fixed-name Docker objects are never replaced by a label change", () => {
    for (const stack of ["staging", "production"]) {
        test(`${stack}: volumes and the network ignore changes to their labels`, () => {
            const r = runs[stack];
            const fixed = [...byType(r, VOLUME), ...byType(r, NETWORK)];
            assert.equal(fixed.length, 3);
            for (const x of fixed) {
                assert.ok(x.inputs.labels?.length, `${x.name} still has labels at creation`);
                assert.deepEqual(r.ignoreChanges.get(x.name), ["labels"], x.name);
            }
        });
    }

    test("flipping berth:production changes their labels, which are ignored", async () => {
        const flipped = await run("staging", { "berth:production": true, "berth:revision": "aa2102cc0f6c7b17e487e8eae46342420d6eb1d8" });
        for (const x of [...byType(flipped, VOLUME), ...byType(flipped, NETWORK)]) {
            const before = runs.staging.resources.find((y) => y.name === x.name)!;
            assert.notDeepEqual(x.inputs.labels, before.inputs.labels, `${x.name}: the label really changes`);
            assert.deepEqual(Object.keys(x.inputs).filter((k) => JSON.stringify(x.inputs[k]) !== JSON.stringify(before.inputs[k])), ["labels"], x.name);
            assert.deepEqual(flipped.ignoreChanges.get(x.name), ["labels"]);
        }
    });
});

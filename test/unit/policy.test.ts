/**
 * The policy pack: every validation with passing and failing resources, and
 * the real program's resources (both stacks, under mocks) against the pack:
 * berth itself must pass every mandatory policy.
 */
import "./policy-env";
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as P from "../../policy";
import { RunResult, runProgram, stackConfig, unwrap } from "./harness";

function violations(v: P.Validation, type: string, props: Record<string, any>, opts: Record<string, any> = {}): string[] {
    const out: string[] = [];
    v({ type, name: "r", props, opts: { protect: false, ignoreChanges: [], aliases: [], additionalSecretOutputs: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, ...opts } as any }, (m) => out.push(m));
    return out;
}

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const db = (ports: any[], role = "database") => ({ labels: [{ label: "berth.role", value: role }], ports });

describe("data-ports-private", () => {
    const C = "docker:index/container:Container";
    test("loopback and a private (mesh) address pass", () => {
        assert.deepEqual(violations(P.dataPortsPrivate, C, db([{ internal: 5432, external: 15432, ip: "127.0.0.1" }])), []);
        assert.deepEqual(violations(P.dataPortsPrivate, C, db([{ internal: 5432, external: 15432, ip: "10.213.0.7" }])), []);
    });
    test("0.0.0.0, a missing ip and a public address fail, naming the port", () => {
        const v = violations(P.dataPortsPrivate, C, db([{ internal: 6379, external: 16379, ip: "0.0.0.0" }, { internal: 6379, external: 16380 }, { internal: 6379, external: 16381, ip: "203.0.113.9" }], "cache"));
        assert.equal(v.length, 3);
        assert.match(v[0], /cache port 16379->6379 is published on 0\.0\.0\.0/);
        assert.match(v[1], /16380->6379 is published on 0\.0\.0\.0/);
        assert.match(v[2], /16381->6379 is published on 203\.0\.113\.9/);
    });
    test("private ranges", () => {
        for (const ip of ["10.0.0.1", "172.16.0.1", "172.31.255.1", "192.168.1.1", "100.64.0.1", "::1", "fd00::1"]) assert.ok(P.isPrivateAddress(ip), ip);
        for (const ip of ["172.32.0.1", "8.8.8.8", "0.0.0.0", "100.128.0.1", "2001:db8::1"]) assert.ok(!P.isPrivateAddress(ip), ip);
    });
    test("other containers are not judged", () => assert.deepEqual(violations(P.dataPortsPrivate, C, db([{ internal: 80, external: 80 }], "web")), []));
});

describe("data-ports-firewalled (stack)", () => {
    const C = "docker:index/container:Container";
    const run = (resources: any[]) => {
        const out: string[] = [];
        P.dataPortsFirewalled({ resources } as any, (m) => out.push(m));
        return out;
    };
    const fw = (ports: number[]) => ({
        type: "command:remote:Command",
        name: "fw",
        props: { create: ports.map((p) => `-A X -s 10.213.0.5/32 -p tcp -m conntrack --ctstate DNAT --ctorigdstport ${p} -j RETURN\n-A X -m conntrack --ctstate DNAT --ctorigdstport ${p} -j DROP`).join("\n") },
    });
    const ctr = (ip: string, external = 15432) => ({ type: C, name: "pg", props: db([{ internal: 5432, external, ip }]) });
    test("loopback needs no firewall", () => assert.deepEqual(run([ctr("127.0.0.1")]), []));
    test("a private address without the data firewall fails", () => assert.match(run([ctr("10.213.0.7")])[0], /pg: database port 15432 is published on 10\.213\.0\.7 with no berth data firewall/));
    test("the real fleet stack is covered by its data firewall", async () => {
        const { runProgram, stackConfig, unwrap } = await import("./harness");
        const r = await runProgram(stackConfig("fleet", {}, "examples/Pulumi.fleet.yaml"));
        assert.equal(r.error, undefined);
        const resources = r.resources.map((x) => ({ type: x.type, name: x.name, props: unwrap(x.inputs) }));
        assert.deepEqual(run(resources), []);
        assert.equal(run(resources.filter((x) => !x.name.includes("data-firewall"))).length, 2, "without it both data ports are reported");
    });
    test("covered by the firewall passes; a port it does not cover fails", () => {
        assert.deepEqual(run([ctr("10.213.0.7"), fw([15432, 16379])]), []);
        assert.equal(run([ctr("10.213.0.7", 15999), fw([15432])]).length, 1);
    });
});

describe("remote-connections-pin-host-key", () => {
    const CMD = "command:remote:Command";
    test("a pinned command passes", () => assert.deepEqual(violations(P.remoteConnectionsPinHostKey, CMD, { connection: { host: "h", hostKey: HOST_KEY } }), []));
    test("a command without hostKey fails", () => assert.match(violations(P.remoteConnectionsPinHostKey, CMD, { connection: { host: "203.0.113.1" } })[0], /203\.0\.113\.1 has no hostKey/));
    const D = "pulumi:providers:docker";
    test("the docker provider with KnownHostsCommand passes", () =>
        assert.deepEqual(violations(P.remoteConnectionsPinHostKey, D, { host: "ssh://root@h:22", sshOpts: JSON.stringify(["-o", "StrictHostKeyChecking=yes", "-o", `KnownHostsCommand=/bin/echo h ${HOST_KEY}`]) }), []));
    test("the docker provider accepting new keys fails", () =>
        assert.match(violations(P.remoteConnectionsPinHostKey, D, { host: "ssh://root@h:22", sshOpts: ["-o", "StrictHostKeyChecking=accept-new"] })[0], /does not pin a host key/));
});

describe("production-data-protected", () => {
    const V = "docker:index/volume:Volume";
    const vol = (prod: string) => ({ name: "x-pgdata", labels: [{ label: "berth.data", value: "true" }, { label: "berth.production", value: prod }] });
    test("protected production volume passes", () => assert.deepEqual(violations(P.productionDataProtected, V, vol("true"), { protect: true }), []));
    test("unprotected production volume fails", () => assert.match(violations(P.productionDataProtected, V, vol("true"))[0], /x-pgdata must be protected/));
    test("staging volumes may be unprotected", () => assert.deepEqual(violations(P.productionDataProtected, V, vol("false")), []));
});

describe("production-services-protected (advisory)", () => {
    const C = "docker:index/container:Container";
    const N = "docker:index/network:Network";
    const svc = (prod: string) => ({ name: "x-redis", labels: [{ label: "berth.production", value: prod }] });
    test("protected production container and network pass", () => {
        assert.deepEqual(violations(P.productionServicesProtected, C, svc("true"), { protect: true }), []);
        assert.deepEqual(violations(P.productionServicesProtected, N, svc("true"), { protect: true }), []);
    });
    test("an unprotected production container warns, naming berth:protect", () =>
        assert.match(violations(P.productionServicesProtected, C, svc("true"))[0], /container x-redis is not protected; set berth:protect back/));
    test("staging is not judged", () => assert.deepEqual(violations(P.productionServicesProtected, C, svc("false")), []));
    test("it is advisory (berth:protect false must not block the up that needs it)", () =>
        assert.equal(P.policies.find((p) => p.name === "production-services-protected")?.enforcementLevel, "advisory"));
});

describe("no-secrets-in-commands", () => {
    const CMD = "command:remote:Command";
    const ok = { create: "bash -c 'IFS= read -r PW'", stdin: "secret", logging: "none" };
    test("stdin with secret outputs and no logging passes", () =>
        assert.deepEqual(violations(P.noSecretsInCommands, CMD, ok, { additionalSecretOutputs: ["stdout", "stderr"] }), []));
    test("remote environment fails", () => assert.match(violations(P.noSecretsInCommands, CMD, { create: "true", environment: { PGPASSWORD: "x" } })[0], /remote 'environment' \(PGPASSWORD\)/));
    for (const [argv, what] of [
        ["psql postgres://app:hunter2@127.0.0.1/db", "a URL with a password"],
        ["PGPASSWORD=hunter2 psql", "a password/secret assignment"],
        ["redis-server --requirepass hunter2", "a Redis password"],
    ]) {
        test(`argv with ${what} fails`, () => assert.ok(violations(P.noSecretsInCommands, CMD, { create: argv }).some((m) => m.includes(what)), argv));
    }
    test("reading a variable is not a literal secret", () => assert.deepEqual(violations(P.noSecretsInCommands, CMD, { create: 'PGPASSWORD="$PW" psql' }), []));
    test("stdin without secret outputs or with logging fails", () => {
        const v = violations(P.noSecretsInCommands, CMD, { ...ok, logging: "stdoutAndStderr" }, { additionalSecretOutputs: ["stdout"] });
        assert.deepEqual(v.map((m) => m.replace(/^r: /, "")), ["reads stdin (secrets) but 'stderr' is not in additionalSecretOutputs", "reads stdin (secrets) but logging is 'stdoutAndStderr', not 'none'"]);
    });
});

describe("production-revision-immutable", () => {
    const CMD = "command:remote:Command";
    const rel = (ref: string, production = true) => ({ triggers: [{ kind: "berth-release", production, ref, revision: "a".repeat(40) }] });
    for (const ref of ["aa2102cc0f6c7b17e487e8eae46342420d6eb1d8", "v1.2.3", "refs/tags/release-7", "2024.11.2"]) {
        test(`${ref} passes`, () => assert.deepEqual(violations(P.productionRevisionImmutable, CMD, rel(ref)), []));
    }
    for (const ref of ["main", "release/1.2", "aa2102cc"]) {
        test(`${ref} fails`, () => assert.match(violations(P.productionRevisionImmutable, CMD, rel(ref))[0], /can move/));
    }
    test("staging may follow a branch", () => assert.deepEqual(violations(P.productionRevisionImmutable, CMD, rel("main", false)), []));
});

describe("backups", () => {
    const CMD = "command:remote:Command";
    const repo = (retention: Record<string, number>) => ({ triggers: [{ kind: "berth-backup", app: "shop", stack: "production", production: true, retention }] });
    const release = (production: boolean) => ({ triggers: [{ kind: "berth-release", app: "shop", stack: production ? "production" : "staging", production, ref: "v1", revision: "a".repeat(40) }] });
    const stack = (...props: Record<string, any>[]) => {
        const out: string[] = [];
        P.productionHasBackups({ resources: props.map((p, i) => ({ type: CMD, name: `c${i}`, props: p })) }, (m) => out.push(m));
        return out;
    };
    test("a production stack with a backup passes", () => assert.deepEqual(stack(release(true), repo({ daily: 7 })), []));
    test("a production stack without one fails", () => assert.match(stack(release(true))[0], /shop-production has no backups/));
    test("staging may go without backups", () => assert.deepEqual(stack(release(false)), []));
    test("retention of a week or more passes; shorter warns", () => {
        for (const ok of [{ daily: 7, weekly: 0, monthly: 0 }, { daily: 1, weekly: 1, monthly: 0 }, { daily: 0, weekly: 0, monthly: 1 }]) assert.deepEqual(violations(P.backupRetentionAWeek, CMD, repo(ok)), [], JSON.stringify(ok));
        assert.match(violations(P.backupRetentionAWeek, CMD, repo({ daily: 3, weekly: 0, monthly: 0 }))[0], /kept for 3 day\(s\); keep at least 7 days/);
    });
});

describe("advisory policies", () => {
    test("images: digests and exact versions pass; latest, no tag and major-only fail", () => {
        const I = "docker:index/remoteImage:RemoteImage";
        for (const ok of ["postgres:16.4", "redis:7.4.1-alpine", `postgres@sha256:${"a".repeat(64)}`]) assert.deepEqual(violations(P.imagesPinned, I, { name: ok }), [], ok);
        for (const bad of ["postgres:latest", "postgres", "postgres:16", "registry.example.com:5000/redis"]) assert.equal(violations(P.imagesPinned, I, { name: bad }).length, 1, bad);
    });
    test("HSTS: a production site without it is reported", () => {
        const CMD = "command:remote:Command";
        const site = (hsts: boolean, production = true) => ({ triggers: [{ kind: "berth-nginx-site", production, hsts, domain: "shop.example.com" }] });
        assert.deepEqual(violations(P.productionHsts, CMD, site(true)), []);
        assert.match(violations(P.productionHsts, CMD, site(false))[0], /shop\.example\.com is served without HSTS/);
        assert.deepEqual(violations(P.productionHsts, CMD, site(false, false)), []);
    });
    test("the pack declares every policy once with its enforcement level", () => {
        const levels = Object.fromEntries(P.policies.map((p) => [p.name, p.enforcementLevel]));
        assert.equal(P.policies.length, 12);
        assert.equal(levels["data-ports-private"], "mandatory");
        assert.equal(levels["data-ports-firewalled"], "mandatory");
        assert.equal(levels["images-pinned"], "advisory");
        assert.equal(levels["production-hsts"], "advisory");
        assert.equal(levels["production-services-protected"], "advisory");
        assert.equal(levels["backup-retention-a-week"], "advisory");
        assert.equal(levels["production-has-backups"], "mandatory");
        assert.equal(levels["review-not-on-production"], "mandatory");
        assert.equal(Object.values(levels).filter((l) => l === "mandatory").length, 8);
    });
});

describe("berth's own stacks pass the pack", () => {
    const runs: Record<string, RunResult> = {};
    before(async () => {
        for (const s of ["staging", "production"]) runs[s] = await runProgram(stackConfig(s));
    });
    for (const stack of ["staging", "production"]) {
        test(`${stack}: no mandatory violation`, () => {
            const found: string[] = [];
            for (const r of runs[stack].resources) {
                for (const p of P.policies.filter((x) => x.enforcementLevel === "mandatory" && "validateResource" in x)) {
                    (p as any).validateResource(
                        { type: r.type, name: r.name, urn: r.name, props: unwrap(r.inputs), opts: { protect: r.protect, additionalSecretOutputs: r.additionalSecretOutputs } },
                        (m: string) => found.push(`${p.name}: ${m}`),
                    );
                }
            }
            assert.deepEqual(found, []);
        });
        test(`${stack}: no advisory violation either (production containers and network are protected)`, () => {
            const found: string[] = [];
            for (const r of runs[stack].resources) {
                for (const p of P.policies.filter((x) => x.enforcementLevel === "advisory" && "validateResource" in x)) {
                    (p as any).validateResource(
                        { type: r.type, name: r.name, urn: r.name, props: unwrap(r.inputs), opts: { protect: r.protect, additionalSecretOutputs: r.additionalSecretOutputs } },
                        (m: string) => found.push(`${p.name}: ${m}`),
                    );
                }
            }
            assert.deepEqual(found, []);
        });
    }
    test("stack policies: production has backups, staging passes too", () => {
        for (const stack of ["staging", "production"]) {
            const found: string[] = [];
            for (const p of P.policies.filter((x) => "validateStack" in x)) {
                (p as any).validateStack({ resources: runs[stack].resources.map((r) => ({ type: r.type, name: r.name, props: unwrap(r.inputs) })) }, (m: string) => found.push(`${p.name}: ${m}`));
            }
            assert.deepEqual(found, [], stack);
        }
    });
    test("the pack catches a production stack without berth:backup", async () => {
        const r = await runProgram(stackConfig("production", { "berth:backup": undefined }));
        assert.ifError(r.error);
        const v: string[] = [];
        P.productionHasBackups({ resources: r.resources.map((x) => ({ type: x.type, name: x.name, props: unwrap(x.inputs) })) }, (m) => v.push(m));
        assert.equal(v.length, 1);
        assert.match(v[0], /production stack shop-production has no backups; set berth:backup/);
    });
    test("the pack catches a broken program: production with unprotected volumes and a branch", async () => {
        const r = runs.production;
        const vol = r.resources.find((x) => x.type === "docker:index/volume:Volume")!;
        const v: string[] = [];
        P.productionDataProtected({ type: vol.type, name: vol.name, props: unwrap(vol.inputs), opts: { protect: false } as any }, (m) => v.push(m));
        assert.equal(v.length, 1);
    });
});

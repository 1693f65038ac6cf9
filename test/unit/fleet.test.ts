/**
 * index.ts under the mock runtime with the several-host example stack
 * (examples/Pulumi.fleet.yaml): what runs where, and the order the engine
 * must keep for a fleet-atomic release — every host builds, the release
 * command runs once on one host after every build and the backup named
 * after the release, every web host starts and checks the release before
 * any host moves traffic.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { byType, Recorded, RunResult, runProgram, stackConfig, unwrap } from "./harness";

const CMD = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";
let r: RunResult;

before(async () => {
    r = await runProgram(stackConfig("fleet", {}, "examples/Pulumi.fleet.yaml"));
    assert.equal(r.error, undefined, r.error?.message);
});

const named = (suffix: string): Recorded[] => r.resources.filter((x) => x.name.endsWith(suffix));
const one = (name: string): Recorded => {
    const found = r.resources.filter((x) => x.name === name);
    assert.equal(found.length, 1, `${name} registered once (have: ${r.resources.map((x) => x.name).filter((n) => n.includes(name.split("-").slice(-1)[0])).join(", ")})`);
    return found[0];
};
const host = (res: Recorded): string => unwrap(res.inputs.connection)?.host;
/** Every resource `res` waits for, directly or through dependencies (dependsOn only, by name). */
function waitsFor(res: Recorded, seen = new Set<string>()): Set<string> {
    for (const d of res.dependsOn) {
        const name = d.split("::").pop()!;
        if (seen.has(name)) continue;
        seen.add(name);
        const dep = r.resources.find((x) => x.name === name);
        if (dep) waitsFor(dep, seen);
    }
    return seen;
}

describe("several hosts: what runs where", () => {
    test("one Host per host, named after it; Docker only on the data host, nginx only on web hosts", () => {
        const hosts = byType(r, "berth:host:Host").map((h) => h.name).sort();
        assert.deepEqual(hosts, ["shop-fleet-host-data", "shop-fleet-host-web1", "shop-fleet-host-web2"]);
        assert.deepEqual(named("-docker-engine").map((x) => x.name), ["shop-fleet-host-data-docker-engine"]);
        assert.deepEqual(named("-nginx-hardening").map((x) => x.name).sort(), ["shop-fleet-host-web1-nginx-hardening", "shop-fleet-host-web2-nginx-hardening"]);
        const pkgs = (h: string) => String(unwrap(one(`shop-fleet-host-${h}-packages`).inputs.create));
        assert.match(pkgs("web2"), /\bnginx\b/);
        assert.doesNotMatch(pkgs("data"), /\bnginx\b|\bruby\b/);
        const fw = (h: string) => String(unwrap(one(`shop-fleet-host-${h}-firewall`).inputs.create));
        assert.match(fw("web1"), /443\/tcp/);
        assert.doesNotMatch(fw("data"), /443\/tcp|80\/tcp/);
    });
    test("Postgres and Redis on the data host publish on its mesh address only; the app's URLs point there", () => {
        const data = r.resources.find((x) => x.type === "berth:host:Host" && x.name.endsWith("-data"))!;
        assert.ok(data);
        const containers = byType(r, CONTAINER);
        assert.equal(containers.length, 2);
        const addrs = new Set(containers.flatMap((c) => unwrap(c.inputs.ports).map((p: { ip: string }) => p.ip)));
        assert.equal(addrs.size, 1);
        const [addr] = [...addrs];
        assert.match(addr, /^10\.2[0-4]\d\.\d+\.\d+$/);
        assert.match(String(unwrap(r.outputs.databaseUrl)), new RegExp(`@${addr.replace(/\./g, "\\.")}:`));
        assert.match(String(unwrap(r.outputs.redisUrl)), new RegExp(`@${addr.replace(/\./g, "\\.")}:`));
    });
    test("the worker runs on web1 only; web2 has no worker unit", () => {
        const units = (h: string) => String(unwrap(one(`shop-fleet-units-${h}-units`).inputs.create));
        assert.match(units("web1"), /sidekiq/);
        assert.doesNotMatch(units("web2"), /sidekiq/);
        assert.deepEqual(named("-units").filter((x) => x.type === CMD && x.name.startsWith("shop-fleet-units-")).map(host).sort(), ["203.0.113.31", "203.0.113.32"]);
    });
    test("DNS: one A record per web host for the domain (round robin)", () => {
        const recs = byType(r, "cloudflare:index/dnsRecord:DnsRecord").map((x) => [x.inputs.name, x.inputs.type, x.inputs.content].join(" ")).sort();
        assert.deepEqual(recs, ["shop.example.com A 203.0.113.31", "shop.example.com A 203.0.113.32"]);
    });
    test("each web host gets its certificate over DNS-01, one host after the other", () => {
        const c1 = one("shop-fleet-certificate-web1-certbot");
        const c2 = one("shop-fleet-certificate-web2-certbot");
        assert.equal(host(c1), "203.0.113.31");
        assert.equal(host(c2), "203.0.113.32");
        assert.ok(waitsFor(c2).has(c1.name), "web2's certificate waits for web1's (one TXT record at a time)");
    });
});

describe("several hosts: a fleet-atomic release", () => {
    test("every app host builds the release; the release command exists once, on web1", () => {
        assert.deepEqual(named("-checkout").map(host).sort(), ["203.0.113.31", "203.0.113.32"]);
        const migrate = named("-release-command");
        assert.equal(migrate.length, 1);
        assert.equal(host(migrate[0]), "203.0.113.31");
    });
    test("the release command waits for every host's build and the backup named after the release, taken on the data host", () => {
        const migrate = named("-release-command")[0];
        const w = waitsFor(migrate);
        assert.ok(w.has("shop-fleet-release-web1-checkout") && w.has("shop-fleet-release-web2-checkout"), [...w].join(" "));
        const backup = one("shop-fleet-backup-data-before-release");
        assert.equal(host(backup), "203.0.113.33");
        assert.ok(w.has(backup.name));
        assert.ok(!waitsFor(backup).has("shop-fleet-release-web1-checkout") && !waitsFor(backup).has("shop-fleet-release-web2-checkout"), "the backup runs alongside the builds, not after them");
        assert.doesNotMatch(String(unwrap(migrate.inputs.create)), /backing up the database/, "no second backup inside the release command");
    });
    test("no host moves traffic before every web host started and checked the release", () => {
        const prepares = named("-prepare");
        assert.deepEqual(prepares.map(host).sort(), ["203.0.113.31", "203.0.113.32"]);
        for (const p of prepares) {
            const script = String(unwrap(p.inputs.create));
            assert.doesNotMatch(script, /mv -T .*web\.sock/, `${p.name} must not move traffic`);
            assert.ok(waitsFor(p).has(named("-release-command")[0].name), `${p.name} runs after the release command`);
        }
        for (const s of named("-switch").filter((x) => x.type === CMD)) {
            const w = waitsFor(s);
            for (const p of prepares) assert.ok(w.has(p.name), `${s.name} waits for ${p.name}`);
            assert.match(String(unwrap(s.inputs.create)), /mv -T/);
        }
    });
    test("an unhealthy release names the host in its error", () => {
        const p = one("shop-fleet-switch-web2-prepare");
        assert.match(String(unwrap(p.inputs.create)), /is unhealthy on host web2/);
    });
});

describe("several hosts with managed data (no data host)", () => {
    let ext: RunResult;
    const ADMIN = "postgres://doadmin:adminpw0123456789@db.example.net:25060/defaultdb?sslmode=require";
    before(async () => {
        const sc = stackConfig(
            "fleet",
            {
                "berth:hosts": [
                    { name: "web1", address: "203.0.113.31", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k", roles: ["web", "worker"] },
                    { name: "web2", address: "203.0.113.32", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID/OkqO5A1NNS+H5MK5fHskty1lNvmdXYIlpgLQpTTDi", roles: ["web"] },
                ],
                "berth:backup": undefined,
            },
            "examples/Pulumi.fleet.yaml",
        );
        sc.values["berth:externalData"] = JSON.stringify({ postgresAdminUrl: ADMIN, redisUrl: "rediss://:redispw0123456789@cache.example.net:25061" });
        sc.secretKeys.push("berth:externalData");
        sc.secrets.push("adminpw0123456789", "redispw0123456789");
        ext = await runProgram(sc);
        assert.equal(ext.error, undefined, ext.error?.message);
    });
    test("no containers, no Docker, no data firewall; the role is managed from web1 through the admin URL", () => {
        assert.equal(byType(ext, CONTAINER).length, 0);
        assert.equal(ext.resources.filter((x) => x.name.endsWith("-docker-engine") || x.type === "berth:data:DataFirewall").length, 0);
        const role = ext.resources.filter((x) => x.name.endsWith("-postgres-role-role"));
        assert.equal(role.length, 1);
        assert.equal(unwrap(role[0].inputs.connection).host, "203.0.113.31");
        const script = String(unwrap(role[0].inputs.create));
        assert.match(script, /PGHOST=db\.example\.net PGPORT=25060 PGUSER=doadmin PGDATABASE=defaultdb PGSSLMODE=require/);
        assert.doesNotMatch(script, /adminpw0123456789/, "the admin password only travels on stdin");
    });
    test("the app's URLs point at the managed services", () => {
        assert.match(String(unwrap(ext.outputs.databaseUrl)), /^postgres:\/\/shop_fleet:[A-Za-z0-9]+@db\.example\.net:25060\/shop_fleet\?sslmode=require$/);
        assert.equal(String(unwrap(ext.outputs.redisUrl)), "rediss://:redispw0123456789@cache.example.net:25061");
    });
});

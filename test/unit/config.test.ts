/**
 * lib/config.ts: the real stack files parse, derived names and ports never
 * collide between stacks, Pulumi.yaml's declared defaults agree with the
 * validator's, and Pulumi.yaml and the README table are what the key
 * declarations (lib/config/keys.ts) render.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { z } from "zod";
import { BerthConfig, isHostKey, isHostname, isImmutableRevision, KEYS, parseConfig, RawSchema, LETSENCRYPT, LETSENCRYPT_STAGING } from "../../lib/config";
import { keyDoc, keyDocs, run as runConfigDocs } from "../../scripts/config-docs";
import { derivePorts, deriveNames } from "../../lib/names";
import { projectDefaults, ROOT, StackConfig, stackConfig } from "./harness";

function parse(sc: StackConfig): BerthConfig {
    const r = parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    if (!r.ok) assert.fail(`config errors:\n${r.errors.join("\n")}`);
    return r.config;
}

describe("the real stack files", () => {
    const staging = parse(stackConfig("staging"));
    const production = parse(stackConfig("production"));

    test("staging is not production and uses the Let's Encrypt staging CA", () => {
        assert.equal(staging.production, false);
        assert.equal(staging.acme.server, LETSENCRYPT_STAGING);
        assert.equal(staging.nginx.hsts, false);
    });
    test("production is production: real CA, HSTS, pinned key, immutable revision", () => {
        assert.equal(production.production, true);
        assert.equal(production.acme.server, LETSENCRYPT);
        assert.equal(production.nginx.hsts, true);
        assert.ok(production.host.hostKey?.startsWith("ssh-ed25519 "));
        assert.ok(production.release.revisionIsImmutable);
    });
    test("the config object is frozen", () => {
        assert.ok(Object.isFrozen(staging) && Object.isFrozen(staging.postgres) && Object.isFrozen(staging.hostnames));
        assert.throws(() => {
            (staging as any).app = "x";
        });
    });
    test("names and ports differ between the two stacks", () => {
        const a = [staging.names.id, staging.names.root, staging.names.postgresContainer, staging.names.nginxSite, staging.postgres.role];
        const b = [production.names.id, production.names.root, production.names.postgresContainer, production.names.nginxSite, production.postgres.role];
        for (let i = 0; i < a.length; i++) assert.notEqual(a[i], b[i]);
        const pa = Object.values(staging.ports);
        const pb = Object.values(production.ports);
        assert.equal(new Set([...pa, ...pb]).size, pa.length + pb.length, `ports collide: ${pa} vs ${pb}`);
    });
});

describe("Pulumi.yaml", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    test("every declared key has a type and a description", () => {
        for (const [k, d] of Object.entries<any>(project.config)) {
            assert.ok(k.startsWith("berth:"), k);
            assert.ok(["string", "integer", "boolean", "array"].includes(d.type), `${k} type`);
            assert.ok(typeof d.description === "string" && d.description.length > 10, `${k} description`);
            if (d.type === "array") assert.ok(d.items?.type, `${k} items`);
        }
    });
    test("no secret key is declared with a default", () => {
        for (const k of ["berth:privateKey", "berth:deployKey", "berth:secretEnv"]) {
            assert.ok(!(k in project.config) || !("default" in project.config[k]), k);
        }
    });
    test("declared defaults are what the validator assumes when a key is unset", () => {
        // The engine applies Pulumi.yaml defaults; the mock runs and the
        // validator's own defaults must agree, or the two would drift.
        const minimal = {
            "berth:app": "shop",
            "berth:host": "203.0.113.5",
            "berth:domain": "a.example.com",
            "berth:repository": "https://git.example.com/shop.git",
            "berth:sshAgent": "true",
            "berth:dns": "false",
        };
        const ctx = { project: "berth", stack: "staging", secretKeys: new Set<string>() };
        const bare = parseConfig(minimal, ctx);
        const withDefaults = parseConfig({ ...projectDefaults(), ...minimal }, ctx);
        assert.ok(bare.ok, JSON.stringify(bare));
        assert.ok(withDefaults.ok, JSON.stringify(withDefaults));
        if (bare.ok && withDefaults.ok) {
            assert.deepEqual(withDefaults.config, bare.config);
        }
    });
});

describe("value checks", () => {
    test("host names", () => {
        for (const ok of ["example.com", "a-b.example.co.uk", "xn--bcher-kva.example"]) assert.ok(isHostname(ok), ok);
        for (const bad of ["exa mple.com", "localhost", "-a.example.com", "a..b", "example.com.", "1.2.3.4", ""]) assert.ok(!isHostname(bad), bad);
    });
    test("host keys must decode to their declared type", () => {
        const good = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        assert.ok(isHostKey(good));
        assert.ok(isHostKey(`${good} comment here`));
        assert.ok(!isHostKey(good.replace("ssh-ed25519", "ssh-rsa")), "type mismatch");
        assert.ok(!isHostKey("ssh-ed25519 not-base64!"));
        assert.ok(!isHostKey("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"));
    });
    test("immutable revisions", () => {
        assert.ok(isImmutableRevision("aa2102cc0f6c7b17e487e8eae46342420d6eb1d8"));
        assert.ok(isImmutableRevision("v1.2.3"));
        assert.ok(isImmutableRevision("refs/tags/release-7"));
        for (const moving of ["main", "release/1.2", "aa2102cc", "HEAD"]) assert.ok(!isImmutableRevision(moving), moving);
    });
});

describe("derived names and ports", () => {
    test("every stack of an app gets its own ports", () => {
        const stacks = ["production", "staging", "dev", "qa", "preview-42"];
        const all = stacks.flatMap((s) => Object.values(derivePorts("shop", s)));
        // "qa" and "preview-42" may share the spare slot only if their hashes agree; these two do not.
        assert.equal(new Set(all).size, all.length);
        for (const p of all) assert.ok(p >= 20000 && p < 28100, String(p));
    });
    test("names derive from app and stack and fit unix limits", () => {
        const n = deriveNames("shop", "production");
        assert.equal(n.user, "shop-production");
        assert.equal(n.dbIdentifier, "shop_production");
        assert.equal(n.root, "/srv/berth/shop-production");
        assert.throws(() => deriveNames("averyveryverylongapp", "production-eu-west"), /at most 32 characters/);
        assert.throws(() => deriveNames("shop", "Prod"), /lowercase/);
    });
});

describe("several hosts (berth:hosts)", () => {
    const fleet = () => stackConfig("fleet", {}, "examples/Pulumi.fleet.yaml");
    const ctx = (sc: StackConfig) => ({ project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    const errorsOf = (overrides: Record<string, unknown>) => {
        const sc = stackConfig("fleet", overrides, "examples/Pulumi.fleet.yaml");
        const r = parseConfig(sc.values, ctx(sc));
        return r.ok ? [] : r.errors;
    };
    const H = (name: string, address: string, roles: string[], extra: Record<string, unknown> = {}) => ({
        name,
        address,
        roles,
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k",
        ...extra,
    });

    test("the example fleet parses: three hosts, the first web host is cfg.host, dns-01 by default, mesh addresses from names", () => {
        const c = parse(fleet());
        assert.equal(c.multiHost, true);
        assert.deepEqual(c.hosts.map((h) => [h.name, h.roles.join("+")]), [["web1", "web+worker"], ["web2", "web"], ["data", "data"]]);
        assert.equal(c.host.name, "web1");
        assert.equal(c.acme.challenge, "dns-01");
        assert.equal(c.mesh.enabled, true);
        const addrs = c.hosts.map((h) => h.privateAddress!);
        assert.equal(new Set(addrs).size, 3);
        for (const a of addrs) assert.match(a, /^10\.(2[0-4]\d)\.\d+\.\d+$/);
    });
    test("mesh addresses do not move when hosts are reordered or added", () => {
        const base = parse(fleet()).hosts;
        const sc = stackConfig("fleet", { "berth:hosts": [H("web3", "203.0.113.40", ["web"]), ...[...base].reverse().map((h) => H(h.name, h.address, [...h.roles]))] }, "examples/Pulumi.fleet.yaml");
        const r = parseConfig(sc.values, ctx(sc));
        assert.ok(r.ok, JSON.stringify(r));
        if (r.ok) for (const h of base) assert.equal(r.config.hosts.find((x) => x.name === h.name)!.privateAddress, h.privateAddress);
    });
    test("a berth:host stack is one host, main, with every role and no private address", () => {
        const c = parse(stackConfig("staging"));
        assert.equal(c.multiHost, false);
        assert.deepEqual(c.hosts.map((h) => [h.name, [...h.roles]]), [["main", ["web", "worker", "data"]]]);
        assert.equal(c.host.privateAddress, undefined);
        assert.equal(c.acme.challenge, "http-01");
    });
    test("every topology problem is reported, naming its key", () => {
        const e = errorsOf({
            "berth:host": "203.0.113.9",
            "berth:hosts": [H("web1", "203.0.113.31", ["web"]), H("web1", "203.0.113.31", ["data"]), H("db2", "203.0.113.35", ["data", "data"])],
            "berth:acme": { challenge: "http-01" },
        });
        const want = [
            /^berth:host: set together with berth:hosts/,
            /^berth:hosts\[1\]\.name: "web1" is listed twice/,
            /^berth:hosts\[1\]\.address: 203\.0\.113\.31 is listed twice/,
            /^berth:hosts\[2\]\.roles: lists a role twice/,
            /^berth:hosts: web1, db2 all have the data role|^berth:hosts: .* all have the data role/,
            /^berth:hosts: berth:workerCommand is set but no host has the worker role/,
        ];
        for (const w of want) assert.ok(e.some((m) => w.test(m)), `${w} in\n${e.join("\n")}`);
    });
    test("several web hosts need dns-01 and its credentials", () => {
        const e = errorsOf({ "berth:acme": { challenge: "http-01" }, "berth:dns01": undefined });
        assert.ok(e.some((m) => /^berth:acme\.challenge: http-01 cannot work with 2 web hosts/.test(m)), e.join("\n"));
        const e2 = errorsOf({ "berth:dns01": undefined });
        assert.ok(e2.some((m) => /^berth:dns01: required for the dns-01 challenge/.test(m)), e2.join("\n"));
    });
    test("no data host: external URLs are required; both a data host and external data is refused", () => {
        const noData = [H("web1", "203.0.113.31", ["web", "worker"]), H("web2", "203.0.113.32", ["web"])];
        const e = errorsOf({ "berth:hosts": noData, "berth:backup": undefined });
        assert.ok(e.some((m) => /^berth:externalData\.postgresUrl: required when no host has the data role/.test(m)), e.join("\n"));
        assert.ok(e.some((m) => /^berth:externalData\.redisUrl: required/.test(m)), e.join("\n"));
        const withUrls = (ext: Record<string, string>, hosts: unknown = noData) => {
            const sc = stackConfig("fleet", { "berth:hosts": hosts, "berth:backup": undefined }, "examples/Pulumi.fleet.yaml");
            const values = { ...sc.values, "berth:externalData": JSON.stringify(ext) };
            const r = parseConfig(values, { project: "berth", stack: "fleet", secretKeys: new Set([...sc.secretKeys, "berth:externalData"]) });
            return r.ok ? r.config : r.errors;
        };
        const c = withUrls({ postgresAdminUrl: "postgres://admin:pw@db.example.net:25060/defaultdb?sslmode=require", redisUrl: "rediss://:pw@cache.example.net:25061" });
        assert.ok(!Array.isArray(c), JSON.stringify(c));
        if (!Array.isArray(c)) assert.equal(c.external.postgresAdminUrl?.startsWith("postgres://admin:"), true);
        const both = withUrls({ postgresUrl: "postgres://u:p@db/x", redisUrl: "redis://r" }, [...noData, H("data", "203.0.113.33", ["data"])]);
        assert.ok(Array.isArray(both) && both.some((m) => /^berth:externalData: set, but data has the data role/.test(m)), JSON.stringify(both));
        const twoPg = withUrls({ postgresUrl: "postgres://u:p@db/x", postgresAdminUrl: "postgres://a:p@db/x", redisUrl: "redis://r" });
        assert.ok(Array.isArray(twoPg) && twoPg.some((m) => /postgresUrl .* or postgresAdminUrl .* not both/.test(m)), JSON.stringify(twoPg));
        const plain = parseConfig({ ...stackConfig("fleet", { "berth:hosts": noData, "berth:backup": undefined }, "examples/Pulumi.fleet.yaml").values, "berth:externalData": JSON.stringify({ postgresUrl: "postgres://u:p@db/x", redisUrl: "redis://r" }) }, { project: "berth", stack: "fleet", secretKeys: new Set(["berth:privateKey", "berth:deployKey", "berth:dns01"]) });
        assert.ok(!plain.ok && plain.errors.some((m) => /^berth:externalData: must be a secret/.test(m)), "external URLs must be secrets");
    });
    test("privateAddress on some hosts only is refused", () => {
        const e = errorsOf({ "berth:hosts": [H("web1", "203.0.113.31", ["web", "worker"], { privateAddress: "10.0.0.1" }), H("data", "203.0.113.33", ["data"])], "berth:acme": { challenge: "http-01" } });
        assert.ok(e.some((m) => /^berth:hosts: privateAddress is set on 1 of 2 hosts/.test(m)), e.join("\n"));
    });
    test("production needs every host's key pinned", () => {
        const e = errorsOf({ "berth:hosts": [H("web1", "203.0.113.31", ["web", "worker", "data"], { hostKey: undefined })], "berth:acme": {} });
        assert.ok(e.some((m) => /^berth:hosts\[0\]\.hostKey: required on a production stack/.test(m)), e.join("\n"));
    });
});

describe("one place per key: lib/config/keys.ts renders Pulumi.yaml and the README table", () => {
    test("Pulumi.yaml and the README table are what the keys render (npm run config:docs -- --write)", () => {
        const r = runConfigDocs([]);
        assert.equal(r.code, 0, r.output);
    });
    test("every schema key is declared with its documentation, and every declaration is a schema key", () => {
        assert.deepEqual(Object.keys(RawSchema.shape), Object.keys(KEYS));
        for (const d of keyDocs()) {
            assert.ok(d.readme.meaning.trim() !== "" && d.readme.type !== "" && d.readme.default !== "", d.key);
            assert.ok((d.pulumi === undefined) !== (d.header === undefined), `${d.key}: declared in Pulumi.yaml or listed in its header comment, once`);
        }
    });
    test("a declaration without documentation, or one Pulumi.yaml cannot hold, is refused", () => {
        assert.throws(() => keyDoc("x", { schema: z.string(), meaning: " ", pulumi: "X." }), /x: meaning is empty/);
        assert.throws(() => keyDoc("x", { schema: z.number().default(1), meaning: "m" }), /x: Pulumi.yaml can declare this key/);
        assert.throws(() => keyDoc("x", { schema: z.object({ a: z.string() }), meaning: "m", pulumi: "X." }), /x: Pulumi.yaml cannot declare a object key/);
        assert.throws(() => keyDoc("x", { schema: z.string().optional(), secret: true, meaning: "m", pulumi: "X." }), /x: Pulumi.yaml cannot declare a secret key/);
        assert.throws(() => keyDoc("x", { schema: z.boolean().optional(), meaning: "m", pulumi: "X." }), /x: an optional boolean needs a Pulumi.yaml default/);
        const ok = keyDoc("x", { schema: z.boolean().optional(), meaning: "m", pulumi: { description: "X.", default: false } });
        assert.deepEqual([ok.readme, ok.pulumi], [{ type: "boolean", default: "false", meaning: "m" }, { type: "boolean", description: "X.", default: false }]);
    });
    test("the check shows what is out of date and fails; --write fixes it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-config-docs-"));
        try {
            const yaml = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), yaml.replace("    description: SSH port of the VPS.\n", "    description: SSH port.\n"));
            fs.copyFileSync(path.join(ROOT, "README.md"), path.join(dir, "README.md"));
            const stale = runConfigDocs([], dir);
            assert.equal(stale.code, 1, stale.output);
            assert.match(stale.output, /Pulumi\.yaml:\d+: - {5}description: SSH port\.\n.*Pulumi\.yaml:\d+: \+ {5}description: SSH port of the VPS\./s);
            assert.match(stale.output, /README\.md: up to date/);
            assert.equal(runConfigDocs(["--write"], dir).code, 0);
            assert.equal(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"), yaml);
            assert.equal(runConfigDocs([], dir).code, 0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("process types, schedules, accessories (berth:processes, berth:schedules, berth:accessories)", () => {
    const FLEET = "examples/Pulumi.fleet.yaml";
    const fleetWith = (set: Record<string, unknown>) => {
        const sc = stackConfig("fleet", set, FLEET);
        return parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    };
    test("berth:workerCommand is the process worker, on the worker hosts", () => {
        const r = fleetWith({});
        assert.ok(r.ok, !r.ok ? r.errors.join("\n") : "");
        assert.deepEqual(r.config.processes, { worker: { name: "worker", command: "bundle exec sidekiq -C config/sidekiq.yml", count: 1, hosts: ["web1"] } });
        assert.deepEqual(parse(stackConfig("staging")).processes, {});
    });
    test("processes: count, role and hosts resolve to host names; a process defaults to the worker role", () => {
        const r = fleetWith({
            "berth:workerCommand": undefined,
            "berth:processes": { worker: { command: "bundle exec sidekiq" }, jobs: { command: "bin/jobs", count: 3, hosts: ["web2", "web1"] }, edge: { command: "bin/edge", count: 0, role: "web" } },
        });
        assert.ok(r.ok, !r.ok ? r.errors.join("\n") : "");
        assert.deepEqual(
            Object.values(r.config.processes).map((p) => [p.name, p.count, [...p.hosts]]),
            [
                ["worker", 1, ["web1"]],
                ["jobs", 3, ["web2", "web1"]],
                ["edge", 0, ["web1", "web2"]],
            ],
        );
    });
    test("processes and accessories on hosts that are not there, or a role no host has", () => {
        const r = fleetWith({
            "berth:workerCommand": undefined,
            "berth:processes": { jobs: { command: "bin/jobs", hosts: ["web3", "web2", "web2"] } },
            "berth:accessories": { meili: { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL", role: "worker", hosts: ["web1"] } },
        });
        assert.ok(!r.ok);
        assert.deepEqual(r.errors, [
            'berth:processes.jobs.hosts[0]: "web3" is not a host of berth:hosts',
            'berth:processes.jobs.hosts[2]: "web2" is listed twice',
            "berth:accessories.meili: set role or hosts, not both",
            "berth:accessories.meili.hosts: web1 has no data role; accessories run on the data host's Docker engine",
        ]);
        const noWorker = fleetWith({
            "berth:workerCommand": undefined,
            "berth:hosts": [
                { name: "web1", address: "203.0.113.31", roles: ["web"] },
                { name: "data", address: "203.0.113.33", roles: ["data"] },
            ],
            "berth:processes": { jobs: { command: "bin/jobs" } },
        });
        assert.ok(!noWorker.ok);
        assert.ok(noWorker.errors.includes("berth:processes.jobs.role: no host has the worker role"), noWorker.errors.join("\n"));
    });
    test("schedules keep their fields; the timeout defaults to an hour", () => {
        const r = fleetWith({ "berth:schedules": { digest: { command: "bin/rails runner Digest.send", schedule: "Mon..Fri 07:00 Europe/Berlin" }, sweep: { command: "bin/sweep", schedule: "*:0/15", timeout: 60 } } });
        assert.ok(r.ok, !r.ok ? r.errors.join("\n") : "");
        assert.deepEqual(r.config.schedules.digest, { name: "digest", command: "bin/rails runner Digest.send", schedule: "Mon..Fri 07:00 Europe/Berlin", timeout: 3600 });
        assert.equal(r.config.schedules.sweep.timeout, 60);
    });
    test("accessories run on the data host by default, on a port from their name, and leave postgres and redis where they were", () => {
        const before = fleetWith({});
        const r = fleetWith({
            "berth:accessories": {
                meili: { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL", volumes: { data: "/meili_data" } },
                cache: { build: { debianPackages: ["memcached"] }, command: "memcached -u nobody -l 0.0.0.0", port: 11211, urlEnv: "MEMCACHE_SERVERS", urlScheme: "memcached", hostPort: 31000 },
            },
        });
        assert.ok(r.ok && before.ok, !r.ok ? r.errors.join("\n") : "");
        const { meili, cache } = r.config.accessories;
        assert.deepEqual([...meili.hosts], ["data"]);
        assert.equal(meili.urlScheme, "http");
        assert.ok(meili.hostPort >= 28000 && meili.hostPort <= 32767, String(meili.hostPort));
        assert.equal(cache.hostPort, 31000);
        assert.deepEqual(r.config.ports, before.config.ports);
        // Removing the other accessory does not move this one.
        const alone = fleetWith({ "berth:accessories": { meili: { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL" } } });
        assert.ok(alone.ok);
        assert.equal(alone.config.accessories.meili.hostPort, meili.hostPort);
    });
});

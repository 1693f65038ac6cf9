/**
 * lib/config.ts: the real stack files parse, derived names and ports never
 * collide between stacks, and Pulumi.yaml's declared defaults agree with the
 * validator's.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { BerthConfig, isHostKey, isHostname, isImmutableRevision, parseConfig, LETSENCRYPT, LETSENCRYPT_STAGING } from "../../lib/config";
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

/**
 * Named port slots (lib/ports.ts): postgres and redis keep every existing
 * stack's ports; any other name's port depends on its own name only; a
 * collision is reported naming both.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { NAMED_PORT_RANGE, namedPort, portSlots } from "../../lib/ports";
import { configFor } from "./harness";

/** Today's ports of the committed stacks (read off their goldens and `derivePorts` before named slots existed). */
const TODAY: { stack: string; file?: string; set?: Record<string, unknown>; postgres: number; redis: number }[] = [
    { stack: "staging", postgres: 21144, redis: 21145 },
    { stack: "production", postgres: 21140, redis: 21141 },
    { stack: "dev", set: { "berth:deployKey": { secure: "set-by-dev-up" } }, postgres: 22388, redis: 22389 },
    { stack: "fleet", file: "examples/Pulumi.fleet.yaml", postgres: 21156, redis: 21157 },
];

describe("named port slots", () => {
    for (const t of TODAY) {
        test(`${t.stack}: postgres and redis keep today's ports, with or without accessories`, () => {
            const cfg = configFor(t.stack, t.set ?? {}, t.file);
            assert.deepEqual({ postgres: cfg.ports.postgres, redis: cfg.ports.redis }, { postgres: t.postgres, redis: t.redis });
            for (const names of [["postgres", "redis"], ["postgres", "redis", "meili", "minio", "memcached"], ["search", "redis", "postgres"]]) {
                const s = portSlots({ app: cfg.app, stack: cfg.stack }, names);
                assert.equal(s.ports.postgres, t.postgres, names.join(","));
                assert.equal(s.ports.redis, t.redis, names.join(","));
                assert.deepEqual(s.collisions, []);
            }
        });
    }
    test("an accessory's port depends on its name only: adding or removing others never moves it", () => {
        const input = { app: "shop", stack: "staging" };
        const alone = portSlots(input, ["meili"]).ports.meili;
        assert.equal(portSlots(input, ["postgres", "redis", "meili"]).ports.meili, alone);
        assert.equal(portSlots(input, ["aaa", "meili", "zzz", "memcached"]).ports.meili, alone);
        assert.equal(portSlots({ ...input, portBase: 40000 }, ["meili"]).ports.meili, alone);
        assert.notEqual(portSlots(input, ["minio"]).ports.minio, alone);
    });
    test("derived ports are inside the documented range, below the ephemeral ports, and differ between stacks", () => {
        for (const stack of ["staging", "production", "dev", "pr-12"]) {
            for (const name of ["meili", "minio", "memcached", "search", "cache", "x"]) {
                const p = namedPort(`shop-${stack}`, name);
                assert.ok(p >= NAMED_PORT_RANGE.first && p <= NAMED_PORT_RANGE.last && p < 32768, `${stack}/${name}: ${p}`);
            }
        }
        assert.notEqual(namedPort("shop-staging", "meili"), namedPort("shop-production", "meili"));
    });
    test("portBase and fixed ports win", () => {
        const s = portSlots({ app: "shop", stack: "staging", portBase: 40000, fixed: { redis: 6380, meili: 7700 } }, ["postgres", "redis", "meili"]);
        assert.deepEqual(s.ports, { postgres: 40000, redis: 6380, meili: 7700 });
    });
    test("a collision names both, including a web instance's port", () => {
        const s = portSlots({ app: "shop", stack: "staging", fixed: { meili: 21145, search: 29000, other: 29000, web: 21146 } }, ["postgres", "redis", "meili", "search", "other", "web"]);
        assert.deepEqual(s.collisions, [
            { names: ["redis", "meili"], port: 21145 },
            { names: ["search", "other"], port: 29000 },
            { names: ["web blue", "web"], port: 21146 },
        ]);
    });
});

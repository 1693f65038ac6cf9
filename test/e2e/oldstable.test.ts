/**
 * Debian 12 ("bookworm", oldstable) stays a supported host: a fresh Debian 12
 * VPS of its own (BERTH_E2E_SUITE=bookworm, host/lib.sh) converged by the
 * same program. The other files run on Debian 13, the default.
 *
 * Debian 12's Rails (6.1) cannot run the Rails 7.2 sample app, so this host
 * deploys the sample repository's `generic` tag with the generic preset: the
 * app as one Python program (bin/berth-e2e-server, Python from Debian 12).
 * What differs between the releases is on the host side, and every part of
 * it runs here: the release check of /etc/os-release, Debian 12's package
 * names (docker.io with its CLI, no docker-cli package), its nginx.conf
 * (server_tokens commented out), the data containers, HTTPS through nginx
 * with a Pebble certificate, and a second up that runs nothing.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { keepHosts, makeWorld, onVps, removeVps, vps, World } from "./world";
import { Driver, makeDriver } from "./driver";
import { Stage } from "./kit";

const VPS = "berth-oldstable-vps";
let world: World;
let driver: Driver;
let stage: Stage;

/** The generic preset with the one-program app; no Ruby anywhere (the dev file's worker is a rails runner). */
const GENERIC = {
    "berth:revision": "generic",
    "berth:preset": "generic",
    "berth:webCommand": "python3 bin/berth-e2e-server",
    "berth:workerCommand": "",
    "berth:packages": ["python3"],
};

before(async () => {
    world = makeWorld(VPS, { fresh: true, suite: "bookworm", services: "oldstable", domain: "oldstable.berth.test", prodDomain: "prod.oldstable.berth.test", repo: "oldstable-sample" });
    vps(["stage-images", world.vps.name]);
    driver = await makeDriver(path.join(world.work, "state.json"), world.acme.dnsApi, "dev");
    stage = new Stage(world, driver, GENERIC);
});

after(() => {
    if (!keepHosts()) removeVps(world.vps.name);
});

describe("Debian 12 (oldstable) host", () => {
    test("1. fresh Debian 12 host -> up: HTTPS with a certificate, data containers, nginx without its version", async () => {
        const os = onVps(world, ". /etc/os-release && echo \"$ID $VERSION_ID\"").stdout.trim();
        assert.equal(os, "debian 12", "the VPS runs Debian 12");
        const r = await stage.up();
        assert.ok(r.ok, r.error);
        await stage.fetchPebbleRoot();
        const up = await stage.get("/up");
        assert.equal(up.status, 200, up.body);
        assert.equal((await stage.get("/version")).body.trim(), world.shas.generic);
        // Debian 12's docker.io carries the CLI; the containers berth declared run healthy.
        const ps = onVps(world, "docker ps --format '{{.Names}} {{.Status}}'").stdout;
        assert.match(ps, /sample-dev-postgres .*healthy/, ps);
        assert.match(ps, /sample-dev-redis .*healthy/, ps);
        // nginx.conf of Debian 12 comments server_tokens out: berth's hardening turns it off once.
        const tokens = onVps(world, "nginx -T 2>/dev/null | grep -E '^\\s*server_tokens' | sort | uniq -c").stdout.trim();
        assert.match(tokens, /^\s*1\s+server_tokens off;$/, `server_tokens set exactly once: ${tokens}`);
        const head = onVps(world, "curl -skI https://127.0.0.1/ -H 'Host: oldstable.berth.test' | tr -d '\\r' | grep -i '^server:'").stdout.trim();
        assert.equal(head.toLowerCase(), "server: nginx", "no nginx version in the Server header");
    });

    test("2. second up with no change: nothing runs", async () => {
        const r = await stage.up();
        assert.ok(r.ok, r.error);
        assert.deepEqual(r.commands.map((c) => `${c.phase} ${c.resource}`), []);
        assert.deepEqual(r.dockerChanges, []);
    });
});

/**
 * berth:webSocket (lib/units/webSocket.ts): `activation` hands the
 * instance's socket to the app, the Rails preset's default with Puma's CLI;
 * `proxy` for any other command (golden text and systemd-analyze in
 * test/unit/web.test.ts: staging is activation, variant staging/proxy).
 * Here: what the units say to systemd, Puma's command, the defaults and the
 * refusals.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as units from "../../components/app/appUnits";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { pumaActivated, pumaCheckLines, rails } from "../../lib/presets/rails";
import { configFor } from "./harness";

const lines = (text: string, key: string) => text.split("\n").filter((l) => l.startsWith(`${key}=`));

describe("berth:webSocket", () => {
    const proxy = configFor("staging", { "berth:webSocket": "proxy" });
    const act = configFor("staging", { "berth:webSocket": "activation" });

    test("unset: activation for Puma's CLI (the Rails default), the proxy for any other command", () => {
        assert.equal(configFor("staging").release.webSocket, "activation");
        assert.equal(configFor("staging", { "berth:webCommand": "bin/puma -t 5:5" }).release.webSocket, "activation");
        assert.equal(configFor("staging", { "berth:webCommand": "bin/rails server" }).release.webSocket, "proxy", "a command that cannot take the socket is not refused: it gets the proxy");
        assert.equal(configFor("staging", { "berth:preset": "generic", "berth:webCommand": "app" }).release.webSocket, "proxy");
        assert.equal(configFor("staging", { "berth:preset": "generic", "berth:webCommand": "bundle exec puma" }).release.webSocket, "proxy", "the generic preset never guesses");
        assert.equal(proxy.release.webSocket, "proxy");
        assert.deepEqual(lines(units.proxySocketFile(proxy), "Service"), []);
        assert.deepEqual(lines(units.webUnitFile(proxy), "Sockets"), []);
    });

    test("activation: the socket starts the web instance, which inherits it; no proxy in between", () => {
        assert.deepEqual(lines(units.proxySocketFile(act), "Service"), ["Service=berth-shop-staging-web@%i.service"]);
        const web = units.webUnitFile(act);
        assert.deepEqual(lines(web, "Sockets"), ["Sockets=berth-shop-staging-proxy@%i.socket"]);
        assert.deepEqual(lines(web, "Requires"), ["Requires=berth-shop-staging-proxy@%i.socket"]);
        assert.ok(lines(web, "After").includes("After=berth-shop-staging-proxy@%i.socket"), web);
        // The socket nginx and the switch's probe use is the same path in both modes.
        assert.deepEqual(lines(units.proxySocketFile(act), "ListenStream"), lines(units.proxySocketFile(proxy), "ListenStream"));
    });

    test("activation (Rails): Puma's CLI serves only the activated socket, config/puma.rb untouched", () => {
        assert.match(units.webUnitFile(act), /^ExecStart=\/bin\/sh -c 'exec bundle exec puma -C config\/puma.rb --bind-to-activated-sockets only'$/m);
        assert.notEqual(units.unitsHash(act), units.unitsHash(proxy), "a change of mode restarts the app on the idle instance");
    });

    test("Puma's own CLI is recognised, other commands are not", () => {
        for (const c of ["puma", "bundle exec puma -C config/puma.rb", "bin/puma -t 5:5", "/usr/local/bin/puma config.ru"]) assert.ok(pumaActivated(c), c);
        for (const c of ["bin/rails server", "bundle exec rails s -p $PORT", "bundle exec pumactl start", "ruby config/puma.rb"]) assert.equal(pumaActivated(c), undefined, c);
    });

    test("activation with a web command that cannot take the socket is refused, naming the key", () => {
        assert.throws(() => configFor("staging", { "berth:webSocket": "activation", "berth:webCommand": "bin/rails server" }), /berth:webSocket: activation needs .*Puma.*"bin\/rails server"/s);
        assert.throws(() => configFor("staging", { "berth:webSocket": "socket" }), /berth:webSocket.*not a web socket mode/);
    });

    test("activation: the checkout refuses a Gemfile.lock with Puma below 5, naming the key; other lockfiles pass", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-puma-"));
        const run = (lock: string | undefined) => {
            fs.rmSync(path.join(dir, "Gemfile.lock"), { force: true });
            if (lock !== undefined) fs.writeFileSync(path.join(dir, "Gemfile.lock"), lock);
            return spawnSync("bash", ["-euo", "pipefail", "-c", pumaCheckLines(dir, "abc123").join("\n")], { encoding: "utf8" });
        };
        const lock = (spec: string) => `GEM\n  remote: https://rubygems.org/\n  specs:\n    nio4r (2.7.4)\n${spec}      nio4r (~> 2.0)\n\nDEPENDENCIES\n  puma (>= 4.0)\n`;
        try {
            const old = run(lock("    puma (4.3.12)\n"));
            assert.equal(old.status, 1);
            assert.match(old.stderr, /release abc123: Gemfile.lock locks Puma 4, .*berth:webSocket: proxy/);
            for (const ok of [lock("    puma (6.6.0)\n"), lock("    puma (5.0.0-java)\n"), lock("    puma (10.1.0)\n"), lock(""), undefined]) {
                const r = run(ok);
                assert.equal(r.status, 0, `${ok}: ${r.stderr}`);
            }
            assert.equal(run(lock("    puma (3.12.6-x86_64-linux)\n")).status, 1, "a platform after the version");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // Only with activation: the proxy runs any Puma.
        const checkout = (c: typeof act) => rails.checkoutLines(c, "/r", "abc").flat(9).filter(Boolean).join("\n");
        assert.match(checkout(act), /puma_major=/);
        assert.doesNotMatch(checkout(proxy), /puma_major=/);
    });

    test("generic preset: the command runs as written (it takes LISTEN_FDS itself)", () => {
        const g = configFor("staging", { "berth:preset": "generic", "berth:webCommand": "/usr/local/bin/app serve", "berth:webSocket": "activation" });
        assert.match(units.webUnitFile(g), /^ExecStart=\/bin\/sh -c 'exec \/usr\/local\/bin\/app serve'$/m);
    });
});

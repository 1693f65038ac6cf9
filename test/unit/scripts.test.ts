/**
 * Every remote script of the environment program, for both stacks: golden
 * text (reviewable in pull requests) and a clean shellcheck run.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { BerthConfig } from "../../lib/config";
import { withShebang } from "../../lib/shell";
import * as host from "../../components/host/host";
import * as role from "../../components/data/postgresRole";
import * as data from "../../components/data/dataServices";
import * as release from "../../components/app/release";
import * as sw from "../../components/app/switch";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor } from "./harness";

const SCRIPTS: Record<string, (c: BerthConfig) => string> = {
    "host-packages.sh": host.packagesScript,
    "host-ssh-hardening.sh": host.sshHardeningScript,
    "host-ssh-hardening-delete.sh": host.sshHardeningDeleteScript,
    "host-firewall.sh": host.firewallScript,
    "host-app-user.sh": host.appUserScript,
    "host-app-user-delete.sh": host.appUserDeleteScript,
    "host-docker-engine.sh": host.dockerEngineScript,
    "host-nginx-hardening.sh": host.nginxHardeningScript,
    "postgres-role.sh": role.roleScript,
    "postgres-role-delete.sh": role.roleDeleteScript,
    "release-deploy-key.sh": release.deployKeyScript,
    "release-checkout.sh": (c) => release.checkoutScript(c, SHA),
    "release-command.sh": (c) => release.releaseCommandScript(c, SHA),
    "switch.sh": (c) => sw.switchScript(c, { sha: SHA, envHash: "e".repeat(64), unitsHash: "u".repeat(64) }),
    "switch-stop.sh": sw.stopScript,
};

const SHA = "5f8008de1dd704ea09395bd87621f1d32eeac017";

for (const stack of ["staging", "production"]) {
    describe(`${stack} scripts`, () => {
        const cfg = configFor(stack);
        for (const [file, build] of Object.entries(SCRIPTS)) {
            test(file, () => {
                const text = build(cfg);
                expectGolden(`${stack}/${file}`, text);
                expectShellcheckClean(`${stack}/${file}`, withShebang(text));
            });
        }
        test("redis.conf", () => expectGolden(`${stack}/redis.conf`, data.redisConf(cfg)));
    });
    describe(`${stack} scripts, generic preset`, () => {
        const cfg = configFor(stack, {
            "berth:preset": "generic",
            "berth:webCommand": "/usr/local/bin/app serve --port $PORT",
            "berth:buildCommand": "make release",
            "berth:releaseCommand": "/usr/local/bin/app migrate",
        });
        for (const file of ["host-packages.sh", "release-checkout.sh", "release-command.sh", "switch.sh"]) {
            test(file, () => {
                const text = SCRIPTS[file](cfg);
                expectGolden(`${stack}/generic/${file}`, text);
                expectShellcheckClean(`${stack}/generic/${file}`, withShebang(text));
            });
        }
    });
}

describe("script properties", () => {
    const cfg = configFor("staging");
    test("berth rollback's move first: shellcheck-clean, the switch's own move after its own checks, refusals exit 3 before anything moves", () => {
        const text = sw.rollbackMoveScript(cfg, SHA);
        expectShellcheckClean("rollback-move.sh", withShebang(text));
        const full = sw.switchScript(cfg, { sha: SHA, envHash: "e".repeat(64), unitsHash: "u".repeat(64) });
        // Everything from the boot state on is the switch's text, byte for byte.
        const from = (t: string) => t.slice(t.indexOf("systemctl enable --quiet --no-reload"));
        assert.equal(from(text), from(full));
        const move = text.indexOf("mv -T");
        const refusals = [...text.matchAll(/not a traffic-only rollback: ([^;]+);[^\n]*exit 3/g)].map((m) => ({ why: m[1], at: m.index! }));
        assert.deepEqual(
            refusals.map((r) => r.why),
            ["no instance serves", "the kept instance $idle does not run it", "the kept instance $idle was started with other env or unit files than the serving one", "the kept instance $idle is not healthy"],
        );
        for (const r of refusals) assert.ok(r.at < move, `${r.why}: before the move`);
        assert.equal(sw.NOT_TRAFFIC_ONLY, 3);
        assert.match(text, /stamp=\$kept\n/, "the kept instance's own stamp is what instance_ok checks");
        assert.match(text, /berth: rollback of [^:]+: waiting for another berth operation/, "under the host lock, as the switch");
    });
    test("the package list holds the base, the preset's toolchain and the extras, once each", () => {
        const pkgs = host.hostPackages(cfg);
        for (const p of ["ufw", "unattended-upgrades", "nginx", "certbot", "ruby", "bundler", "libvips42t64"]) assert.ok(pkgs.includes(p), p);
        assert.equal(new Set(pkgs).size, pkgs.length);
        assert.ok(!host.hostPackages(configFor("staging", { "berth:preset": "generic", "berth:webCommand": "/usr/bin/app" })).includes("ruby"));
    });
    test("changing the package list changes only the packages script", () => {
        const more = configFor("staging", { "berth:packages": ["libvips42", "imagemagick"] });
        assert.notEqual(host.packagesScript(more), host.packagesScript(cfg));
        for (const [file, build] of Object.entries(SCRIPTS)) {
            if (file !== "host-packages.sh") assert.equal(build(more), build(cfg), file);
        }
    });
    test("a non-root SSH user is added to the docker group for the Docker provider", () => {
        const deploy = configFor("staging", { "berth:sshUser": "deploy" });
        assert.match(host.dockerEngineScript(deploy), /usermod -aG docker deploy/);
        assert.doesNotMatch(host.dockerEngineScript(cfg), /usermod/);
    });
    test("the role password only ever comes from stdin", () => {
        const s = role.roleScript(cfg);
        assert.match(s, /IFS= read -r ROLE_PASSWORD/);
        assert.doesNotMatch(s, /PASSWORD '[^%]/);
    });
    test("the Docker provider's known-hosts line uses OpenSSH's [host]:port form off port 22", () => {
        assert.equal(data.knownHostsPattern("203.0.113.1", 22), "203.0.113.1");
        assert.equal(data.knownHostsPattern("203.0.113.1", 2222), "[203.0.113.1]:2222");
    });
});

describe("release pruning (run for real in a temporary root)", () => {
    test("keeps the newest keepReleases plus whatever current and the slots point at", () => {
        const fs = require("node:fs") as typeof import("node:fs");
        const os = require("node:os") as typeof import("node:os");
        const path = require("node:path") as typeof import("node:path");
        const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
        const cfg = configFor("staging", { "berth:keepReleases": 3 });
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-prune-"));
        try {
            const shas = Array.from({ length: 7 }, (_, i) => String(i).repeat(40).slice(0, 40).replace(/^./, "a"));
            shas.forEach((sha, i) => {
                const d = path.join(root, "releases", sha);
                fs.mkdirSync(d, { recursive: true });
                const t = new Date(Date.UTC(2026, 0, 1 + i));
                fs.utimesSync(d, t, t);
            });
            fs.mkdirSync(path.join(root, "slots"));
            fs.symlinkSync(path.join(root, "releases", shas[0]), path.join(root, "current")); // oldest is live (a rollback)
            fs.symlinkSync(path.join(root, "releases", shas[1]), path.join(root, "slots", "green"));
            const body = sw.pruneLines(cfg).join("\n").split(cfg.names.root).join(root);
            const r = spawnSync("bash", ["-c", `set -euo pipefail\n${body}`], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const left = fs.readdirSync(path.join(root, "releases")).sort();
            assert.deepEqual(left, [shas[0], shas[1], shas[4], shas[5], shas[6]].sort());
            assert.equal(r.stdout.match(/pruned/g)?.length, 2);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("goldens hold what differs", () => {
    const { GOLDEN_BASES, GOLDEN_DIR, STACK_BASES, goldenBase, checkGolden } = require("./golden") as typeof import("./golden");
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    /** Every file below the directories that have a base (a stack's directory with all its subdirectories). */
    const filesUnder = (...dirs: string[]): string[] => {
        const out: string[] = [];
        const walk = (rel: string) => {
            for (const e of fs.readdirSync(path.join(GOLDEN_DIR, rel), { withFileTypes: true })) {
                if (e.isDirectory()) walk(`${rel}/${e.name}`);
                else out.push(`${rel}/${e.name}`);
            }
        };
        dirs.filter((d) => fs.existsSync(path.join(GOLDEN_DIR, d))).forEach(walk);
        return [...new Set(out)];
    };
    const ownFiles = () => filesUnder(...Object.keys(GOLDEN_BASES), ...Object.keys(STACK_BASES));
    test("no golden file repeats its base (test/unit/golden.ts GOLDEN_BASES, STACK_BASES)", () => {
        let checked = 0;
        for (const rel of ownFiles()) {
            const b = goldenBase(rel);
            if (!b) continue;
            checked++;
            const via = b.substituted ? ` with stack ${b.substituted.from} -> ${b.substituted.to} substituted` : "";
            assert.notEqual(fs.readFileSync(path.join(GOLDEN_DIR, rel), "utf8"), b.text, `${rel} is the same as ${b.source}${via}: remove it (UPDATE_GOLDEN=1 npm test does)`);
        }
        assert.ok(checked > 10);
    });
    test("production's goldens are staging's rendered with the stack as a parameter: only real differences are stored", () => {
        const stored = filesUnder("production");
        const staging = filesUnder("staging");
        assert.ok(stored.length < staging.length / 2, `production/ stores ${stored.length} files, staging/ ${staging.length}`);
    });
    test("a production render the substitution does not explain fails", () => {
        // web.service differs between the stacks only by the stack name: no file of its own.
        assert.ok(!fs.existsSync(path.join(GOLDEN_DIR, "production/web.service")));
        const units = require("../../components/app/appUnits") as typeof import("../../components/app/appUnits");
        const prod = units.webUnitFile(configFor("production"));
        const stagingText = units.webUnitFile(configFor("staging"));
        checkGolden("production/web.service", prod);
        assert.throws(() => checkGolden("production/web.service", stagingText), /with stack staging -> production substituted/);
        assert.throws(() => checkGolden("production/web.service", prod.replace("Restart=on-failure", "Restart=always")));
        // The substitution covers names and the managed-by line, not a domain: switch.sh (Host header) keeps its own file.
        assert.ok(fs.existsSync(path.join(GOLDEN_DIR, "production/switch.sh")));
    });
    test("every unit a script stops for good is also reset-failed (lib/shell.ts retireUnit): a unit whose stop failed is not left listed once its file is gone", () => {
        const stops: string[] = [];
        for (const rel of filesUnder(...fs.readdirSync(GOLDEN_DIR))) {
            fs.readFileSync(path.join(GOLDEN_DIR, rel), "utf8")
                .split("\n")
                .forEach((line, i) => {
                    if (!/systemctl disable --now/.test(line)) return;
                    stops.push(rel);
                    assert.match(line, /systemctl reset-failed/, `${rel}:${i + 1} disables a unit without reset-failed: ${line.trim()}`);
                });
        }
        // The stacks' units, processes, schedules, backups, alerts, the mesh: all of them have such scripts.
        assert.ok(new Set(stops).size >= 10, `only ${new Set(stops).size} golden files stop units`);
    });
});

describe("managed Postgres (berth:externalData.postgresAdminUrl)", () => {
    const cfg = require("./harness").configFor("staging") as BerthConfig;
    test("the role script is shellcheck-clean and carries no password", () => {
        const admin = role.parseAdminUrl("postgres://doadmin:s3cretAdminPassword@db.example.net:25060/defaultdb?sslmode=require");
        assert.deepEqual({ ...admin, password: "-" }, { host: "db.example.net", port: 25060, user: "doadmin", password: "-", dbname: "defaultdb", sslmode: "require" });
        const text = role.externalRoleScript(cfg, admin);
        expectShellcheckClean("external role", withShebang(text));
        assert.doesNotMatch(text, /s3cretAdminPassword/);
        assert.match(text, /readSecrets|IFS= read -r ROLE_PASSWORD|read -r/);
    });
    test("a bad admin URL is refused naming the key, never the value", () => {
        for (const bad of ["mysql://u:p@h/db", "postgres://h/db", "not a url", "postgres://u:hunter2hunter2@h/db?sslmode=sometimes"]) {
            assert.throws(() => role.parseAdminUrl(bad), (e: Error) => e.message.startsWith("berth:externalData.postgresAdminUrl:") && !e.message.includes("hunter2"), bad);
        }
    });
});

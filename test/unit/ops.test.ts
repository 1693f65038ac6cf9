/**
 * Day-2 operations (cli/main.ts, cli/*): the declared state read off the
 * program under mocks, the drift comparison (each kind of difference can be
 * produced, a clean host gives none), the scripts they run on a host (golden
 * + shellcheck), the command line, the redactor, Pulumi CLI detection, the
 * drift workflow, and maintenance mode on a real nginx (503 with the page,
 * ACME challenges still served, and back).
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { configFor, ROOT, stackConfig, mockPassword } from "./harness";
import { expectGolden, expectShellcheckClean } from "./golden";
import { parseConfig } from "../../lib/config";
import { remote, script, withShebang, writeFile } from "../../lib/shell";
import { webUnitFile, workerUnitFile } from "../../components/app/appUnits";
import * as site from "../../components/web/nginxSite";
import { Declared, declared, filesOf, scriptOf, StdoutSource } from "../../cli/support/declared";
import * as mesh from "../../components/host/meshScripts";
import { compare, declaredUnits } from "../../cli/support/compare";
import { consoleScript, releaseRunAs } from "../../cli/commands/console";
import { execScript } from "../../cli/commands/exec";
import { logsScript } from "../../cli/commands/logs";
import { meshKeyStepOf, meshPublicKeyScript } from "../../cli/support/declaredOnHost";
import { Probe, parseProbe, probeScript } from "../../cli/support/probe";
import { redactor } from "../../cli/support/host";
import { pulumiWorks } from "../../cli/support/source";
import { parseArgs } from "../../cli/main";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ops-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const staging = configFor("staging");
const sc = stackConfig("staging");
const SHA = "a".repeat(40);

/** The generated passwords the harness's mocks would give (a stand-in for the stack's state). */
const RANDOMS = Object.fromEntries(
    ["shop-staging-secret-key-base", "shop-staging-data-postgres-superuser", "shop-staging-data-redis-password", "shop-staging-postgres-role-password"].map((n) => [n, mockPassword(n)]),
);

let declaredCache: Declared | undefined;
async function stagingDeclared(): Promise<Declared> {
    declaredCache ??= await declared(staging, sc.values, new Set(sc.secretKeys), RANDOMS, SHA);
    return declaredCache;
}

describe("the declared state, read off the program", () => {
    test("a writeFile block round-trips through remote(): path, content, mode, owner", () => {
        const tricky = "line with 'quotes' and $VARS\nBERTH_EOF\nlast line without newline";
        for (const sudo of [false, true]) {
            const body = script("changed=0", writeFile("/etc/x/it's.conf", tricky, { mode: "0640", owner: "root:www-data" }));
            const files = filesOf({ name: "t", script: scriptOf(remote(body, { sudo })) });
            assert.equal(files.length, 1);
            assert.equal(files[0].path, "/etc/x/it's.conf");
            assert.equal(files[0].variants[0].content, `${tricky}\n`);
            assert.equal(files[0].variants[0].modeOwner, "640 root:www-data");
        }
    });

    test("every file berth writes is found, with the builders' exact text", async () => {
        const d = await stagingDeclared();
        const byPath = new Map(d.files.map((f) => [f.path, f]));
        const web = byPath.get(`/etc/systemd/system/${staging.names.webUnit}.service`);
        assert.ok(web, [...byPath.keys()].join("\n"));
        assert.equal(web.variants[0].content, webUnitFile(staging));
        assert.equal(web.variants[0].modeOwner, "644 root:root");
        if (staging.release.workerCommand) assert.equal(byPath.get(`/etc/systemd/system/${staging.names.workerUnit}.service`)?.variants[0].content, workerUnitFile(staging));
        assert.equal(byPath.get(site.sitePath(staging, "full"))?.variants[0].content, site.nginxSiteFile(staging, "full"));
        assert.equal(byPath.get(site.sitePath(staging, "challenge"))?.variants[0].content, site.nginxSiteFile(staging, "challenge"));
        assert.ok(byPath.has(`/etc/ssh/sshd_config.d/10-${staging.names.dropIn}.conf`));
        assert.ok(byPath.has("/etc/apt/apt.conf.d/20auto-upgrades"));
        const env = byPath.get(staging.names.envFile);
        assert.ok(env?.secret && env.variants[0].content === undefined, "the env file is compared by digest only");
        assert.equal(env.variants[0].modeOwner, "600 root:root");
        assert.ok(d.secretsKnown);
        assert.deepEqual(d.containers.map((c) => [c.name, c.image]), [
            [staging.names.postgresContainer, staging.postgres.image],
            [staging.names.redisContainer, staging.redis.image],
        ]);
        const names = d.commands.map((c) => c.name);
        assert.ok(names.indexOf("shop-staging-host-packages") < names.indexOf("shop-staging-units-units"), "the program's order");
        assert.equal(names[names.length - 1], "shop-staging-switch-switch", "the switch runs last");
    });

    test("the env file's digest follows the generated secrets; without them it is marked unknown", async () => {
        const d = await stagingDeclared();
        const rotated = await declared(staging, sc.values, new Set(sc.secretKeys), { ...RANDOMS, "shop-staging-data-redis-password": "rotatedrotatedrotated" }, SHA);
        const digest = (x: Declared) => x.files.find((f) => f.path === staging.names.envFile)!.variants[0].sha256;
        assert.notEqual(digest(rotated), digest(d));
        const unknown = await declared(staging, sc.values, new Set(sc.secretKeys), undefined, SHA);
        assert.equal(unknown.secretsKnown, false);
    });
});

/** A probe of a host that runs exactly what `d` declares. */
function cleanProbe(d: Declared, color = "green"): Probe {
    const cfg = staging;
    const rel = `${cfg.names.root}/releases/${SHA}`;
    const files = Object.fromEntries(d.files.map((f) => [f.path, { exists: true, modeOwner: f.variants[0].modeOwner, sha256: f.variants[0].sha256 }]));
    const links = Object.fromEntries(d.files.filter((f) => f.path.startsWith("/etc/nginx/sites-available/")).map((f) => [f.path.replace("/sites-available/", "/sites-enabled/"), f.path]));
    const units = Object.fromEntries(declaredUnits(cfg, d.files, color).map(([u]) => [u, { active: "active", enabled: "enabled" }]));
    const containers = Object.fromEntries(d.containers.map((c) => [c.name, { status: "running", health: "healthy", imageId: "sha256:1", tags: [c.image] }]));
    const notAfter = new Date(Date.now() + 60 * 86_400_000).toUTCString();
    const sshd: Record<string, string> = {};
    for (const line of d.files.find((f) => f.path.startsWith("/etc/ssh/sshd_config.d/"))!.variants[0].content!.split("\n")) {
        const m = /^(\w+) (\S+)$/.exec(line);
        if (m) sshd[m[1].toLowerCase()] = m[2] === "prohibit-password" ? "without-password" : m[2];
    }
    return {
        color,
        revision: SHA,
        current: rel,
        slots: { [color]: rel },
        releases: [],
        units,
        containers,
        certs: Object.fromEntries(cfg.hostnames.map((h) => [h, { notAfter, names: [...cfg.hostnames] }])),
        files,
        links,
        nginxTest: { ok: true, output: "" },
        upstream: { server: `unix:${cfg.names.webSocket}`, target: `${cfg.names.runDir}/${color}.sock` },
        ufw: ["Status: active", "Default: deny (incoming), allow (outgoing), disabled (routed)", "22/tcp                     ALLOW IN    Anywhere", "80/tcp                     ALLOW IN    Anywhere", "443/tcp                    ALLOW IN    Anywhere"],
        sshd,
        maintenance: false,
    };
}

describe("verify: one difference per drifted thing, none on a clean host", () => {
    test("a clean host has no difference", async () => {
        const d = await stagingDeclared();
        assert.deepEqual(compare(staging, d, cleanProbe(d)), []);
    });
    const cases: [string, (p: Probe, d: Declared) => void, RegExp][] = [
        ["hand-edited site", (p) => (p.files[site.sitePath(staging, "full")].sha256 = "0".repeat(64)), /^file \/etc\/nginx\/sites-available\/berth-shop-staging-https\.conf: content differs/],
        ["deleted env file", (p) => (p.files[staging.names.envFile] = { exists: false }), /^file \/etc\/berth\/shop-staging\/app\.env: missing$/],
        ["env file readable by others", (p) => (p.files[staging.names.envFile].modeOwner = "644 root:root"), /app\.env: mode\/owner 644 root:root, declared 600 root:root/],
        ["stopped web instance", (p) => (p.units[`${staging.names.webUnit}green.service`].active = "inactive"), /^unit berth-shop-staging-web@green\.service: inactive, declared active$/],
        ["disabled web instance", (p) => (p.units[`${staging.names.webUnit}green.service`].enabled = "disabled"), /web@green\.service: disabled, declared enabled/],
        ["stopped postgres", (p) => (p.containers[staging.names.postgresContainer].status = "exited"), /^container shop-staging-postgres: exited, declared running$/],
        ["unhealthy redis", (p) => (p.containers[staging.names.redisContainer].health = "unhealthy"), /redis: health unhealthy/],
        ["other image", (p) => (p.containers[staging.names.redisContainer].tags = ["redis:6"]), /redis: image redis:6, declared redis:7\.4\.1/],
        ["nginx -t fails", (p) => (p.nginxTest = { ok: false, output: "emerg" }), /^nginx nginx -t: emerg$/],
        ["upstream on the idle slot", (p) => (p.upstream!.target = `${staging.names.runDir}/blue.sock`), /^nginx upstream: .* not the serving slot green/],
        ["site not enabled", (p) => delete p.links[site.siteLink(staging, "full")], /^nginx \/etc\/nginx\/sites-enabled\/berth-shop-staging-https\.conf: links to nothing/],
        ["current elsewhere", (p) => (p.current = "/tmp/x"), /^serving current: points at \/tmp\/x/],
        ["certificate expiring", (p) => (p.certs[staging.domain].notAfter = new Date(Date.now() + 10 * 86_400_000).toUTCString()), /^certificate staging\.shop\.example\.com: expires .* \(\d+ days; needs more than 21\)/],
        ["certificate without the name", (p) => (p.certs[staging.domain].names = ["other.example.com"]), /not among the served certificate's names/],
        ["firewall off", (p) => (p.ufw[0] = "Status: inactive"), /^firewall ufw: not active/],
        ["https not allowed", (p) => (p.ufw = p.ufw.filter((l) => !l.startsWith("443/tcp"))), /^firewall 443\/tcp: declared allowed/],
        ["password logins on", (p) => (p.sshd.passwordauthentication = "yes"), /^ssh passwordauthentication: sshd runs with yes, declared no$/],
    ];
    for (const [name, mutate, expected] of cases) {
        test(name, async () => {
            const d = await stagingDeclared();
            const p = cleanProbe(d);
            mutate(p, d);
            const diffs = compare(staging, d, p).map((x) => `${x.kind} ${x.subject}: ${x.message}`);
            assert.equal(diffs.length, 1, diffs.join("\n"));
            assert.match(diffs[0], expected);
        });
    }
    test("without the generated secrets the env file is held against the serving release's stamp", async () => {
        const d = await declared(staging, sc.values, new Set(sc.secretKeys), undefined, SHA);
        const p = cleanProbe(d);
        p.files[staging.names.envFile].sha256 = "b".repeat(64);
        p.stamp = `${SHA} env:${"b".repeat(16)} units:${"c".repeat(16)}`;
        assert.deepEqual(compare(staging, d, p), []);
        p.stamp = `${SHA} env:${"d".repeat(16)} units:${"c".repeat(16)}`;
        assert.match(compare(staging, d, p).map((x) => x.message).join(), /differs from the one the serving release started with/);
    });
    test("a proxied stack's sites are declared with the Cloudflare ranges the host's site carries, and only with them", async () => {
        const production = configFor("production");
        const pc = stackConfig("production");
        assert.ok(production.dns.proxied, "the production example is proxied");
        const ranges = ["198.51.100.0/24", "2001:db8:cf::/48"];
        const d = await declared(production, pc.values, new Set(pc.secretKeys), undefined, SHA, ranges);
        const https = d.files.find((f) => f.path === site.sitePath(production, "full"));
        assert.ok(https, "the HTTPS site is declared");
        const text = https.variants[0].content ?? "";
        assert.match(text, /set_real_ip_from 198\.51\.100\.0\/24;/);
        assert.match(text, /set_real_ip_from 2001:db8:cf::\/48;/);
        assert.match(text, /real_ip_header CF-Connecting-IP;/);
        await assert.rejects(declared(production, pc.values, new Set(pc.secretKeys), undefined, SHA), /proxied stack's declared sites need Cloudflare's IP ranges/);
    });
    test("the probe's records parse back", () => {
        const p = parseProbe(["S\tcolor\tblue", `S\trevision\t${SHA}`, "S\tmaintenance\ton", `L\t/srv/x/slots/blue\t/srv/x/releases/${SHA}`, `R\t${SHA}\t1700000000\t1\t0`, "U\tnginx.service\tactive\tenabled", "C\tpg\trunning\thealthy\tsha256:1\tpostgres:16.4 pg:latest", "X\ta.example.com\tJan  1 00:00:00 2030 GMT\tDNS:a.example.com,DNS:b.example.com", "F\t/etc/a\t644 root:root\tabc", "F\t/etc/b\tmissing", "N\tupstream\tunix:/srv/x/web.sock\t/run/x/blue.sock", "H\tpermitrootlogin without-password"].join("\n"));
        assert.equal(p.color, "blue");
        assert.equal(p.maintenance, true);
        assert.equal(p.slots.blue, `/srv/x/releases/${SHA}`);
        assert.deepEqual(p.releases, [{ sha: SHA, builtAt: 1700000000, built: true, released: false }]);
        assert.deepEqual(p.containers.pg.tags, ["postgres:16.4", "pg:latest"]);
        assert.deepEqual(p.certs["a.example.com"].names, ["a.example.com", "b.example.com"]);
        assert.deepEqual(p.files["/etc/b"], { exists: false });
        assert.equal(p.sshd.permitrootlogin, "without-password");
    });
});

describe("the scripts operations run on a host", () => {
    const texts: Record<string, string> = {
        "probe.sh": probeScript(staging, { files: ["/etc/a b"], maskedFiles: ["/etc/wireguard/bm-0.conf"], links: ["/etc/nginx/sites-enabled/x"], units: ["nginx.service"], containers: ["c"], hostSettings: true }),
        "mesh-public-key.sh": meshPublicKeyScript(configFor("fleet", {}, "examples/Pulumi.fleet.yaml")),
        "logs-web.sh": logsScript(staging, "web", 100, true),
        "logs-nginx.sh": logsScript(staging, "nginx", 50, false),
        "logs-postgres.sh": logsScript(staging, "postgres", 20, false),
        "console.sh": consoleScript(staging, { tty: false }),
        "console-tty.sh": consoleScript(staging, { tty: true }),
        "exec.sh": execScript(staging, ["bin/rails", "runner", "puts 1"]),
    };
    for (const [file, text] of Object.entries(texts)) {
        test(file, () => {
            expectGolden(`ops/${file}`, text);
            expectShellcheckClean(`ops/${file}`, withShebang(text));
        });
    }
    test("console and exec run as the app user with the env file, in the current release", () => {
        const line = releaseRunAs(staging, "exec", "true", false);
        assert.match(line, /-p User=berth-shop-staging|User=shop-staging/);
        assert.ok(line.includes(`EnvironmentFile=${staging.names.envFile}`));
        assert.ok(line.includes(`WorkingDirectory=${staging.names.root}/current`));
        assert.ok(releaseRunAs(staging, "console", "true", true).includes(" --pipe --pty "));
    });
    test("logs of a worker the stack does not have is an error", () => {
        const noWorker = configFor("staging", { "berth:workerCommand": "" });
        assert.throws(() => logsScript(noWorker, "worker", 10, false), /no worker/);
    });
});

describe("the command line", () => {
    test("options anywhere, the command of exec kept whole", () => {
        assert.deepEqual(parseArgs(["logs", "-f", "nginx", "-s", "dev", "-n", "5"]), { op: "logs", args: ["nginx"], opts: { follow: true, stack: "dev", lines: 5 } });
        assert.deepEqual(parseArgs(["-s", "dev", "exec", "--", "ls", "-la", "--json"]).args, ["ls", "-la", "--json"]);
        assert.deepEqual(parseArgs(["--config", "c.json", "exec", "echo $HOME", "-x"]).args, ["echo $HOME", "-x"]);
        assert.throws(() => parseArgs(["status", "--bogus"]), /unknown option --bogus/);
        assert.throws(() => parseArgs(["logs", "-n", "zero"]), /positive integer/);
    });
    test("npx berth runs the one CLI through scripts/berth", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        assert.equal(pkg.bin.berth, "scripts/berth");
        const r = spawnSync(path.join(ROOT, "scripts", "berth"), ["help"], { cwd: os.tmpdir(), encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^usage: berth <op>/);
        const bad = spawnSync(path.join(ROOT, "scripts", "berth"), ["frobnicate", "-s", "dev"], { encoding: "utf8" });
        assert.equal(bad.status, 64);
        assert.match(bad.stderr, /unknown operation "frobnicate"/);
    });
    test("redaction: every secret value and each long line of a key", () => {
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAbbbbCCCCddddEEEE1234\n-----END OPENSSH PRIVATE KEY-----";
        const r = redactor(["s3cretvalue99", key, "short"]);
        assert.equal(r("a s3cretvalue99 b"), "a [secret] b");
        assert.equal(r("x AAAAbbbbCCCCddddEEEE1234 y"), "x [secret] y");
        assert.equal(r("short stays"), "short stays", "too short to be a secret worth redacting");
    });
    test("a Pulumi CLI counts only when `pulumi version` works", () => {
        const bin = path.join(scratch, "bin");
        fs.mkdirSync(bin, { recursive: true });
        const env = (body: string) => {
            fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
            return { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
        };
        assert.equal(pulumiWorks(env("echo 'pulumi: getaddrinfo ENOTFOUND get.pulumi.com' >&2; exit 1")), false, "the npm launcher offline");
        assert.equal(pulumiWorks(env("exit 0")), false, "no version printed");
        assert.equal(pulumiWorks(env("echo v3.265.0")), true);
    });
});

describe("real stacks: the Pulumi CLI as the source", () => {
    test("config from `pulumi config --json --show-secrets`, generated secrets from `pulumi stack export`, converge = commit on main + up", async () => {
        const bin = path.join(scratch, "fake-pulumi");
        fs.mkdirSync(bin, { recursive: true });
        const log = path.join(bin, "calls.log");
        const configJson = Object.fromEntries(Object.entries(sc.values).map(([k, v]) => [k, { value: v, secret: sc.secretKeys.includes(k) }]));
        fs.writeFileSync(path.join(bin, "config.json"), JSON.stringify(configJson));
        fs.writeFileSync(
            path.join(bin, "export.json"),
            JSON.stringify({ deployment: { resources: [{ urn: "urn:pulumi:staging::berth::berth:env:Environment$random:index/randomPassword:RandomPassword::shop-staging-secret-key-base", type: "random:index/randomPassword:RandomPassword", outputs: { result: "skb-from-the-state-0123456789" } }] } }),
        );
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            [
                "#!/bin/sh",
                `echo "$*" >> ${log}`,
                'case "$1 $2" in',
                '  "version ") echo v3.265.0 ;;',
                `  "config --json") cat ${path.join(bin, "config.json")} ;;`,
                `  "stack export") cat ${path.join(bin, "export.json")} ;;`,
                "  *) exit 0 ;;",
                "esac",
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        const oldPath = process.env.PATH;
        process.env.PATH = `${bin}:${oldPath}`;
        try {
            const { openSource } = require("../../cli/support/source") as typeof import("../../cli/support/source");
            const src = openSource({ stack: "staging" });
            assert.equal(src.kind, "pulumi");
            assert.equal(src.config.names.id, "shop-staging");
            assert.equal(src.randoms()?.["shop-staging-secret-key-base"], "skb-from-the-state-0123456789");
            // The converge commits the stack file to main, then runs pulumi up: applied with real git
            // in temp clones in test/unit/desired.test.ts (never in this checkout).
            const plan = src.converger!.describe({ revision: SHA });
            // "was": what this checkout's own stack file says (the user's file, not the example's).
            const was = String(YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8")).config["berth:revision"]);
            assert.match(plan[1], new RegExp(`^git commit -m "berth: rollback staging to ${SHA} \\(was ${was}\\) by .*" -- Pulumi\\.staging\\.yaml$`));
            assert.deepEqual(plan.slice(2), ["git push origin HEAD:main", "pulumi up --stack staging"]);
            const calls = fs.readFileSync(log, "utf8").trim().split("\n");
            assert.ok(calls.includes("config --json --show-secrets --stack staging"));
        } finally {
            process.env.PATH = oldPath;
        }
    });
});

describe("configuration and workflows", () => {
    test("berth:maintenance is a declared boolean, default false; anything else is an error", () => {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        assert.deepEqual({ type: project.config["berth:maintenance"].type, default: project.config["berth:maintenance"].default }, { type: "boolean", default: false });
        assert.equal(staging.maintenance, false);
        assert.equal(configFor("staging", { "berth:maintenance": true }).maintenance, true);
        const bad = parseConfig({ ...sc.values, "berth:maintenance": "yes" }, { project: "berth", stack: "staging", secretKeys: new Set(sc.secretKeys) });
        assert.equal(bad.ok, false);
        assert.match((bad as { errors: string[] }).errors.join("\n"), /berth:maintenance: /);
    });
    test("the drift workflow runs verify for each stack after the preview", () => {
        const w = YAML.parse(fs.readFileSync(path.join(ROOT, ".github", "workflows", "drift.yml"), "utf8"));
        const steps: any[] = w.jobs.drift.steps;
        const v = steps.findIndex((s) => /cli\/main\.ts verify (--all-hosts )?-s "\$STACK"/.test(String(s.run)));
        assert.ok(v > steps.findIndex((s) => s.with?.command === "preview"), "verify after the preview");
        assert.equal(steps[v].env.STACK, "${{ matrix.stack }}");
        assert.match(String(steps[v].if), /!cancelled\(\)/, "verify runs even when the preview found drift");
    });
});

// ---------------------------------------------------------------------------
// Maintenance mode on a real nginx (loopback ports, throwaway paths)
// ---------------------------------------------------------------------------

describe("maintenance mode on a real nginx", () => {
    const on = configFor("staging", { "berth:maintenance": true });
    test("golden: the HTTPS site with maintenance on", () => expectGolden("ops/nginx-site-full-maintenance.conf", site.nginxSiteFile(on, "full")));
    test("the site without maintenance has none of it", () => assert.doesNotMatch(site.nginxSiteFile(staging, "full"), /maintenance/));

    test("503 with the default page, then the release's own page, ACME still served; off: the app again", async () => {
        const d = fs.mkdtempSync(path.join(scratch, "nginx-"));
        const key = path.join(d, "privkey.pem");
        const crt = path.join(d, "fullchain.pem");
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=berth-test", "-days", "2", "-keyout", key, "-out", crt], { stdio: "pipe" });
        const pub = path.join(d, "current", "public");
        const webroot = path.join(d, "webroot");
        fs.mkdirSync(pub, { recursive: true });
        fs.mkdirSync(path.join(webroot, ".well-known", "acme-challenge"), { recursive: true });
        fs.writeFileSync(path.join(webroot, ".well-known", "acme-challenge", "probe"), "probe-token");
        const sock = path.join(d, "web.sock");
        const app = http.createServer((_req, res) => res.end("from the app")).listen(sock);
        const [p80, p443] = [18000 + (process.pid % 1000) * 2, 18001 + (process.pid % 1000) * 2];
        const rewrite = (cfg: typeof staging, text: string) =>
            text
                .replaceAll("listen [::]:80;", "")
                .replaceAll("listen [::]:443 ssl http2;", "")
                .replaceAll("listen 80;", `listen 127.0.0.1:${p80};`)
                .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${p443} ssl;`)
                .replaceAll(`/etc/letsencrypt/live/${cfg.names.certName}/`, `${d}/`)
                .replaceAll(cfg.names.nginxUpstream, path.join(d, "upstream.conf"))
                .replaceAll(`${cfg.names.root}/current/public`, pub)
                .replaceAll(cfg.names.webroot, webroot)
                .replaceAll("/var/log/nginx/", `${d}/`);
        fs.writeFileSync(path.join(d, "upstream.conf"), site.upstreamFile(staging).replace(staging.names.webSocket, sock));
        const start = (cfg: typeof staging) => {
            fs.writeFileSync(path.join(d, "sites.conf"), `${rewrite(cfg, site.nginxSiteFile(cfg, "challenge"))}\n${rewrite(cfg, site.nginxSiteFile(cfg, "full"))}`);
            fs.writeFileSync(
                path.join(d, "nginx.conf"),
                [...(process.getuid?.() === 0 ? ["user root;"] : []), `pid ${d}/nginx.pid;`, "error_log stderr;", "daemon off;", "events {}", "http {", "    include /etc/nginx/mime.types;", `    include ${d}/sites.conf;`, "}", ""].join("\n"),
            );
            const t = spawnSync("nginx", ["-t", "-p", d, "-c", path.join(d, "nginx.conf"), "-e", "stderr"], { encoding: "utf8" });
            const unexpected = `${t.stdout}${t.stderr}`.split("\n").filter((l) => l.trim() && !/syntax is ok|test is successful/.test(l));
            assert.deepEqual(unexpected, [], "nginx -t prints only its two success lines");
            const p = spawn("nginx", ["-p", d, "-c", path.join(d, "nginx.conf"), "-e", "stderr"], { stdio: "ignore" });
            return p;
        };
        const get = (port: number, p: string, tls: boolean) =>
            new Promise<{ status: number; body: string }>((resolve, reject) => {
                const mod = tls ? https : http;
                const req = mod.request({ host: "127.0.0.1", port, path: p, headers: { host: staging.domain }, servername: staging.domain, rejectUnauthorized: false, timeout: 3000, agent: false } as https.RequestOptions, (res) => {
                    let body = "";
                    res.on("data", (c) => (body += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                });
                req.on("error", reject);
                req.end();
            });
        const ready = async () => {
            for (let i = 0; i < 50; i++) {
                try {
                    return await get(p443, "/", true);
                } catch {
                    await new Promise((r) => setTimeout(r, 100));
                }
            }
            throw new Error("nginx did not start");
        };
        let nginx = start(on);
        try {
            await ready();
            for (const p of ["/", "/up", "/assets/app.css", "/.well-known/acme-challenge/probe"]) {
                const r = await get(p443, p, true);
                assert.equal(r.status, 503, p);
                assert.equal(r.body, site.DEFAULT_MAINTENANCE_PAGE, p);
            }
            fs.writeFileSync(path.join(pub, "maintenance.html"), "<p>our own page</p>\n");
            assert.deepEqual(await get(p443, "/anything", true), { status: 503, body: "<p>our own page</p>\n" });
            assert.deepEqual(await get(p80, "/.well-known/acme-challenge/probe", false), { status: 200, body: "probe-token" }, "ACME challenges are served");
            assert.equal((await get(p80, "/", false)).status, 301);
            nginx.kill("SIGQUIT");
            await new Promise((r) => nginx.once("close", r));
            nginx = start(staging);
            await ready();
            assert.deepEqual(await get(p443, "/up", true), { status: 200, body: "from the app" });
        } finally {
            nginx.kill("SIGQUIT");
            await new Promise((r) => nginx.once("close", r));
            app.close();
        }
    });
});

describe("several hosts: operations run on one host (--host)", () => {
    const { pickHost } = require("../../cli/support/stack") as typeof import("../../cli/support/stack");
    const sc = stackConfig("fleet", {}, "examples/Pulumi.fleet.yaml");
    const fleet = configFor("fleet", {}, "examples/Pulumi.fleet.yaml");
    test("--host picks the host; an unknown name lists the stack's hosts; default is the first web host", () => {
        assert.equal(pickHost(fleet, undefined).host.name, "web1");
        assert.equal(pickHost(fleet, "data").host.address, "203.0.113.33");
        assert.throws(() => pickHost(fleet, "web9"), /has no host "web9" \(hosts: web1, web2, data\)/);
        assert.equal(parseArgs(["status", "-s", "fleet", "--host", "web2"]).opts.host, "web2");
    });
    test("verify declares, for a host, only that host's files and containers", async () => {
        const onData = await declared(pickHost(fleet, "data"), sc.values, new Set(sc.secretKeys), undefined, SHA);
        const onWeb2 = await declared(pickHost(fleet, "web2"), sc.values, new Set(sc.secretKeys), undefined, SHA);
        assert.equal(onData.containers.length, 2);
        assert.equal(onWeb2.containers.length, 0);
        assert.ok(onWeb2.files.some((f) => f.path.includes("/etc/nginx/")), "web2 has nginx files");
        assert.ok(!onData.files.some((f) => f.path.includes("/etc/nginx/")), "the data host has none");
        assert.ok(onData.files.some((f) => f.path.includes("data-firewall")), "the data firewall is the data host's");
        assert.ok(!onWeb2.files.some((f) => f.path.includes("data-firewall")));
    });
});

describe("fleets: each host held against what its roles declare; the mesh declared with its hosts' public keys", () => {
    const { pickHost } = require("../../cli/support/stack") as typeof import("../../cli/support/stack");
    const FLEET = "examples/Pulumi.fleet.yaml";
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k";
    // The example's web1 is web + worker; a worker-only host needs its own topology.
    const HOSTS = [
        { name: "web1", address: "203.0.113.31", roles: ["web"], hostKey: KEY },
        { name: "web2", address: "203.0.113.32", roles: ["web"], hostKey: KEY },
        { name: "work", address: "203.0.113.34", roles: ["worker"], hostKey: KEY },
        { name: "data", address: "203.0.113.33", roles: ["data"], hostKey: KEY },
    ];
    const fc = stackConfig("fleet", { "berth:hosts": HOSTS }, FLEET);
    const fleet = configFor("fleet", { "berth:hosts": HOSTS }, FLEET);
    const REV = fleet.release.revision;
    /** The public keys "on the hosts" (any 32 bytes are a WireGuard key). */
    const PUB: Record<string, string> = Object.fromEntries(HOSTS.map((h, i) => [h.address, Buffer.alloc(32, 0x41 + i).toString("base64")]));
    const asked: string[][] = [];
    const onHosts: StdoutSource = (read) => {
        asked.push(read.map((c) => `${c.name}@${c.host}`));
        return Object.fromEntries(read.map((c) => [c.name, `${PUB[c.host]}\n`]));
    };
    const cache = new Map<string, Promise<Declared>>();
    const declaredOn = (host: string) => {
        if (!cache.has(host)) cache.set(host, declared(pickHost(fleet, host), fc.values, new Set(fc.secretKeys), RANDOMS_FLEET, REV, undefined, onHosts));
        return cache.get(host)!;
    };
    const RANDOMS_FLEET = Object.fromEntries(
        ["shop-fleet-secret-key-base", "shop-fleet-data-data-postgres-superuser", "shop-fleet-data-data-redis-password", "shop-fleet-postgres-role-data-password"].map((n) => [n, mockPassword(n)]),
    );
    const mport = fleet.mesh.port;
    /** `ufw status verbose` of a host as ufw prints it: ssh everywhere, http(s) on web hosts, the mesh port from each peer. */
    const ufwOf = (host: string) => {
        const h = HOSTS.find((x) => x.name === host)!;
        const row = (to: string, from: string) => `${to.padEnd(27)}ALLOW IN    ${from}`;
        return [
            "Status: active",
            "Default: deny (incoming), allow (outgoing), disabled (routed)",
            row("22/tcp", "Anywhere"),
            ...(h.roles.includes("web") ? [row("80/tcp", "Anywhere"), row("443/tcp", "Anywhere")] : []),
            ...HOSTS.filter((x) => x !== h).map((x) => `${row(`${mport}/udp`, x.address.padEnd(27))}# berth mesh peer ${x.name}`),
        ];
    };
    /** A probe of a host that runs what `d` declares, as the probe reads each role's host (no nginx on a data host, no slot on a worker host). */
    function hostProbe(host: string, d: Declared): Probe {
        const cfg = pickHost(fleet, host);
        const web = cfg.host.roles.includes("web");
        const app = web || cfg.host.roles.includes("worker");
        const rel = `${cfg.names.root}/releases/${REV}`;
        const sshd: Record<string, string> = {};
        for (const line of d.files.find((f) => f.path.startsWith("/etc/ssh/sshd_config.d/"))!.variants[0].content!.split("\n")) {
            const m = /^(\w+) (\S+)$/.exec(line);
            if (m) sshd[m[1].toLowerCase()] = m[2] === "prohibit-password" ? "without-password" : m[2];
        }
        const notAfter = new Date(Date.now() + 60 * 86_400_000).toUTCString();
        return {
            color: web ? "green" : undefined,
            revision: app ? REV : undefined,
            current: app ? rel : undefined,
            slots: web ? { green: rel } : {},
            releases: [],
            units: Object.fromEntries(declaredUnits(cfg, d.files, web ? "green" : undefined).map(([u]) => [u, { active: "active", enabled: "enabled" }])),
            containers: Object.fromEntries(d.containers.map((c) => [c.name, { status: "running", health: "healthy", imageId: "sha256:1", tags: [c.image] }])),
            certs: web ? Object.fromEntries(cfg.hostnames.map((h) => [h, { notAfter, names: [...cfg.hostnames] }])) : {},
            files: Object.fromEntries(d.files.map((f) => [f.path, { exists: true, modeOwner: f.variants[0].modeOwner, sha256: f.variants[0].sha256 }])),
            links: Object.fromEntries(d.files.filter((f) => f.path.startsWith("/etc/nginx/sites-available/")).map((f) => [f.path.replace("/sites-available/", "/sites-enabled/"), f.path])),
            // What the probe's `nginx -t` reports where there is no nginx.
            nginxTest: web ? { ok: true, output: "" } : { ok: false, output: "bash: line 1: nginx: command not found" },
            upstream: web ? { server: `unix:${cfg.names.webSocket}`, target: `${cfg.names.runDir}/green.sock` } : undefined,
            ufw: ufwOf(host),
            sshd,
            maintenance: false,
        };
    }
    const lines = (cfg: ReturnType<typeof pickHost>, d: Declared, p: Probe) => compare(cfg, d, p).map((x) => `${x.kind} ${x.subject}: ${x.message}`);

    test("the mesh key steps are found as read by the others; declared mesh configs carry the hosts' public keys", async () => {
        const d = await declaredOn("web1");
        assert.deepEqual(d.read.map((c) => `${c.name}@${c.host}`).sort(), HOSTS.map((h) => `shop-fleet-mesh-${h.name}-key@${h.address}`).sort());
        assert.ok(asked.length > 0 && asked.every((a) => a.length === HOSTS.length), "the public keys are asked for, all at once");
        // Each is recognised as its host's mesh key step (verify reads it with `wg pubkey` there); no other command is.
        assert.deepEqual(d.read.map((c) => meshKeyStepOf(fleet, c)?.address), d.read.map((c) => c.host));
        assert.equal(meshKeyStepOf(fleet, { ...d.read[0], name: "shop-fleet-mesh-web9-key" }), undefined, "a key script of another resource is not this one's");
        assert.equal(meshKeyStepOf(fleet, { ...d.read[0], host: "198.51.100.1" }), undefined, "not a host of the stack");
        assert.equal(meshKeyStepOf(fleet, { ...d.commands[0], host: "203.0.113.31" }), undefined);
        const conf = d.files.find((f) => f.path === mesh.meshNames(fleet).conf);
        assert.ok(conf?.masked, "the wg-quick config is declared, its private key line masked");
        const text = conf.variants[0].content!;
        for (const h of HOSTS.filter((x) => x.name !== "web1")) assert.ok(text.includes(`PublicKey = ${PUB[h.address]}\nEndpoint = ${h.address}:${mport}\n`), `${h.name}'s key in web1's config`);
        assert.ok(!text.includes(PUB["203.0.113.31"]), "not its own");
        assert.match(text, new RegExp(`^${mesh.PRIVATE_KEY_PLACEHOLDER}$`, "m"));
        assert.equal(conf.variants[0].modeOwner, "600 root:root");
        const config = d.commands.find((c) => c.name === "shop-fleet-mesh-web1-config")!;
        assert.equal(config.script, mesh.meshConfigScript(pickHost(fleet, "web1"), HOSTS.filter((h) => h.name !== "web1").map((h) => ({ name: h.name, address: h.address, privateAddress: pickHost(fleet, h.name).host.privateAddress!, publicKey: PUB[h.address] })), "shop-fleet-mesh-web1"));
    });

    test("repair's commands on every host of a mesh stack: none is the step that fails for lack of a key (without the keys, the config step is)", async () => {
        for (const h of HOSTS) {
            const d = await declaredOn(h.name);
            assert.ok(d.commands.some((c) => c.name === `shop-fleet-mesh-${h.name}-config`), h.name);
            for (const c of d.commands) assert.doesNotMatch(c.script, /printed no WireGuard public key|exit 1\n?$/, `${h.name}: ${c.name}`);
        }
        const blind = await declared(pickHost(fleet, "web2"), fc.values, new Set(fc.secretKeys), RANDOMS_FLEET, REV);
        assert.match(blind.commands.find((c) => c.name === "shop-fleet-mesh-web2-config")!.script, /printed no WireGuard public key/);
    });

    test("units per role: nginx on web hosts only, Docker on the data host only", async () => {
        const units = async (h: string) => declaredUnits(pickHost(fleet, h), (await declaredOn(h)).files, "green").map(([u]) => u);
        const [web2, work, data] = [await units("web2"), await units("work"), await units("data")];
        assert.ok(web2.includes("nginx.service") && !web2.includes("docker.service"), web2.join(" "));
        assert.ok(!work.includes("nginx.service") && !work.includes("docker.service") && work.includes(`${fleet.names.workerUnit}.service`), work.join(" "));
        assert.ok(data.includes("docker.service") && !data.includes("nginx.service"), data.join(" "));
    });

    const edits: [string, (p: Probe, d: Declared, cfg: ReturnType<typeof pickHost>) => void, RegExp][] = [
        ["web2", (p, _d, cfg) => (p.files[site.sitePath(cfg, "full")].sha256 = "0".repeat(64)), /^file \/etc\/nginx\/sites-available\/berth-shop-fleet-https\.conf: content differs/],
        ["web2", (p) => (p.files[mesh.meshNames(fleet).conf].sha256 = "0".repeat(64)), /^file \/etc\/wireguard\/bm-[0-9a-f]{8}\.conf: content differs/],
        ["work", (p, _d, cfg) => (p.units[`${cfg.names.workerUnit}.service`].active = "failed"), /^unit berth-shop-fleet-worker\.service: failed, declared active$/],
        ["work", (p) => (p.current = "/tmp/x"), /^serving current: points at \/tmp\/x/],
        ["data", (p, _d, cfg) => (p.containers[cfg.names.postgresContainer].status = "exited"), /^container shop-fleet-postgres: exited, declared running$/],
        ["data", (p) => (p.units["docker.service"].active = "inactive"), /^unit docker\.service: inactive, declared active$/],
        ["data", (p) => (p.ufw = p.ufw.filter((l) => !l.includes("203.0.113.32"))), new RegExp(`^firewall ${mport}/udp from 203\\.0\\.113\\.32: declared allowed, no ALLOW IN rule$`)],
    ];
    for (const host of ["web2", "work", "data"]) {
        test(`${host}: a host that runs what its roles declare has no difference`, async () => {
            const d = await declaredOn(host);
            assert.deepEqual(lines(pickHost(fleet, host), d, hostProbe(host, d)), []);
        });
    }
    for (const [host, edit, expected] of edits) {
        test(`${host}: one hand edit, exactly that difference (${expected.source.slice(1, 40)})`, async () => {
            const cfg = pickHost(fleet, host);
            const d = await declaredOn(host);
            const p = hostProbe(host, d);
            edit(p, d, cfg);
            const diffs = lines(cfg, d, p);
            assert.equal(diffs.length, 1, diffs.join("\n"));
            assert.match(diffs[0], expected);
        });
    }
    test("a data host's probe reads no certificate; a web host's does", () => {
        assert.match(probeScript(pickHost(fleet, "data"), { files: [], links: [], units: [], containers: [], hostSettings: false }), /^names=\(\)$/m);
        assert.match(probeScript(pickHost(fleet, "web2"), { files: [], links: [], units: [], containers: [], hostSettings: false }), /^names=\(shop\.example\.com/m);
    });
    test("the masked file's digest, computed by the probe with real bash and sed, is the declared one; the private key never is in the probe's output", async () => {
        const d = await declaredOn("web2");
        const conf = d.files.find((f) => f.masked)!;
        const priv = Buffer.alloc(32, 7).toString("base64");
        const file = path.join(scratch, "bm.conf");
        fs.writeFileSync(file, conf.variants[0].content!.replace(mesh.PRIVATE_KEY_PLACEHOLDER, `PrivateKey = ${priv}`), { mode: 0o600 });
        const out = execFileSync("bash", ["-c", probeScript(pickHost(fleet, "data"), { files: [], maskedFiles: [file], links: [], units: [], containers: [], hostSettings: false })], { encoding: "utf8" });
        assert.ok(!out.includes(priv));
        assert.equal(parseProbe(out).files[file].sha256, conf.variants[0].sha256);
        fs.appendFileSync(file, "# hand edit\n");
        const edited = execFileSync("bash", ["-c", probeScript(pickHost(fleet, "data"), { files: [], maskedFiles: [file], links: [], units: [], containers: [], hostSettings: false })], { encoding: "utf8" });
        assert.notEqual(parseProbe(edited).files[file].sha256, conf.variants[0].sha256);
    });
    test("--all-hosts is an option of verify and repair", () => {
        assert.equal(parseArgs(["verify", "--all-hosts", "-s", "fleet"]).opts.allHosts, true);
        assert.equal(parseArgs(["repair", "-s", "fleet", "--all-hosts", "--dry-run"]).opts.allHosts, true);
    });
});

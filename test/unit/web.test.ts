/**
 * App units, nginx site and certificate, for both stacks' real configs and
 * both presets: golden text, clean shellcheck, and the real tools the host
 * uses — `nginx -t` for every site, `systemd-analyze verify` for every unit
 * (failing on any line it prints), systemd's own EnvironmentFile parser for
 * the env file — plus negative cases proving each check can fail.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { withShebang } from "../../lib/shell";
import * as units from "../../components/app/appUnits";
import * as site from "../../components/web/nginxSite";
import * as host from "../../components/host/host";
import { NGINX_HARDENING_DROPIN } from "../../lib/names";
import * as cert from "../../components/web/certificate";
import { PROXY_HEADERS, probeHeaders } from "../../lib/proxy";
import { filesOf, scriptOf } from "../../cli/support/declared";
import { expectGolden, expectShellcheckClean } from "./golden";
import { MOCK_CLOUDFLARE_RANGES, byType, configFor, runProgram, stackConfig } from "./harness";

/** A fake PEM bundle: only its shape matters to the config and the scripts. */
const FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIBberthTestPrivateAcmeCaNotARealCertificate0123456789abcdefABCDEF\n-----END CERTIFICATE-----\n";

/** Generic preset with commands that exercise systemd escaping, and a private ACME CA. */
const GENERIC = {
    "berth:preset": "generic",
    "berth:webCommand": "/usr/local/bin/app serve --port $PORT",
    "berth:workerCommand": `/usr/local/bin/app work --label "100% done" --home '$HOME' --note "it's a \\"quote\\", a \\\\ and \${PORT}"`,
    "berth:acme": { email: "ops@shop.example.com", server: "https://acme.internal.example:14000/dir", caBundle: FAKE_CA },
};

interface Variant {
    dir: string;
    cfg: BerthConfig;
}

const VARIANTS: Variant[] = [
    { dir: "staging", cfg: configFor("staging") },
    { dir: "production", cfg: configFor("production") },
    { dir: "staging/generic", cfg: configFor("staging", GENERIC) },
    { dir: "production/generic", cfg: configFor("production", GENERIC) },
    // berth:webSocket: proxy (lib/units/webSocket.ts; staging's is activation, the Rails default): only the web unit, the socket and units.sh differ.
    { dir: "staging/proxy", cfg: configFor("staging", { "berth:webSocket": "proxy" }) },
];

/** A representative merged environment (not secrets: test values). */
const SAMPLE_ENV: Record<string, string> = {
    RAILS_ENV: "production",
    DATABASE_URL: "postgres://shop_staging:pw@127.0.0.1:20002/shop_staging",
    REDIS_URL: "redis://:pw@127.0.0.1:20003/0",
    SECRET_KEY_BASE: "0123456789abcdef",
    APP_HOST: "staging.shop.example.com",
    GREETING: `say "hi" to $USER & \`whoami\` \\o/ #1`,
};

/** The mocked Cloudflare ranges (test/unit/harness.ts), as the environment hands them to the site. */
const CF_RANGES = [...MOCK_CLOUDFLARE_RANGES.ipv4Cidrs, ...MOCK_CLOUDFLARE_RANGES.ipv6Cidrs];

/** What the program gives the site of a stack: Cloudflare's ranges when proxied (production), else nothing. */
function rangesOf(cfg: BerthConfig): string[] | undefined {
    return cfg.dns.proxied ? CF_RANGES : undefined;
}

function scriptsOf(cfg: BerthConfig): Record<string, string> {
    const ranges = rangesOf(cfg);
    return {
        "env-file.sh": units.envFileScript(cfg),
        "env-file-delete.sh": units.envFileDeleteScript(cfg),
        "units.sh": units.unitsScript(cfg),
        "units-delete.sh": units.unitsDeleteScript(cfg),
        "nginx-site-challenge.sh": site.siteScript(cfg, "challenge", ranges),
        "nginx-site-challenge-delete.sh": site.siteDeleteScript(cfg, "challenge"),
        "nginx-site-full.sh": site.siteScript(cfg, "full", ranges),
        "nginx-site-full-delete.sh": site.siteDeleteScript(cfg, "full"),
        "certificate.sh": cert.certificateScript(cfg),
        "certificate-delete.sh": cert.certificateDeleteScript(cfg),
    };
}

function textsOf(cfg: BerthConfig): Record<string, string> {
    const out: Record<string, string> = {
        "web.service": units.webUnitFile(cfg),
        "nginx-site-challenge.conf": site.nginxSiteFile(cfg, "challenge", rangesOf(cfg)),
        "nginx-site-full.conf": site.nginxSiteFile(cfg, "full", rangesOf(cfg)),
        "nginx-upstream.conf": site.upstreamFile(cfg),
        "proxy.socket": units.proxySocketFile(cfg),
        "proxy.service": units.proxyServiceFile(cfg),
        "app.env": units.envFileContent(cfg, SAMPLE_ENV),
    };
    if (cfg.release.workerCommand) out["worker.service"] = units.workerUnitFile(cfg);
    if (cfg.acme.caBundle) out["certbot-dropin.conf"] = cert.certbotDropIn(cfg);
    return out;
}

// ---------------------------------------------------------------------------
// Real-tool checkers
// ---------------------------------------------------------------------------

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-web-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let tmpCount = 0;
function tmpDir(label: string): string {
    const d = path.join(scratch, `${label}-${++tmpCount}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
}

/** Throwaway self-signed key pair nginx -t loads in place of the Let's Encrypt files. */
let selfSigned: { cert: string; key: string };
before(() => {
    const d = tmpDir("selfsigned");
    const key = path.join(d, "privkey.pem");
    const crt = path.join(d, "fullchain.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=berth-test", "-days", "2", "-keyout", key, "-out", crt], { stdio: "pipe" });
    selfSigned = { cert: crt, key };
});

interface ToolResult {
    ok: boolean;
    status: number | null;
    output: string;
}

/**
 * `nginx -t` on an nginx.conf that includes the given site texts, after
 * pointing the host paths (certificates, upstream include, logs) at
 * throwaway copies. Fails on anything but the two success lines, so
 * warnings (exit status 0) fail too.
 */
function nginxTest(sites: { cfg: BerthConfig; text: string }[]): ToolResult {
    const d = tmpDir("nginx");
    fs.mkdirSync(path.join(d, "log"));
    const includes: string[] = [];
    sites.forEach(({ cfg, text }, i) => {
        const live = path.join(d, "live", cfg.names.certName);
        fs.mkdirSync(live, { recursive: true });
        fs.copyFileSync(selfSigned.cert, path.join(live, "fullchain.pem"));
        fs.copyFileSync(selfSigned.key, path.join(live, "privkey.pem"));
        const upstream = path.join(d, `${cfg.names.id}-upstream.conf`);
        fs.writeFileSync(upstream, site.upstreamFile(cfg));
        const rewritten = text
            .replaceAll("/etc/letsencrypt/live/", `${d}/live/`)
            .replaceAll(cfg.names.nginxUpstream, upstream)
            .replaceAll("/var/log/nginx/", `${d}/log/`);
        assert.doesNotMatch(rewritten, /\/etc\/|\/var\/log\//, "the site references a host path the test did not redirect");
        const file = path.join(d, `site-${i}.conf`);
        fs.writeFileSync(file, rewritten);
        includes.push(`    include ${file};`);
    });
    const conf = path.join(d, "nginx.conf");
    fs.writeFileSync(
        conf,
        [`pid ${d}/nginx.pid;`, "error_log stderr;", "events {}", "http {", "    include /etc/nginx/mime.types;", ...includes, "}", ""].join("\n"),
    );
    const r = spawnSync("nginx", ["-t", "-p", d, "-c", conf, "-e", "stderr"], { encoding: "utf8" });
    if (r.error) throw new Error(`nginx could not run (${r.error.message}); install it: apt-get install nginx`);
    const output = `${r.stdout}${r.stderr}`;
    const unexpected = output
        .split("\n")
        .filter((l) => l.trim() !== "")
        .filter((l) => !/^nginx: (the configuration file .* syntax is ok|configuration file .* test is successful)$/.test(l));
    return { ok: r.status === 0 && unexpected.length === 0, status: r.status, output };
}

/**
 * `systemd-analyze verify` on copies of unit files in a temp dir (a template
 * is verified through an instance name). It exits 0 on unknown keys and
 * other ignored settings, so any printed line is a failure.
 */
function systemdVerify(files: Record<string, string>, target: string): ToolResult {
    const d = tmpDir("units");
    for (const [name, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
        fs.writeFileSync(path.join(d, name), text);
    }
    // recursive-errors=no: report this unit only, not the host's own
    // dependencies (network-online.target, docker.service, ...).
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", "--recursive-errors=no", path.join(d, target)], { encoding: "utf8" });
    if (r.error) throw new Error(`systemd-analyze could not run (${r.error.message}); install systemd`);
    const output = `${r.stdout}${r.stderr}`;
    return { ok: r.status === 0 && output.trim() === "", status: r.status, output };
}

/** `systemd-analyze security --offline=yes` exposure of a unit (a template through its file, as systemd scores it). */
function securityScore(files: Record<string, string>, target: string): number {
    const d = tmpDir("security");
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
    const file = path.join(d, target.replace(/@[^.]+\./, "@."));
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", file], { encoding: "utf8" });
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`);
    if (!m) throw new Error(`systemd-analyze security printed no score for ${target}:\n${r.stdout}${r.stderr}`);
    return Number(m[1]);
}

function expectOk(label: string, r: ToolResult): void {
    assert.ok(r.ok, `${label} (exit ${r.status}):\n${r.output}`);
}

/** Unit files of a config, named as installed; the web template is checked as instance blue. */
function unitFiles(cfg: BerthConfig): { files: Record<string, string>; targets: string[] } {
    const files: Record<string, string> = {
        [`${cfg.names.webUnit}.service`]: units.webUnitFile(cfg),
        [`${cfg.names.proxyUnit}.socket`]: units.proxySocketFile(cfg),
        [`${cfg.names.proxyUnit}.service`]: units.proxyServiceFile(cfg),
    };
    const targets = [`${cfg.names.webUnit}blue.service`, `${cfg.names.proxyUnit}blue.socket`, `${cfg.names.proxyUnit}blue.service`];
    if (cfg.release.workerCommand) {
        files[`${cfg.names.workerUnit}.service`] = units.workerUnitFile(cfg);
        targets.push(`${cfg.names.workerUnit}.service`);
    }
    return { files, targets };
}

// ---------------------------------------------------------------------------
// Golden text, shellcheck, real tools, per variant
// ---------------------------------------------------------------------------

for (const { dir, cfg } of VARIANTS) {
    describe(`${dir}: app units, nginx site, certificate`, () => {
        for (const [file, text] of Object.entries(scriptsOf(cfg))) {
            test(file, () => {
                expectGolden(`${dir}/${file}`, text);
                expectShellcheckClean(`${dir}/${file}`, withShebang(text));
            });
        }
        for (const [file, text] of Object.entries(textsOf(cfg))) {
            test(file, () => expectGolden(`${dir}/${file}`, text));
        }
        test("nginx -t accepts the challenge site alone (before the certificate)", () => {
            expectOk("nginx -t", nginxTest([{ cfg, text: site.nginxSiteFile(cfg, "challenge", rangesOf(cfg)) }]));
        });
        test("nginx -t accepts the challenge and full sites together", () => {
            expectOk(
                "nginx -t",
                nginxTest([
                    { cfg, text: site.nginxSiteFile(cfg, "challenge", rangesOf(cfg)) },
                    { cfg, text: site.nginxSiteFile(cfg, "full", rangesOf(cfg)) },
                ]),
            );
        });
        test("systemd-analyze verify prints nothing for every unit", () => {
            const { files, targets } = unitFiles(cfg);
            for (const t of targets) expectOk(`systemd-analyze verify ${t}`, systemdVerify(files, t));
        });
        test("systemd-analyze security scores every service unit at most 2.0", () => {
            const { files, targets } = unitFiles(cfg);
            for (const t of targets.filter((x) => x.endsWith(".service"))) {
                const score = securityScore(files, t);
                assert.ok(score <= 2.0, `${t}: exposure ${score} > 2.0`);
            }
        });
        if (cfg.acme.caBundle) {
            test("systemd-analyze verify prints nothing for certbot.service with the drop-in", () => {
                const files = {
                    "certbot.service": "[Unit]\nDescription=stand-in for Debian's certbot.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
                    [`certbot.service.d/${cfg.names.dropIn}.conf`]: cert.certbotDropIn(cfg),
                };
                expectOk("systemd-analyze verify certbot.service", systemdVerify(files, "certbot.service"));
            });
        }
    });
}

describe("nginx hardening drop-in", () => {
    // Debian's own nginx.service (installed with nginx by scripts/ensure.sh test), scored offline.
    const debianUnit = "/lib/systemd/system/nginx.service";
    const score = (withDropIn: boolean) => {
        const root = tmpDir("nginx-root");
        fs.mkdirSync(path.join(root, "usr/lib/systemd/system"), { recursive: true });
        fs.copyFileSync(debianUnit, path.join(root, "usr/lib/systemd/system/nginx.service"));
        if (withDropIn) {
            fs.mkdirSync(path.join(root, path.dirname(NGINX_HARDENING_DROPIN)), { recursive: true });
            fs.writeFileSync(path.join(root, NGINX_HARDENING_DROPIN), host.nginxHardeningDropIn());
        }
        const r = spawnSync("systemd-analyze", ["security", "--offline=yes", `--root=${root}`, "--no-pager", "nginx.service"], { encoding: "utf8" });
        const m = /Overall exposure level for nginx\.service: (\d+\.\d+)/.exec(`${r.stdout}${r.stderr}`);
        assert.ok(m, `${r.stdout}${r.stderr}`);
        return Number(m[1]);
    };
    test("brings systemd-analyze security of Debian's nginx.service well below its 9.6", { skip: !fs.existsSync(debianUnit) && "nginx is not installed" }, () => {
        const before = score(false);
        const after = score(true);
        assert.ok(before >= 9, `without the drop-in: ${before}`);
        assert.ok(after <= 3.5, `with the drop-in: ${after}`);
    });
    test("the drop-in and server_tokens file carry no stack name (every stack writes the same text)", () => {
        assert.doesNotMatch(host.nginxHardeningDropIn() + host.nginxHardeningConf(), /staging|production|project/);
        assert.match(host.nginxHardeningConf(), /^server_tokens off;$/m);
    });
});

describe("both stacks on one host", () => {
    const [staging, production] = VARIANTS.map((v) => v.cfg);
    test("nginx -t accepts staging and production sites side by side (no clashing upstream, zone or map names)", () => {
        expectOk(
            "nginx -t",
            nginxTest([staging, production].flatMap((cfg) => [
                { cfg, text: site.nginxSiteFile(cfg, "challenge", rangesOf(cfg)) },
                { cfg, text: site.nginxSiteFile(cfg, "full", rangesOf(cfg)) },
            ])),
        );
    });
    test("every on-host name differs", () => {
        for (const f of [site.sitePath, site.siteLink]) {
            for (const phase of ["challenge", "full"] as const) assert.notEqual(f(staging, phase), f(production, phase));
        }
        assert.notEqual(units.webUnitPath(staging), units.webUnitPath(production));
        assert.notEqual(cert.certbotDropInPath(staging), cert.certbotDropInPath(production));
        assert.notEqual(site.nginxIdent(staging), site.nginxIdent(production));
    });
});

// ---------------------------------------------------------------------------
// The checkers can fail
// ---------------------------------------------------------------------------

describe("the real-tool checks reject broken input", () => {
    const cfg = VARIANTS[0].cfg;
    test("nginx -t rejects a site with an unknown directive", () => {
        const broken = site.nginxSiteFile(cfg, "full").replace("    gzip on;", "    gzip on;\n    gzip_bogus_directive on;");
        const r = nginxTest([{ cfg, text: broken }]);
        assert.equal(r.ok, false);
        assert.match(r.output, /unknown directive "gzip_bogus_directive"/);
    });
    test("the nginx check fails on a warning even though nginx -t exits 0", () => {
        const text = site.nginxSiteFile(cfg, "challenge");
        const r = nginxTest([{ cfg, text }, { cfg, text }]);
        assert.equal(r.status, 0);
        assert.equal(r.ok, false);
        assert.match(r.output, /conflicting server name/);
    });
    test("systemd-analyze verify output about a misspelled key fails the unit check", () => {
        const files = { [`${cfg.names.webUnit}.service`]: units.webUnitFile(cfg).replace("RestartSec=2", "RestartSecs=2") };
        const r = systemdVerify(files, `${cfg.names.webUnit}blue.service`);
        assert.equal(r.ok, false);
        assert.match(r.output, /Unknown key 'RestartSecs'/);
    });
    test("a misspelled key in the certbot drop-in fails the check (the drop-in is really read)", () => {
        const generic = VARIANTS[2].cfg;
        const files = {
            "certbot.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
            [`certbot.service.d/${generic.names.dropIn}.conf`]: cert.certbotDropIn(generic).replace("Environment=", "Enviroment="),
        };
        const r = systemdVerify(files, "certbot.service");
        assert.equal(r.ok, false);
        assert.match(r.output, /Unknown key 'Enviroment'/);
    });
    test("systemd-analyze verify warns about a naively quoted ExecStart", () => {
        const files = { [`${cfg.names.webUnit}.service`]: units.webUnitFile(cfg).replace(/^ExecStart=.*$/m, "ExecStart=/bin/sh -c 'exec app \\d 100%n'") };
        const r = systemdVerify(files, `${cfg.names.webUnit}blue.service`);
        assert.equal(r.ok, false);
        assert.match(r.output, /unknown escape sequences/i);
    });
});

// ---------------------------------------------------------------------------
// Env file: systemd's EnvironmentFile= rules
// ---------------------------------------------------------------------------

/** Values that break naive quoting, per systemd.exec(5) and POSIX shell rules. */
const TRICKY: Record<string, string> = {
    DOUBLE_QUOTES: 'say "hello"',
    SINGLE_QUOTES: "it's 'quoted'",
    BACKSLASHES: "C:\\path\\to\\n\\t \\\\ end\\",
    DOLLARS: "$HOME ${PATH} $$ $1 $(id) cost: $5",
    BACKTICKS: "`id` and `uname -a`",
    SPACES: "  leading and trailing  ",
    HASH: "#not-a-comment # nor this",
    SEMICOLON: ";not-a-comment either",
    EQUALS: "a=b=c",
    PERCENT: "100% %i %n %%",
    TABS: "a\tb\t",
    EMPTY: "",
    UNICODE: "grüße → 日本語 ✓",
    URL: "postgres://user:p%40ss@127.0.0.1:5432/db?sslmode=disable&x=1",
    BRACES_AND_STARS: "{a,b} * ? [x] ~root !bang",
    LINE_CONTINUATION_LOOKALIKE: "ends with backslash \\",
};

/** Finds libsystemd-shared through the systemd-analyze binary (its real parser lives there). */
function libsystemdShared(): string {
    const bin = execFileSync("bash", ["-c", "command -v systemd-analyze"], { encoding: "utf8" }).trim();
    const ldd = execFileSync("ldd", [bin], { encoding: "utf8" });
    const m = /(\S*libsystemd-shared-[^\s]*\.so)\s+=>\s+(\S+)/.exec(ldd);
    if (!m) throw new Error(`libsystemd-shared not found in ldd ${bin}:\n${ldd}`);
    return m[2];
}

/**
 * Parses an env file with systemd's own load_env_file() (the function PID 1
 * uses for EnvironmentFile=), called from python3 through ctypes.
 */
function systemdLoadEnvFile(file: string): Record<string, string> {
    const py = [
        "import ctypes, json, sys",
        "lib = ctypes.CDLL(sys.argv[1])",
        "ret = ctypes.POINTER(ctypes.c_char_p)()",
        "r = lib.load_env_file(None, sys.argv[2].encode(), ctypes.byref(ret))",
        "assert r == 0, r",
        "out = []",
        "i = 0",
        "while ret and ret[i] is not None:",
        "    out.append(ret[i].decode('utf-8'))",
        "    i += 1",
        "print(json.dumps(out))",
    ].join("\n");
    const r = spawnSync("python3", ["-c", py, libsystemdShared(), file], { encoding: "utf8" });
    if (r.error) throw new Error(`python3 could not run (${r.error.message})`);
    assert.equal(r.status, 0, r.stderr);
    const entries = JSON.parse(r.stdout) as string[];
    return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** What bash sees with `set -a; . file` (the file is also valid shell). */
function bashSourceEnvFile(file: string, keys: string[]): Record<string, string> {
    const r = spawnSync(
        "env",
        ["-i", "/bin/bash", "--noprofile", "--norc", "-c", 'set -a; . "$1"; shift; for k in "$@"; do printf "%s=%s\\0" "$k" "${!k}"; done', "_", file, ...keys],
        { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return Object.fromEntries(
        r.stdout
            .split("\0")
            .filter((e) => e !== "")
            .map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
    );
}

describe("env file", () => {
    const cfg = VARIANTS[0].cfg;
    const file = path.join(tmpDir("env"), "app.env");
    const content = units.envFileContent(cfg, TRICKY);
    fs.writeFileSync(file, content);

    test("systemd's own parser (load_env_file) reads back every tricky value exactly", () => {
        assert.deepEqual(systemdLoadEnvFile(file), TRICKY);
    });
    test("bash `set -a; . file` reads back the same values", () => {
        assert.deepEqual(bashSourceEnvFile(file, Object.keys(TRICKY)), TRICKY);
    });
    test("header first, then KEY=\"value\" lines sorted by key, escaping only \\ \" $ `", () => {
        const lines = content.trimEnd().split("\n");
        assert.match(lines[0], /^# Managed by berth/);
        const keys = lines.slice(1).map((l) => l.slice(0, l.indexOf("=")));
        assert.deepEqual(keys, Object.keys(TRICKY).sort());
        assert.ok(lines.includes('DOLLARS="\\$HOME \\${PATH} \\$\\$ \\$1 \\$(id) cost: \\$5"'));
        assert.ok(lines.includes('PERCENT="100% %i %n %%"'));
    });
    test("a multi-line value or a bad name is refused without echoing the value", () => {
        assert.throws(() => units.envFileContent(cfg, { TOKEN: "s3cret\nINJECTED=1" }), (e: Error) => /TOKEN/.test(e.message) && !e.message.includes("s3cret"));
        assert.throws(() => units.envFileContent(cfg, { TOKEN: "s3cret\r" }), (e: Error) => !e.message.includes("s3cret"));
        assert.throws(() => units.envFileContent(cfg, { "BAD-NAME": "x" }), /BAD-NAME/);
        assert.throws(() => units.envFileContent(cfg, { "1ST": "x" }), /1ST/);
    });
    test("the hash the switch sees follows the content", () => {
        assert.equal(units.sha256(content), units.sha256(units.envFileContent(cfg, { ...TRICKY })));
        assert.notEqual(units.sha256(content), units.sha256(units.envFileContent(cfg, { ...TRICKY, EMPTY: "x" })));
    });
    test("the script reads the content from stdin only and prints no value", () => {
        const s = units.envFileScript(cfg);
        assert.match(s, /^umask 077$/m);
        assert.match(s, /cat > "\$tmp"/);
        for (const v of Object.values(SAMPLE_ENV)) assert.ok(!s.includes(v) || v === "production", v);
        assert.deepEqual(
            s.split("\n").filter((l) => /\becho\b/.test(l) && !/>&2/.test(l)).map((l) => l.trim()),
            ["echo unchanged", "echo changed"],
        );
    });
});

// ---------------------------------------------------------------------------
// systemd command-line quoting
// ---------------------------------------------------------------------------

/**
 * Reference parser for one ExecStart= line, following systemd.service(5)
 * "Command lines": words split on whitespace; single or double quotes group;
 * C-style backslash escapes inside and outside quotes; then specifiers
 * (`%%` -> `%`, any other `%x` would be substituted) and, at exec time,
 * `$$` -> `$` (a `${VAR}` or `$VAR` would be substituted).
 */
function parseExecStart(line: string): string[] {
    const words: string[] = [];
    let i = 0;
    const escapes: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"', "'": "'", s: " " };
    while (i < line.length) {
        while (line[i] === " " || line[i] === "\t") i++;
        if (i >= line.length) break;
        let word = "";
        let quote: string | null = null;
        for (; i < line.length; i++) {
            const c = line[i];
            if (quote && c === quote) {
                quote = null;
                continue;
            }
            if (!quote && (c === " " || c === "\t")) break;
            if (!quote && (c === "'" || c === '"')) {
                quote = c;
                continue;
            }
            if (c === "\\") {
                const e = line[i + 1];
                if (e === "x" && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
                    word += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
                    i += 3;
                } else if (e !== undefined && e in escapes) {
                    word += escapes[e];
                    i += 1;
                } else {
                    throw new Error(`unknown escape \\${e} in ${line}`);
                }
                continue;
            }
            word += c;
        }
        if (quote) throw new Error(`unbalanced quoting in ${line}`);
        words.push(word);
    }
    const specifiers = (w: string) =>
        w.replace(/%(.)/g, (_, c: string) => {
            if (c === "%") return "%";
            throw new Error(`specifier %${c} would be substituted in ${w}`);
        });
    const dollars = (w: string) =>
        w.replace(/\$(.)/g, (_, c: string) => {
            if (c === "$") return "$";
            throw new Error(`$${c} would be substituted by systemd in ${w}`);
        });
    return words.map(specifiers).map(dollars);
}

describe("systemdQuote", () => {
    const hard = [
        "/usr/local/bin/app serve --port $PORT",
        `bundle exec sidekiq -C "config/sidekiq.yml" --tag '100%'`,
        `a\\b \\\\ "c" 'd' \${PORT} $$ %% %i %n ; # & | > < \`id\``,
        "tab\there newline\nthere bell\x07 del\x7f",
        "  spaces  ",
        "",
        "ünïcödé ✓",
    ];
    for (const w of hard) {
        test(`round-trips ${JSON.stringify(w)}`, () => {
            assert.deepEqual(parseExecStart(units.shellExecStart(w)), ["/bin/sh", "-c", `exec ${w}`]);
        });
    }
    test("every unit of every variant starts its command verbatim", () => {
        // (berth:webSocket: activation adds Puma's option: test/unit/webSocket.test.ts)
        for (const { cfg } of VARIANTS.filter((v) => v.cfg.release.webSocket === "proxy")) {
            const execs = [units.webUnitFile(cfg), ...(cfg.release.workerCommand ? [units.workerUnitFile(cfg)] : [])].map(
                (u) => /^ExecStart=(.*)$/m.exec(u)![1],
            );
            const commands = [cfg.release.webCommand, ...(cfg.release.workerCommand ? [cfg.release.workerCommand] : [])];
            assert.deepEqual(execs.map(parseExecStart), commands.map((c) => ["/bin/sh", "-c", `exec ${c}`]));
        }
    });
    test("systemd itself unquotes a word the same way (probed through the executable name it reports)", () => {
        // Unquoting and specifiers happen when the unit is loaded; `$$` stays
        // until exec, so systemd reports it doubled.
        const word = `/nonexistent/"a'b\\c%d$e f#g;h{i}`;
        const files = { "probe.service": `[Service]\nExecStart=${units.systemdQuote(word)} x\n` };
        const r = systemdVerify(files, "probe.service");
        const m = /Executable name contains special characters: (.*)$/m.exec(r.output);
        assert.ok(m, r.output);
        assert.equal(m[1], word.replace(/\$/g, () => "$$"));
    });
    test("NUL is refused", () => {
        assert.throws(() => units.systemdQuote("a\0b"), /NUL/);
    });
});

// ---------------------------------------------------------------------------
// Properties of the generated files
// ---------------------------------------------------------------------------

describe("unit properties", () => {
    const [staging, production, stagingGeneric] = VARIANTS.map((v) => v.cfg);
    test("the web unit is a template on slots/%i with both env files, the worker runs current", () => {
        const web = units.webUnitFile(staging);
        assert.match(web, /^WorkingDirectory=\/srv\/berth\/shop-staging\/slots\/%i$/m);
        assert.match(web, /^EnvironmentFile=\/etc\/berth\/shop-staging\/app.env\nEnvironmentFile=\/srv\/berth\/shop-staging\/slots\/%i.env$/m);
        assert.match(web, /^ExecStart=\/bin\/sh -c 'exec bundle exec puma -C config\/puma.rb --bind-to-activated-sockets only'$/m, "Puma takes the socket (the Rails default)");
        const worker = units.workerUnitFile(production);
        assert.match(worker, /^WorkingDirectory=\/srv\/berth\/shop-production\/current$/m);
        assert.equal(worker.match(/^EnvironmentFile=/gm)!.length, 1);
        assert.throws(() => units.workerUnitFile(staging), /no worker/);
    });
    test("the managed-by line comes first and secrets never appear in units", () => {
        for (const { cfg } of VARIANTS) {
            for (const u of [units.webUnitFile(cfg), ...(cfg.release.workerCommand ? [units.workerUnitFile(cfg)] : [])]) {
                assert.match(u.split("\n")[0], /^# Managed by berth/);
                assert.doesNotMatch(u, /DATABASE_URL|SECRET_KEY_BASE|REDIS_URL|PASSWORD/);
            }
        }
    });
    test("Rails-only environment stays out of the generic preset", () => {
        // RAILS_LOG_TO_STDOUT is in the env file (appEnv, test/unit/ruby.test.ts), not in the units.
        assert.doesNotMatch(units.webUnitFile(staging), /RAILS_SERVE_STATIC_FILES/);
        assert.doesNotMatch(units.webUnitFile(stagingGeneric), /RAILS_/);
    });
    test("the units hash follows the unit text", () => {
        assert.equal(units.unitsHash(staging), units.unitsHash(configFor("staging")));
        assert.notEqual(units.unitsHash(staging), units.unitsHash(configFor("staging", { "berth:workerCommand": "bin/jobs" })));
        assert.notEqual(units.unitsHash(staging), units.unitsHash(configFor("staging", { "berth:webCommand": "bin/thrust bin/rails server" })));
    });
    test("without a worker the units script removes a stale worker unit; with one it writes it", () => {
        assert.match(units.unitsScript(staging), /systemctl disable --now --quiet berth-shop-staging-worker.service/);
        assert.match(units.unitsScript(production), /berth-shop-production-worker.service/);
        assert.doesNotMatch(units.unitsScript(production), /disable --now/);
    });
});

describe("site properties", () => {
    const [staging, production] = VARIANTS.map((v) => v.cfg);
    test("the challenge site is port 80 only; the full site is port 443 only", () => {
        const challenge = site.nginxSiteFile(production, "challenge");
        const full = site.nginxSiteFile(production, "full");
        assert.match(challenge, /listen 80;\n\s+listen \[::\]:80;/);
        assert.doesNotMatch(challenge, /443|ssl_/);
        assert.match(full, /listen 443 ssl http2;\n\s+listen \[::\]:443 ssl http2;/);
        assert.doesNotMatch(full, /listen 80/);
        assert.match(challenge, /server_name shop.example.com www.shop.example.com;/);
        assert.match(full, /server_name shop.example.com www.shop.example.com;/);
        assert.notEqual(site.sitePath(production, "challenge"), site.sitePath(production, "full"));
    });
    test("HSTS only when berth:nginx.hsts (production by default)", () => {
        assert.match(site.nginxSiteFile(production, "full"), /max-age=63072000; includeSubDomains/);
        assert.doesNotMatch(site.nginxSiteFile(staging, "full"), /Strict-Transport-Security/);
        assert.match(site.nginxSiteFile(configFor("staging", { "berth:nginx": { hsts: true } }), "full"), /Strict-Transport-Security/);
    });
    test("body size and proxy timeout come from the config", () => {
        const full = site.nginxSiteFile(configFor("staging", { "berth:nginx": { clientMaxBodySize: "3m", proxyTimeout: 17 } }), "full");
        assert.match(full, /client_max_body_size 3m;/);
        assert.match(full, /proxy_read_timeout 17s;\n\s+proxy_send_timeout 17s;/);
    });
    test("the assets location repeats every security header of the server", () => {
        const full = site.nginxSiteFile(production, "full");
        const server = full.slice(full.indexOf("server {"), full.indexOf("location"));
        const assets = full.slice(full.indexOf("location ^~ /assets/"), full.indexOf("location / {"));
        const headers = (s: string) => [...s.matchAll(/add_header (\S+) \$\S+ always;/g)].map((m) => m[1]);
        assert.deepEqual(headers(assets), headers(server));
        assert.equal(headers(server).length, 4);
    });
    test("the upstream file is the stable socket the switch moves (no upstream keepalive to a previous instance)", () => {
        assert.equal(
            site.upstreamFile(staging).split("\n").slice(1).join("\n"),
            "upstream berth_shop_staging {\n    server unix:/srv/berth/shop-staging/web.sock max_fails=0;\n}\n",
        );
    });
    test("only the full phase carries the policy trigger, and its delete checks the identity", () => {
        assert.deepEqual(site.siteTrigger(production), { kind: "berth-nginx-site", production: true, hsts: true, domain: "shop.example.com" });
        assert.ok(site.nginxSiteFile(production, "full").includes(site.identityLine(production)));
        assert.ok(site.siteDeleteScript(production, "full").includes("grep -qxF"));
    });
    test("the full site writes the upstream only when missing, pointing at the socket symlink", () => {
        const s = site.siteScript(staging, "full");
        assert.match(s, /if \[ ! -e \/etc\/nginx\/berth\/shop-staging-upstream.conf \]; then/);
        assert.ok(s.includes(`server unix:${staging.names.webSocket} max_fails=0;`));
        assert.ok(!s.includes("server 127.0.0.1:"));
    });
});

/** The body of the site's `location <head> {` block (up to its closing brace). */
function locationBlock(text: string, head: string): string {
    const start = text.indexOf(`    location ${head} {\n`);
    assert.ok(start >= 0, `no location ${head} in the site`);
    return text.slice(start, text.indexOf("\n    }\n", start) + 1);
}

/** Each `server { ... }` block of a site, up to its first location (the server-level directives). */
function serverHeads(text: string): string[] {
    return text.split(/^server \{$/m).slice(1).map((s) => s.slice(0, s.indexOf("    location ")));
}

describe("site: proxied headers, assets, Cloudflare", () => {
    const [staging, production] = VARIANTS.map((v) => v.cfg);
    test("the app location sends every header of lib/proxy.ts with its nginx value, plus the WebSocket pair, each once", () => {
        for (const cfg of [staging, production]) {
            const app = locationBlock(site.nginxSiteFile(cfg, "full", rangesOf(cfg)), "@app");
            const set = [...app.matchAll(/^ +proxy_set_header (\S+) (.+);$/gm)].map((m) => [m[1], m[2]] as [string, string]);
            const sent = new Map(set);
            assert.equal(sent.size, set.length, "a header is set twice");
            for (const h of PROXY_HEADERS) assert.equal(sent.get(h.name), h.nginx, h.name);
            assert.equal(sent.get("X-Forwarded-Host"), "$host");
            assert.equal(sent.get("Upgrade"), "$http_upgrade");
            assert.equal(sent.get("Connection"), `$${site.nginxIdent(cfg)}_connection`);
            assert.deepEqual([...sent.keys()].sort(), ["Connection", "Upgrade", ...PROXY_HEADERS.map((h) => h.name)].sort(), "no header outside the table");
        }
    });
    test("fingerprinted assets come from the union of kept releases; everything else from current/public", () => {
        const full = site.nginxSiteFile(staging, "full");
        const assets = locationBlock(full, "^~ /assets/");
        assert.deepEqual([...assets.matchAll(/^ +root (\S+);$/gm)].map((m) => m[1]), [`${staging.names.root}/shared/public`]);
        assert.equal(`${staging.names.root}/shared/public/assets`, staging.names.assets, "the directory the releases link their assets into");
        for (const l of ["gzip_static on;", "expires max;", 'add_header Cache-Control "public, immutable";', "try_files $uri =404;"]) {
            assert.ok(assets.includes(`        ${l}\n`), l);
        }
        assert.deepEqual([...serverHeads(full)[0].matchAll(/^    root (\S+);$/gm)].map((m) => m[1]), [`${staging.names.root}/current/public`]);
        assert.match(locationBlock(full, "/"), /try_files \$uri @app;/);
    });
    test("without Cloudflare's ranges neither server has real-IP handling (and an empty list changes nothing)", () => {
        for (const phase of ["challenge", "full"] as const) {
            assert.doesNotMatch(site.nginxSiteFile(staging, phase), /real_ip|CF-Connecting-IP/);
            assert.equal(site.nginxSiteFile(staging, phase, []), site.nginxSiteFile(staging, phase));
            assert.equal(site.siteScript(staging, phase, undefined), site.siteScript(staging, phase));
        }
    });
    test("with Cloudflare's ranges both servers trust CF-Connecting-IP from exactly those ranges, not recursively", () => {
        for (const phase of ["challenge", "full"] as const) {
            const heads = serverHeads(site.nginxSiteFile(production, phase, CF_RANGES));
            assert.equal(heads.length, 1);
            assert.deepEqual([...heads[0].matchAll(/^    set_real_ip_from (\S+);$/gm)].map((m) => m[1]), CF_RANGES, phase);
            assert.match(heads[0], /^    real_ip_header CF-Connecting-IP;$/m);
            assert.match(heads[0], /^    real_ip_recursive off;$/m);
        }
    });
    test("a range that is not a CIDR never reaches nginx", () => {
        for (const bad of ["173.245.48.0/33", "173.245.48.0", "2400:cb00::/129", "173.245.48.0/20; include /etc/shadow", "example.com/20", "", "1.2.3.4/8/8"]) {
            assert.throws(() => site.nginxSiteFile(production, "full", [bad]), /is not a CIDR range/, bad);
        }
        assert.doesNotThrow(() => site.nginxSiteFile(production, "full", ["0.0.0.0/0", "::/0", "2a06:98c0::/29", "131.0.72.0/22"]));
    });
});

/** The site files and scripts a program run writes, by phase (from the remote commands' create scripts). */
function programSites(commands: { name: string; inputs: Record<string, any> }[], cfg: BerthConfig): Record<site.SitePhase, { script: string; text: string }> {
    const out: Partial<Record<site.SitePhase, { script: string; text: string }>> = {};
    for (const c of commands) {
        if (typeof c.inputs.create !== "string") continue;
        const script = scriptOf(c.inputs.create);
        for (const f of filesOf({ name: c.name, script })) {
            for (const phase of ["challenge", "full"] as const) {
                if (f.path !== site.sitePath(cfg, phase)) continue;
                assert.equal(out[phase], undefined, `two commands write ${f.path}`);
                out[phase] = { script, text: f.variants[0].content! };
            }
        }
    }
    assert.ok(out.challenge && out.full, `the program writes both sites; found ${Object.keys(out).join(", ") || "none"}`);
    return out as Record<site.SitePhase, { script: string; text: string }>;
}

describe("Cloudflare's ranges through the program (mock runtime)", () => {
    const [staging, production] = VARIANTS.map((v) => v.cfg);
    const IP_RANGES = "cloudflare:index/getIpRanges:getIpRanges";
    for (const preview of [false, true]) {
        test(`proxied (production${preview ? ", preview" : ""}): one invoke of the data source; both sites restore the client address from its ranges and pass nginx -t`, async () => {
            const r = await runProgram(stackConfig("production"), { preview });
            assert.ifError(r.error);
            assert.deepEqual(r.calls.filter((c) => c.token === IP_RANGES).length, 1);
            const sites = programSites(byType(r, "command:remote:Command"), production);
            for (const phase of ["challenge", "full"] as const) {
                const lines = sites[phase].text.split("\n");
                for (const cidr of [...MOCK_CLOUDFLARE_RANGES.ipv4Cidrs, ...MOCK_CLOUDFLARE_RANGES.ipv6Cidrs]) {
                    assert.ok(lines.includes(`    set_real_ip_from ${cidr};`), `${phase}: ${cidr}`);
                }
                assert.ok(lines.includes("    real_ip_header CF-Connecting-IP;"), phase);
            }
            expectOk("nginx -t", nginxTest([{ cfg: production, text: sites.challenge.text }, { cfg: production, text: sites.full.text }]));
        });
    }
    test("not proxied (staging): no invoke at all, and both site scripts are byte for byte the builders' without ranges", async () => {
        const r = await runProgram(stackConfig("staging"));
        assert.ifError(r.error);
        assert.deepEqual(r.calls.filter((c) => c.token === IP_RANGES), []);
        const sites = programSites(byType(r, "command:remote:Command"), staging);
        for (const phase of ["challenge", "full"] as const) {
            assert.equal(sites[phase].script, site.siteScript(staging, phase));
            assert.doesNotMatch(sites[phase].text, /real_ip/);
        }
    });
});

// ---------------------------------------------------------------------------
// The site served by a real nginx
// ---------------------------------------------------------------------------

/** A free loopback TCP port (the OS picks it). */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = s.address() as net.AddressInfo;
            s.close(() => resolve(port));
        });
        s.on("error", reject);
    });
}

interface Served {
    status: number;
    body: string;
    headers: http.IncomingHttpHeaders;
}

describe("the site served by a real nginx (loopback ports, temp prefix)", () => {
    const cfg = VARIANTS[0].cfg;
    const visitor = "198.51.100.7";
    test("assets from the union of releases (not current/public/assets), other files from current/public, the app gets lib/proxy.ts's headers, CF-Connecting-IP only from Cloudflare's ranges", async () => {
        const d = tmpDir("served");
        const root = path.join(d, "root");
        const write = (rel: string, text: string | Buffer) => {
            fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
            fs.writeFileSync(path.join(root, rel), text);
        };
        // The union holds the previous release's asset too; current/public/assets is the serving release's own copy.
        write("shared/public/assets/app-1111.css", "body{color:red}\n");
        write("shared/public/assets/old-0000.css", "from the previous release\n");
        write("shared/public/assets/app-1111.css.gz", execFileSync("gzip", ["-c"], { input: "body{color:red}\n" }));
        write("current/public/assets/only-current-2222.css", "not in the union\n");
        write("current/public/robots.txt", "User-agent: *\n");
        const webroot = path.join(d, "webroot");
        fs.mkdirSync(path.join(webroot, ".well-known", "acme-challenge"), { recursive: true });
        fs.writeFileSync(path.join(webroot, ".well-known", "acme-challenge", "probe"), "probe-token");
        const log = path.join(d, "log");
        fs.mkdirSync(log);
        const sock = path.join(d, "web.sock");
        const app = http.createServer((req, res) => res.end(JSON.stringify(req.headers))).listen(sock);
        fs.writeFileSync(path.join(d, "upstream.conf"), site.upstreamFile(cfg).replace(cfg.names.webSocket, sock));
        const [p80, p443] = [await freePort(), await freePort()];
        const rewrite = (text: string) => {
            const out = text
                .replaceAll("listen [::]:80;", "")
                .replaceAll("listen [::]:443 ssl http2;", "")
                .replaceAll("listen 80;", `listen 127.0.0.1:${p80};`)
                .replaceAll("listen 443 ssl http2;", `listen 127.0.0.1:${p443} ssl;`)
                .replaceAll(`/etc/letsencrypt/live/${cfg.names.certName}/fullchain.pem`, selfSigned.cert)
                .replaceAll(`/etc/letsencrypt/live/${cfg.names.certName}/privkey.pem`, selfSigned.key)
                .replaceAll(cfg.names.nginxUpstream, path.join(d, "upstream.conf"))
                .replaceAll(cfg.names.webroot, webroot)
                .replaceAll(`${cfg.names.root}/`, `${root}/`)
                .replaceAll("/var/log/nginx/", `${log}/`);
            assert.doesNotMatch(out, /\/etc\/|\/var\/|\/srv\//, "the site references a host path the test did not redirect");
            return out;
        };
        const conf = path.join(d, "nginx.conf");
        const start = (ranges: string[] | undefined) => {
            fs.writeFileSync(path.join(d, "sites.conf"), `${rewrite(site.nginxSiteFile(cfg, "challenge", ranges))}\n${rewrite(site.nginxSiteFile(cfg, "full", ranges))}`);
            fs.writeFileSync(
                conf,
                [
                    ...(process.getuid?.() === 0 ? ["user root;"] : []),
                    `pid ${d}/nginx.pid;`,
                    "error_log stderr;",
                    "daemon off;",
                    "events {}",
                    "http {",
                    "    include /etc/nginx/mime.types;",
                    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `    ${t}_temp_path ${d}/${t}_temp;`),
                    `    include ${d}/sites.conf;`,
                    "}",
                    "",
                ].join("\n"),
            );
            const t = spawnSync("nginx", ["-t", "-p", d, "-c", conf, "-e", "stderr"], { encoding: "utf8" });
            if (t.error) throw new Error(`nginx could not run (${t.error.message}); install it: apt-get install nginx`);
            assert.deepEqual(`${t.stdout}${t.stderr}`.split("\n").filter((l) => l.trim() && !/syntax is ok|test is successful/.test(l)), []);
            return spawn("nginx", ["-p", d, "-c", conf, "-e", "stderr"], { stdio: "ignore" });
        };
        const get = (port: number, p: string, tls: boolean, headers: Record<string, string> = {}) =>
            new Promise<Served>((resolve, reject) => {
                const mod = tls ? https : http;
                const req = mod.request(
                    { host: "127.0.0.1", port, path: p, headers: { host: cfg.domain, ...headers }, servername: cfg.domain, rejectUnauthorized: false, timeout: 3000, agent: false } as https.RequestOptions,
                    (res) => {
                        const chunks: Buffer[] = [];
                        res.on("data", (c: Buffer) => chunks.push(c));
                        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("latin1"), headers: res.headers }));
                    },
                );
                req.on("error", reject);
                req.end();
            });
        const ready = async () => {
            for (let i = 0; i < 50; i++) {
                try {
                    return await get(p443, "/robots.txt", true);
                } catch {
                    await new Promise((r) => setTimeout(r, 100));
                }
            }
            throw new Error("nginx did not start");
        };
        const stop = async (p: ReturnType<typeof spawn>) => {
            p.kill("SIGQUIT");
            await new Promise((r) => p.once("close", r));
        };
        const appHeaders = async (headers: Record<string, string> = {}) => {
            const r = await get(p443, "/some/page", true, headers);
            assert.equal(r.status, 200, r.body);
            return JSON.parse(r.body) as Record<string, string>;
        };
        const lastLogLine = () => fs.readFileSync(path.join(log, `${cfg.names.nginxSite}.access.log`), "utf8").trimEnd().split("\n").at(-1)!;

        // Cloudflare's ranges stand in as loopback (the test's client): CF-Connecting-IP is trusted.
        let nginx = start(["127.0.0.0/8", "::1/128"]);
        try {
            await ready();
            const css = await get(p443, "/assets/app-1111.css", true);
            assert.deepEqual([css.status, css.body], [200, "body{color:red}\n"]);
            assert.match(String(css.headers["cache-control"]), /public, immutable/);
            assert.equal(css.headers["x-content-type-options"], "nosniff");
            assert.deepEqual([(await get(p443, "/assets/old-0000.css", true)).status, (await get(p443, "/assets/old-0000.css", true)).body], [200, "from the previous release\n"]);
            const gz = await get(p443, "/assets/app-1111.css", true, { "accept-encoding": "gzip" });
            assert.equal(gz.headers["content-encoding"], "gzip", "gzip_static serves the precompressed file");
            const onlyCurrent = await get(p443, "/assets/only-current-2222.css", true);
            assert.equal(onlyCurrent.status, 404, "an asset only in current/public/assets is not served (nor handed to the app)");
            assert.deepEqual([(await get(p443, "/robots.txt", true)).status, (await get(p443, "/robots.txt", true)).body], [200, "User-agent: *\n"]);

            // A request from loopback without Cloudflare's header: exactly what the health probe sends.
            const plain = await appHeaders();
            for (const [name, value] of probeHeaders(cfg.domain)) assert.equal(plain[name.toLowerCase()], value, name);
            // Through Cloudflare: the visitor's address, to the app and in the access logs (both servers).
            const proxied = await appHeaders({ "cf-connecting-ip": visitor });
            assert.equal(proxied["x-real-ip"], visitor);
            assert.equal(proxied["x-forwarded-for"], visitor);
            assert.equal(lastLogLine().split(" ")[0], visitor);
            assert.equal((await get(p80, "/x", false, { "cf-connecting-ip": visitor })).status, 301);
            assert.equal(lastLogLine().split(" ")[0], visitor, "the HTTP server logs the visitor too");
            assert.equal((await get(p80, "/.well-known/acme-challenge/probe", false)).body, "probe-token");
            await stop(nginx);

            // The connection does not come from Cloudflare's ranges: the header is ignored.
            nginx = start(["192.0.2.0/24"]);
            await ready();
            const spoofed = await appHeaders({ "cf-connecting-ip": visitor });
            assert.equal(spoofed["x-real-ip"], "127.0.0.1");
            assert.equal(lastLogLine().split(" ")[0], "127.0.0.1");
            await stop(nginx);

            // Not proxied: no real-IP handling at all.
            nginx = start(undefined);
            await ready();
            assert.equal((await appHeaders({ "cf-connecting-ip": visitor }))["x-real-ip"], "127.0.0.1");
        } finally {
            if (nginx.exitCode === null && nginx.signalCode === null) await stop(nginx);
            app.close();
        }
    });
});

describe("certificate properties", () => {
    const [staging, production, stagingGeneric] = VARIANTS.map((v) => v.cfg);
    test("webroot mode with every host name, the stack's CA and a reload hook", () => {
        const s = cert.certificateScript(production);
        assert.match(s, /certbot certonly --webroot -w \/var\/www\/berth-acme\/shop-production --cert-name berth-shop-production -d shop.example.com -d www.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server https:\/\/acme-v02.api.letsencrypt.org\/directory --expand --deploy-hook 'systemctl reload nginx' "\$policy"/);
        assert.match(cert.certificateScript(staging), /--server https:\/\/acme-staging-v02.api.letsencrypt.org\/directory/);
        assert.doesNotMatch(s, /--nginx|--installer/);
    });
    test("without an e-mail certbot registers without one", () => {
        assert.match(cert.certificateScript(configFor("staging", { "berth:acme": {} })), /--register-unsafely-without-email/);
    });
    test("a private CA bundle is trusted by this run and by timer renewals; without one it is removed", () => {
        const s = cert.certificateScript(stagingGeneric);
        assert.match(s, /export REQUESTS_CA_BUNDLE=\/etc\/berth\/shop-staging\/acme-ca.pem/);
        assert.ok(s.includes(cert.certbotDropInPath(stagingGeneric)));
        assert.match(cert.certbotDropIn(stagingGeneric), /^Environment=REQUESTS_CA_BUNDLE=\/etc\/berth\/shop-staging\/acme-ca.pem$/m);
        assert.match(cert.certificateScript(staging), /rm -f \/etc\/systemd\/system\/certbot.service.d\/berth-shop-staging.conf/);
    });
    test("paths are certbot's live files", () => {
        assert.deepEqual([cert.certificatePaths(staging).fullchain, cert.certificatePaths(staging).privkey], [
            "/etc/letsencrypt/live/berth-shop-staging/fullchain.pem",
            "/etc/letsencrypt/live/berth-shop-staging/privkey.pem",
        ]);
    });
    test("the renewal-server check reads certbot's renewal conf format", () => {
        const d = tmpDir("renewal");
        const conf = path.join(d, "x.conf");
        fs.writeFileSync(conf, "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = /etc/letsencrypt/archive/x\n\n[renewalparams]\naccount = abc\nserver = https://acme-staging-v02.api.letsencrypt.org/directory\nauthenticator = webroot\n");
        const line = /current=\$\(awk (.*) \S+\)$/m.exec(cert.certificateScript(staging))![1];
        const out = execFileSync("bash", ["-c", `awk ${line} "$1"`, "_", conf], { encoding: "utf8" });
        assert.equal(out.trim(), "https://acme-staging-v02.api.letsencrypt.org/directory");
    });
});

describe("berth:frontend: the HTTPS site passes nginx -t (test/unit/frontend.test.ts has its goldens)", () => {
    const frontend = { build: 'hugo --minify -d "$OUT"', packages: ["hugo"] };
    const at = (set: Record<string, unknown>) => configFor("frontend", set, "examples/Pulumi.frontend.yaml");
    test("at the root, the app under /api/ (with basic auth, /api/up stays open)", () => {
        const gated = at({ "berth:frontend": { ...frontend, mount: "root" }, "berth:basicAuth": { ops: { secure: "set" } } });
        assert.match(site.nginxSiteFile(gated, "full"), /"\/api\/up" off;/);
        const cfg = at({ "berth:frontend": { ...frontend, mount: "root" } });
        expectOk("nginx -t", nginxTest([{ cfg, text: site.nginxSiteFile(cfg, "challenge") }, { cfg, text: site.nginxSiteFile(cfg, "full") }]));
    });
    test("on a host name of its own, the app on the other names", () => {
        const cfg = at({ "berth:extraHostnames": ["www.shop.example.com"], "berth:frontend": { ...frontend, mount: "www.shop.example.com" } });
        const text = site.nginxSiteFile(cfg, "full");
        assert.match(text, /server_name app\.shop\.example\.com;\n/);
        assert.match(text, /server_name www\.shop\.example\.com;\n/);
        expectOk("nginx -t", nginxTest([{ cfg, text: site.nginxSiteFile(cfg, "challenge") }, { cfg, text }]));
    });
});

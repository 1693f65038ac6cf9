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
import { execFileSync, spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { withShebang } from "../../lib/shell";
import * as units from "../../components/app/appUnits";
import * as site from "../../components/web/nginxSite";
import * as host from "../../components/host/host";
import { NGINX_HARDENING_DROPIN } from "../../lib/names";
import * as cert from "../../components/web/certificate";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor } from "./harness";

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

function scriptsOf(cfg: BerthConfig): Record<string, string> {
    return {
        "env-file.sh": units.envFileScript(cfg),
        "env-file-delete.sh": units.envFileDeleteScript(cfg),
        "units.sh": units.unitsScript(cfg),
        "units-delete.sh": units.unitsDeleteScript(cfg),
        "nginx-site-challenge.sh": site.siteScript(cfg, "challenge"),
        "nginx-site-challenge-delete.sh": site.siteDeleteScript(cfg, "challenge"),
        "nginx-site-full.sh": site.siteScript(cfg, "full"),
        "nginx-site-full-delete.sh": site.siteDeleteScript(cfg, "full"),
        "certificate.sh": cert.certificateScript(cfg),
        "certificate-delete.sh": cert.certificateDeleteScript(cfg),
    };
}

function textsOf(cfg: BerthConfig): Record<string, string> {
    const out: Record<string, string> = {
        "web.service": units.webUnitFile(cfg),
        "nginx-site-challenge.conf": site.nginxSiteFile(cfg, "challenge"),
        "nginx-site-full.conf": site.nginxSiteFile(cfg, "full"),
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
            expectOk("nginx -t", nginxTest([{ cfg, text: site.nginxSiteFile(cfg, "challenge") }]));
        });
        test("nginx -t accepts the challenge and full sites together", () => {
            expectOk(
                "nginx -t",
                nginxTest([
                    { cfg, text: site.nginxSiteFile(cfg, "challenge") },
                    { cfg, text: site.nginxSiteFile(cfg, "full") },
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
                { cfg, text: site.nginxSiteFile(cfg, "challenge") },
                { cfg, text: site.nginxSiteFile(cfg, "full") },
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
        for (const { cfg } of VARIANTS) {
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
        assert.match(web, /^ExecStart=\/bin\/sh -c 'exec bundle exec puma -C config\/puma.rb'$/m);
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
        assert.match(units.webUnitFile(staging), /^Environment=RAILS_LOG_TO_STDOUT=1$/m);
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

/**
 * Issue 20 item 4, the audits' leftovers, each checked by the real tool:
 * the drain unit's sandbox scored by `systemd-analyze security --offline`
 * and the switch's systemd-run line run by bash against a recording stub;
 * sshd's crypto read back with `sshd -T`; the host hardening's login.defs
 * edit and banner run by bash on fixtures and held against lynis's own
 * rules; the basic-auth password file built by the real script, and
 * served, with the HTTPS site, by a real nginx in front of a real upstream
 * (401 without the password, the health path open, no gzip on what the
 * app answers, gzip on assets).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { execFile, execFileSync, spawn, spawnSync, ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { BerthConfig, parseConfig } from "../../lib/config";
import { drainSandbox, drainUnitFile } from "../../lib/units/drain";
import { switchScript } from "../../components/app/switch";
import { hostHardeningLines, LOGIN_BANNER, HARDENING_SYSCTL } from "../../lib/hostHardening";
import { flatten, script, withShebang } from "../../lib/shell";
import { sshHardeningScript } from "../../components/host/host";
import * as site from "../../components/web/nginxSite";
import { basicAuthDeleteScript, basicAuthPayload, basicAuthScript } from "../../components/web/basicAuth";
import { expectGolden, expectShellcheckClean } from "./golden";
import { byType, configFor, isSecretWrapped, plainStrings, RunResult, runProgram, stackConfig } from "./harness";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hardening-test-"));
fs.chmodSync(scratch, 0o755);
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let n = 0;
function tmpDir(label: string): string {
    const d = path.join(scratch, `${label}-${++n}`);
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    return d;
}

function securityScore(text: string, name: string): number {
    const d = tmpDir("security");
    fs.writeFileSync(path.join(d, name), text);
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", path.join(d, name)], { encoding: "utf8" });
    const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(`${r.stdout}${r.stderr}`);
    if (!m) throw new Error(`systemd-analyze security printed no score for ${name}:\n${r.stdout}${r.stderr}`);
    return Number(m[1]);
}

describe("the drain unit", () => {
    const conflicts = ["berth-shop-staging-proxy-blue.socket", "berth-shop-staging-web@blue.service"];
    test("its sandbox scores at most 2.0 in systemd-analyze security (the other units' target)", () => {
        const score = securityScore(drainUnitFile(conflicts), "berth-shop-staging-drain-blue.service");
        assert.ok(score <= 2.0, `exposure ${score}`);
    });
    test("no socket family at all, written as systemd-run can send it (no unit-file-only keyword such as `none`)", () => {
        const families = drainSandbox().filter((p) => p.startsWith("RestrictAddressFamilies="));
        // Over D-Bus each word is a family name: `none` fails the transient unit's start (seen on systemd 257).
        for (const p of families) assert.match(p, /^RestrictAddressFamilies=~?(AF_[A-Z0-9]+)( AF_[A-Z0-9]+)*$/, p);
        const d = tmpDir("families");
        fs.writeFileSync(path.join(d, "drain.service"), drainUnitFile(conflicts));
        const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", path.join(d, "drain.service")], { encoding: "utf8" });
        const lines = `${r.stdout}${r.stderr}`.split("\n").filter((l) => /RestrictAddressFamilies=/.test(l));
        assert.ok(lines.length >= 4, lines.join("\n"));
        for (const l of lines) assert.match(l, /^\S*✓/, `a socket family stays allowed: ${l}`);
    });
    test("the measure can fail: the unit as it was (root, systemctl stop, no sandbox) scores far above 2.0", () => {
        const old = ["[Service]", "ExecStart=/usr/bin/systemctl stop berth-shop-staging-web@blue.service", ""].join("\n");
        assert.ok(securityScore(old, "old-drain.service") > 9, "the unsandboxed transient unit should score as exposed");
    });
    test("systemd-analyze verify accepts it", () => {
        const d = tmpDir("verify");
        for (const c of conflicts) fs.writeFileSync(path.join(d, c), c.endsWith(".socket") ? "[Socket]\nListenStream=/run/x.sock\n" : "[Service]\nExecStart=/bin/true\n");
        fs.writeFileSync(path.join(d, "drain.service"), drainUnitFile(conflicts));
        const r = spawnSync("systemd-analyze", ["verify", "--man=no", "--recursive-errors=no", path.join(d, "drain.service")], { encoding: "utf8", cwd: d });
        assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "systemd-analyze verify printed something");
        assert.equal(r.status, 0);
    });
    test("the switch starts exactly that unit: its systemd-run, run by bash, passes the measured properties and the two conflicts", () => {
        const cfg = configFor("staging");
        const text = switchScript(cfg as any, { sha: "0".repeat(40), envHash: "e".repeat(64), unitsHash: "u".repeat(64) } as any);
        const line = text.split("\n").find((l) => l.trim().startsWith("systemd-run "));
        assert.ok(line, "the switch has a systemd-run line");
        const d = tmpDir("systemd-run");
        const out = path.join(d, "argv");
        // Run the line as the switch does, with systemd-run and the helpers stubbed: the argv bash builds is what systemd gets.
        const stub = [
            `systemd-run() { printf '%s\\n' "$@" > ${JSON.stringify(out)}; }`,
            "proxy_socket() { echo berth-shop-staging-proxy-\"$1\".socket; }",
            "web_unit() { echo berth-shop-staging-web@\"$1\".service; }",
            "active=blue drain=berth-shop-staging-drain-blue",
            line!.trim(),
        ].join("\n");
        execFileSync("bash", ["-c", stub]);
        const argv = fs.readFileSync(out, "utf8").trimEnd().split("\n");
        const props = argv.flatMap((a, i) => (argv[i - 1] === "-p" ? [a] : []));
        assert.deepEqual(props.filter((p) => p.startsWith("Conflicts=")), conflicts.map((c) => `Conflicts=${c}`));
        assert.deepEqual(props.filter((p) => !p.startsWith("Conflicts=")), drainSandbox());
        assert.equal(argv[argv.length - 1], "/bin/true");
        assert.ok(argv.includes("--unit=berth-shop-staging-drain-blue") && argv.includes("--on-active=300"));
    });
});

describe("sshd", () => {
    const sshd = ["/usr/sbin/sshd"].find((p) => fs.existsSync(p));
    test("sshd -T with berth's drop-in offers SHA-2 EtM MACs only and no compression", { skip: !sshd && "openssh-server is not installed" }, () => {
        const d = tmpDir("sshd");
        const key = path.join(d, "host_ed25519");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
        const text = sshHardeningScript(configFor("staging"));
        const body = /<<'BERTH_EOF'\n([\s\S]*?)\nBERTH_EOF/.exec(text)![1];
        const conf = path.join(d, "sshd_config");
        fs.writeFileSync(conf, `${body}\nHostKey ${key}\n`);
        // sshd -T insists on its privilege separation directory (what the package's unit creates at start).
        if (!fs.existsSync("/run/sshd")) fs.mkdirSync("/run/sshd", { mode: 0o755 });
        const r = spawnSync(sshd!, ["-T", "-f", conf], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const get = (k: string) => r.stdout.split("\n").find((l) => l.startsWith(`${k} `))?.slice(k.length + 1);
        assert.equal(get("macs"), "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com");
        assert.equal(get("compression"), "no");
        assert.equal(get("allowagentforwarding"), "no");
        assert.equal(get("tcpkeepalive"), "no");
    });
});

/** lynis include/tests_banners LEGAL_BANNER_STRINGS (CISOfy/lynis, 2026-01): BANN-7126/7130 want more than 4 of them. */
const LYNIS_LEGAL_WORDS = "audit access authori condition connect consent continu criminal enforce evidence forbidden intrusion law legal legislat log monitor owner penal policy policies privacy private prohibited prosecute record report restricted secure subject system terms warning".split(" ");

describe("host hardening (lynis)", () => {
    const text = script(hostHardeningLines());
    test("shellcheck", () => expectShellcheckClean("host hardening", withShebang(text)));
    test("the banner has more than four of lynis's legal key words (BANN-7126, BANN-7130)", () => {
        const found = LYNIS_LEGAL_WORDS.filter((w) => LOGIN_BANNER.toLowerCase().includes(w));
        assert.ok(found.length > 4, `only ${found.join(", ")}`);
    });
    test("nothing that would break what berth runs: no module lock-down, no forwarding off (Docker), no strict rp_filter", () => {
        const keys = HARDENING_SYSCTL.map(([k]) => k);
        for (const k of keys) assert.doesNotMatch(k, /modules_disabled|forwarding|ip_forward|rp_filter/);
        assert.equal(new Set(keys).size, keys.length, "a key set twice");
    });
    test("the file is what systemd-sysctl reads: comments and `key = value` lines, every key one of the list, in order", () => {
        // Parsed here, never applied: running sysctl -p in a test would change the kernel of the machine running it.
        const body = /<<'BERTH_EOF'\n([\s\S]*?)\nBERTH_EOF/.exec(text)![1].split("\n");
        const settings = body.filter((l) => !l.startsWith("#"));
        for (const l of settings) assert.match(l, /^[a-z0-9_]+(\.[a-z0-9_-]+)+ = -?\d+$/, l);
        assert.deepEqual(settings.map((l) => l.split(" = ")), HARDENING_SYSCTL.map(([k, v]) => [k, v]));
    });
    test("login.defs: UMASK 022 becomes 027 (AUTH-9328) once; another value is left alone", () => {
        const lines = flatten(hostHardeningLines());
        const start = lines.findIndex((l) => l.includes("/etc/login.defs ]"));
        const part = lines.slice(start, start + 4).join("\n");
        const d = tmpDir("logindefs");
        const f = path.join(d, "login.defs");
        const run = () => execFileSync("bash", ["-c", `set -euo pipefail\n${part.replaceAll("/etc/login.defs", f)}`], { encoding: "utf8" });
        fs.writeFileSync(f, "# comment UMASK 022\nUMASK\t\t022\nHOME_MODE\t0700\n");
        assert.match(run(), /UMASK 027/);
        assert.equal(fs.readFileSync(f, "utf8"), "# comment UMASK 022\nUMASK\t\t027\nHOME_MODE\t0700\n");
        assert.equal(run(), "", "a second run changes nothing");
        fs.writeFileSync(f, "UMASK 077\n");
        run();
        assert.equal(fs.readFileSync(f, "utf8"), "UMASK 077\n");
    });
});

/** staging with berth:basicAuth (a secret, as `pulumi config set --secret --path basicAuth.USER` sets it). */
function authConfig(stack: string, users: Record<string, string>): { ok: true; config: BerthConfig } | { ok: false; errors: string[] } {
    const sc = stackConfig(stack);
    const values = { ...sc.values, "berth:basicAuth": JSON.stringify(users) };
    return parseConfig(values, { project: "berth", stack, secretKeys: new Set([...sc.secretKeys, "berth:basicAuth"]) }) as any;
}
const PASSWORDS = { alice: "correct horse battery", "bob.smith": "p4ss:with$pecial'chars\"" };

describe("berth:basicAuth configuration", () => {
    test("staging accepts users and passwords", () => assert.equal(authConfig("staging", PASSWORDS).ok, true));
    test("production refuses it", () => {
        const r = authConfig("production", PASSWORDS);
        assert.equal(r.ok, false);
        assert.match((r as any).errors.join("\n"), /berth:basicAuth: a gate for staging and review stacks/);
    });
    test("a user name with a colon, a short password and an empty map are refused", () => {
        for (const bad of [{ "a:b": "long enough password" }, { alice: "short" }, {}] as Record<string, string>[]) {
            assert.equal(authConfig("staging", bad).ok, false, JSON.stringify(bad));
        }
    });
});

describe("berth:basicAuth: the password file and the site, served by nginx", () => {
    const r = authConfig("staging", PASSWORDS);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const cfg = r.config;
    const scope = { ...cfg };
    const htpasswdScript = basicAuthScript(scope);
    test("golden text and shellcheck; no password in the script", () => {
        expectGolden("basic-auth/htpasswd.sh", htpasswdScript);
        expectGolden("basic-auth/htpasswd-delete.sh", basicAuthDeleteScript(scope));
        expectGolden("basic-auth/nginx-site-full.conf", site.nginxSiteFile(cfg, "full"));
        expectShellcheckClean("htpasswd", withShebang(htpasswdScript));
        for (const p of Object.values(PASSWORDS)) assert.ok(!htpasswdScript.includes(p) && !site.nginxSiteFile(cfg, "full").includes(p));
    });
    test("staging without the key renders the site without auth_basic", () => {
        assert.doesNotMatch(site.nginxSiteFile(configFor("staging"), "full"), /auth_basic/);
    });

    const root = tmpDir("htpasswd-root");
    const file = path.join(root, "etc/nginx/berth/shop-staging.htpasswd");
    const runScript = (users: Record<string, string>) =>
        execFileSync("bash", ["-c", htpasswdScript], { input: basicAuthPayload({ basicAuth: users }), env: { ...process.env, BERTH_ROOT: root }, encoding: "utf8" });
    const verify = (hash: string, password: string) => {
        const salt = hash.split("$")[2];
        return execFileSync("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], { input: `${password}\n`, encoding: "utf8" }).trim() === hash;
    };
    test("the script writes SHA-512 crypt hashes of the passwords read from stdin, root:www-data 0640", () => {
        assert.match(runScript(PASSWORDS), /updated \(2 users\)/);
        const lines = fs.readFileSync(file, "utf8").trimEnd().split("\n");
        assert.deepEqual(lines.map((l) => l.split(":")[0]), ["alice", "bob.smith"]);
        for (const l of lines) {
            const [user, hash] = [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)];
            assert.match(hash, /^\$6\$/);
            assert.ok(verify(hash, (PASSWORDS as any)[user]), `${user}'s hash does not verify`);
            assert.ok(!verify(hash, "wrong password"));
        }
        const st = fs.statSync(file);
        assert.equal((st.mode & 0o777).toString(8), "640");
    });
    test("a re-run with the same passwords rewrites nothing; a changed password changes only its line; a removed user is gone", () => {
        const before = fs.readFileSync(file, "utf8");
        assert.match(runScript(PASSWORDS), /unchanged \(2 users\)/);
        assert.equal(fs.readFileSync(file, "utf8"), before);
        runScript({ ...PASSWORDS, alice: "a new long password" });
        const [a, b] = fs.readFileSync(file, "utf8").trimEnd().split("\n");
        assert.notEqual(a, before.split("\n")[0]);
        assert.equal(b, before.split("\n")[1]);
        runScript({ alice: "a new long password" });
        assert.deepEqual(fs.readFileSync(file, "utf8").trimEnd().split("\n").map((l) => l.split(":")[0]), ["alice"]);
        runScript(PASSWORDS);
    });
    test("nothing on stdin fails", () => {
        const x = spawnSync("bash", ["-c", htpasswdScript], { input: "", env: { ...process.env, BERTH_ROOT: root }, encoding: "utf8" });
        assert.equal(x.status, 64);
    });

    // A real nginx serving the generated HTTPS site on a loopback port, the
    // upstream a node server on the site's unix socket answering a page of
    // text, the password file the script above wrote.
    let nginx: ChildProcess | undefined;
    let app: http.Server | undefined;
    let port = 0;
    const d = tmpDir("nginx-live");
    before(async () => {
        const cert = path.join(d, "fullchain.pem");
        const key = path.join(d, "privkey.pem");
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=berth-test", "-days", "2", "-keyout", key, "-out", cert], { stdio: "pipe" });
        const sock = path.join(d, "app.sock");
        const body = "<html><body>" + "the app's page, secret token abc123 ".repeat(200) + "</body></html>";
        app = http.createServer((req, res) => {
            res.writeHead(200, { "Content-Type": "text/html" });
            res.end(req.url === cfg.release.healthPath ? "ok" : body);
        });
        await new Promise<void>((resolve) => app!.listen(sock, resolve));
        fs.chmodSync(sock, 0o666);
        const assets = path.join(d, "assets");
        fs.mkdirSync(assets, { mode: 0o755 });
        fs.writeFileSync(path.join(assets, "app.css"), "body { color: black; }\n".repeat(200));
        fs.mkdirSync(path.join(d, "public"), { mode: 0o755 });
        port = await new Promise<number>((resolve) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (s.address() as net.AddressInfo).port;
                s.close(() => resolve(p));
            });
        });
        const n = cfg.names;
        const upstream = path.join(d, "upstream.conf");
        fs.writeFileSync(upstream, site.upstreamFile(cfg).replace(n.webSocket, sock));
        const text = site
            .nginxSiteFile(cfg, "full")
            .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${port} ssl;`)
            .replace(/\n\s*listen \[::\]:443 ssl http2;/, "")
            .replaceAll(`/etc/letsencrypt/live/${n.certName}/fullchain.pem`, cert)
            .replaceAll(`/etc/letsencrypt/live/${n.certName}/privkey.pem`, key)
            .replaceAll(n.nginxUpstream, upstream)
            .replaceAll("/var/log/nginx/", `${d}/`)
            .replaceAll(`/etc/nginx/berth/${n.id}.htpasswd`, file)
            .replaceAll(`${n.root}/current/public`, path.join(d, "public"))
            .replace(/root \S+\/shared\/public;/, `root ${d};`);
        assert.doesNotMatch(text.replaceAll(file, "").replaceAll(d, ""), /\/etc\/|\/var\/log\/|\/srv\//, "a host path the test did not redirect");
        fs.writeFileSync(path.join(d, "site.conf"), text);
        const conf = path.join(d, "nginx.conf");
        fs.writeFileSync(conf, [`user www-data;`, `pid ${d}/nginx.pid;`, "error_log stderr;", "events {}", "http {", "    include /etc/nginx/mime.types;", "    gzip on;", `    include ${d}/site.conf;`, "}", ""].join("\n"));
        nginx = spawn("nginx", ["-p", d, "-c", conf, "-e", "stderr", "-g", "daemon off;"], { stdio: "inherit" });
        for (let i = 0; i < 50; i++) {
            const ok = await new Promise<boolean>((resolve) => net.connect(port, "127.0.0.1").on("connect", function (this: net.Socket) { this.destroy(); resolve(true); }).on("error", () => resolve(false)));
            if (ok) return;
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error("nginx did not start");
    });
    after(() => {
        nginx?.kill();
        app?.close();
    });
    // Asynchronous: the upstream answers from this process's event loop.
    const curl = async (p: string, auth?: string) => {
        const args = ["-sk", "--max-time", "10", "-o", "/dev/null", "-D", "-", "-H", "Accept-Encoding: gzip", "-H", `Host: ${cfg.domain}`, ...(auth ? ["-u", auth] : []), `https://127.0.0.1:${port}${p}`];
        const { stdout } = await promisify(execFile)("curl", args, { encoding: "utf8" });
        return { status: Number(/^HTTP\/\S+ (\d+)/.exec(stdout)![1]), gzip: /^content-encoding: gzip/im.test(stdout) };
    };
    test("401 without the password, 401 with a wrong one, 200 with each user's", async () => {
        assert.equal((await curl("/")).status, 401);
        assert.equal((await curl("/", "alice:wrong password")).status, 401);
        for (const [u, p] of Object.entries(PASSWORDS)) assert.equal((await curl("/", `${u}:${p}`)).status, 200, u);
        assert.equal((await curl("/assets/app.css")).status, 401, "assets are behind the gate too");
    });
    test("the health path answers without a password (through @app)", async () => {
        assert.equal((await curl(cfg.release.healthPath)).status, 200);
    });
    test("BREACH: what the app answers is never gzipped, though the client asks and nginx.conf turns gzip on; assets are", async () => {
        const auth = `alice:${PASSWORDS.alice}`;
        assert.equal((await curl("/", auth)).gzip, false, "a dynamic page was compressed");
        assert.equal((await curl("/assets/app.css", auth)).gzip, true, "an asset was not compressed");
    });
});

describe("berth:basicAuth in the program (mock runtime)", () => {
    let r: RunResult;
    let plain: RunResult;
    before(async () => {
        r = await runProgram(stackConfig("staging", { "berth:basicAuth": { alice: { secure: "v1" } } }));
        plain = await runProgram(stackConfig("staging"));
    });
    test("one BasicAuth; its command reads the password on stdin (a secret) and logs nothing; the HTTPS site waits for it", () => {
        assert.equal(r.error, undefined);
        const auth = byType(r, "berth:web:BasicAuth");
        assert.equal(auth.length, 1);
        const cmd = r.resources.find((x) => x.parent === auth[0].name && x.type === "command:remote:Command")!;
        assert.ok(cmd, "the BasicAuth has a command");
        assert.ok(isSecretWrapped(cmd.inputs.stdin), "stdin is not a secret");
        assert.equal(cmd.inputs.logging, "none");
        const https = r.resources.find((x) => x.type === "command:remote:Command" && x.name.endsWith("-site-https-https"))!;
        assert.ok(https.dependsOn.includes(cmd.name), `the HTTPS site does not wait for ${cmd.name}: ${https.dependsOn.join(", ")}`);
    });
    test("the password is in no non-secret input", () => {
        const leaks = r.resources.flatMap((x) => plainStrings(x.inputs).filter((p) => r.secrets.some((s) => s.length > 8 && p.value.includes(s))).map((p) => `${x.name}${p.path}`));
        assert.deepEqual(leaks, []);
    });
    test("a stack without the key has no BasicAuth and no auth_basic", () => {
        assert.equal(byType(plain, "berth:web:BasicAuth").length, 0);
        assert.ok(!JSON.stringify(plain.resources.map((x) => x.inputs)).includes("auth_basic"));
    });
});

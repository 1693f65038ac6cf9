/**
 * An app as `rails new` generates it (issue 16): the health probe as the
 * proxy sees it, JavaScript bundling, secrets and logs, assets across
 * releases. The generated bash runs for real against fixture directories in
 * a temporary root (paths of the host rewritten into it), with fakes only
 * for what would change the machine (systemctl, journalctl, dpkg-query).
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { flatten, withShebang } from "../../lib/shell";
import { HOST_LOCK } from "../../lib/names";
import { PROXY_HEADERS } from "../../lib/proxy";
import * as release from "../../components/app/release";
import * as sw from "../../components/app/switch";
import { appEnv } from "../../components/environment";
import { parseConfig } from "../../lib/config";
import { configFor, stackConfig } from "./harness";
import { expectShellcheckClean } from "./golden";

const SHA = "5f8008de1dd704ea09395bd87621f1d32eeac017";

/** A script of `cfg` with the host's paths moved under `tmp`. */
function rehome(cfg: BerthConfig, text: string, tmp: string): string {
    return text
        .split(cfg.names.root)
        .join(path.join(tmp, "root"))
        .split(cfg.names.runDir)
        .join(path.join(tmp, "run"))
        .split(HOST_LOCK)
        .join(path.join(tmp, "host.lock"));
}

function fakeBin(tmp: string, tools: Record<string, string>): string {
    const bin = path.join(tmp, "bin");
    fs.mkdirSync(bin, { recursive: true });
    for (const [name, body] of Object.entries(tools)) fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    return bin;
}

function bash(text: string, opts: { cwd?: string; path?: string } = {}) {
    return spawnSync("bash", ["-c", text], { encoding: "utf8", cwd: opts.cwd, env: { ...process.env, PATH: `${opts.path ? `${opts.path}:` : ""}${process.env.PATH}` } });
}

// ---------------------------------------------------------------------------

describe("health as the proxy sees it (the probe through the instance's socket)", () => {
    const cfg = configFor("staging", { "berth:healthTimeout": 2 });
    const SERVER = `
import http.server, socketserver, sys, os
sock, mode, host = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, location=None):
        self.send_response(code)
        if location: self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        # Rails force_ssl: plain HTTP is redirected unless the proxy says https.
        if mode == "force_ssl" and self.headers.get("X-Forwarded-Proto") != "https":
            return self.answer(301, "https://%s%s" % (self.headers.get("Host"), self.path))
        if mode == "redirect":
            return self.answer(301, "https://%s%s" % (self.headers.get("Host"), self.path))
        if mode == "error":
            return self.answer(500)
        # config.hosts: only the domain is served.
        if self.headers.get("Host") != host:
            return self.answer(403)
        return self.answer(200)
    def log_message(self, *a): pass
    def address_string(self): return "unix"
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
if os.path.exists(sock): os.unlink(sock)
S(sock, H).serve_forever()
`;
    let tmp = "";
    let server: ChildProcess | undefined;
    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-probe-"));
        fs.writeFileSync(path.join(tmp, "server.py"), SERVER);
        fs.mkdirSync(path.join(tmp, "run"));
        fs.mkdirSync(path.join(tmp, "root", "slots"), { recursive: true });
        fs.mkdirSync(path.join(tmp, "root", "releases", SHA), { recursive: true });
        fs.writeFileSync(path.join(tmp, "root", "releases", SHA, release.BUILT_MARKER), "");
        fakeBin(tmp, {
            // Nothing runs yet (is-active fails), nothing has failed; start/stop/reset-failed do nothing.
            systemctl: 'case "$1" in is-active) exit 3 ;; is-failed) exit 1 ;; *) exit 0 ;; esac',
            journalctl: "echo 'the app log line'",
        });
    });
    after(() => {
        server?.kill();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    async function serve(mode: string | undefined): Promise<void> {
        server?.kill();
        server = undefined;
        const sock = path.join(tmp, "run", "blue.sock");
        fs.rmSync(sock, { force: true });
        if (!mode) return;
        server = spawn("python3", [path.join(tmp, "server.py"), sock, mode, cfg.domain], { stdio: "ignore" });
        for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(fs.existsSync(sock), "the test server did not start");
    }

    function prepare() {
        const text = rehome(cfg, sw.prepareScript(cfg, { sha: SHA, envHash: "e".repeat(64), unitsHash: "u".repeat(64) }), tmp);
        return bash(text, { path: path.join(tmp, "bin") });
    }

    test("the probe sends every header of lib/proxy.ts's table, with the primary domain", () => {
        const text = sw.prepareScript(cfg, { sha: SHA, envHash: "e".repeat(64), unitsHash: "u".repeat(64) });
        const probe = text.split("\n").find((l) => l.startsWith("probe() {"));
        assert.ok(probe);
        for (const h of PROXY_HEADERS) assert.ok(probe.includes(`-H '${h.name}: ${h.probe(cfg.domain)}'`), h.name);
        assert.ok(probe.includes(`http://${cfg.domain}/up`));
    });
    test("a force_ssl app (301 to plain HTTP) is healthy: the probe says https, as nginx does", async () => {
        await serve("force_ssl");
        const r = prepare();
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /berth: release \S+ is healthy on blue/);
    });
    test("an app that redirects anyway fails, and the message says it redirected and where", async () => {
        await serve("redirect");
        const r = prepare();
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`^berth: release ${SHA} is unhealthy: /up answered 301 to https://${cfg.domain.replace(/\./g, "\\.")}/up — the app redirects the probe \\(force_ssl without X-Forwarded-Proto\\? config\\.hosts\\?\\)`, "m"));
        assert.match(r.stderr, /X-Forwarded-Proto: https/);
        assert.match(r.stderr, /the app log line/);
    });
    test("a 500 is reported as the last answer", async () => {
        await serve("error");
        const r = prepare();
        assert.equal(r.status, 1);
        assert.match(r.stderr, /\/up on blue \(127\.0\.0\.1:\d+\) did not answer 200 within 2s \(last answer: 500\)/);
    });
    test("nothing listening is 'no answer'", async () => {
        await serve(undefined);
        const r = prepare();
        assert.equal(r.status, 1);
        assert.match(r.stderr, /did not answer 200 within 2s \(no answer\)/);
    });
    test("an app that checks the host name is healthy under the primary domain", async () => {
        await serve("hosts");
        const r = prepare();
        assert.equal(r.status, 0, r.stderr);
    });
});

// ---------------------------------------------------------------------------

describe("JavaScript bundling: what the checkout detects, installs and refuses", () => {
    const cfg = configFor("staging");
    function detect(files: Record<string, string>, opts: { yarnVersion?: string; installed?: boolean } = {}) {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-js-"));
        try {
            const app = path.join(tmp, "app");
            fs.mkdirSync(app);
            fs.mkdirSync(path.join(tmp, "root"));
            for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(app, f), text);
            fs.writeFileSync(path.join(tmp, "os-release"), 'ID=debian\nVERSION_ID="13"\n');
            const installed = opts.installed ?? true;
            const bin = fakeBin(tmp, {
                "dpkg-query": `case "$*" in *Version*) echo ${JSON.stringify(opts.yarnVersion ?? "4.1.0+dfsg-1")} ;; *) ${installed ? "echo 'install ok installed'" : "exit 1"} ;; esac`,
                "apt-get": `echo "apt-get $*" >> ${JSON.stringify(path.join(tmp, "apt.log"))}`,
            });
            const lines = flatten(release.jsDetectLines(cfg, app, SHA)).join("\n");
            const text = rehome(cfg, `set -euo pipefail\nexport BERTH_OS_RELEASE=${JSON.stringify(path.join(tmp, "os-release"))}\n${lines}\necho "js=$js"`, tmp);
            const r = bash(text, { path: bin });
            const yarn = path.join(tmp, "root", "bin", "yarn");
            return {
                ...r,
                js: /^js=(.*)$/m.exec(r.stdout)?.[1],
                apt: fs.existsSync(path.join(tmp, "apt.log")) ? fs.readFileSync(path.join(tmp, "apt.log"), "utf8") : "",
                yarnShim: fs.existsSync(path.join(tmp, "root", "bin")) ? fs.readlinkSync(yarn) : undefined,
            };
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    const pkg = { "package.json": '{"name":"app","private":true,"scripts":{"build":"esbuild app/javascript/*.* --bundle --outdir=app/assets/builds"}}' };
    test("shellcheck-clean", () => expectShellcheckClean("js detect", withShebang(flatten(release.jsDetectLines(cfg, "/srv/app", SHA)).join("\n") + "\n")));
    test("importmap (no package.json): nothing", () => {
        const r = detect({ Gemfile: "" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.js, "");
        assert.equal(r.apt, "");
    });
    test("package-lock.json: npm", () => assert.equal(detect({ ...pkg, "package-lock.json": "{}" }).js, "npm"));
    test("a Yarn 1 lockfile on Yarn 1: yarn, with a `yarn` for jsbundling's `yarn build`", () => {
        const r = detect({ ...pkg, "yarn.lock": "# yarn lockfile v1\n" }, { yarnVersion: "1.22.19+~cs24.27.18-2+deb12u1" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.js, "yarn");
        assert.equal(r.yarnShim, release.YARNPKG);
    });
    test("a berry lockfile (__metadata:) on Yarn 4: yarn-berry", () => {
        assert.equal(detect({ ...pkg, "yarn.lock": "__metadata:\n  version: 8\n" }).js, "yarn-berry");
    });
    test("a Yarn 1 lockfile on Debian 13's Yarn 4 is refused before the build, naming both", () => {
        const r = detect({ ...pkg, "yarn.lock": "# yarn lockfile v1\n" }, { yarnVersion: "4.1.0+dfsg-1" });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /yarn\.lock is a Yarn 1 lockfile, and this host's yarnpkg is Yarn 4/);
    });
    test("a berry lockfile on Yarn 1 needs the committed Yarn (yarnPath)", () => {
        const files = { ...pkg, "yarn.lock": "__metadata:\n  version: 6\n" };
        assert.equal(detect(files, { yarnVersion: "1.22.19+~cs24.27.18-2+deb12u1" }).status, 1);
        assert.equal(detect({ ...files, ".yarnrc.yml": "yarnPath: .yarn/releases/yarn-3.6.4.cjs\n" }, { yarnVersion: "1.22.19-1" }).js, "yarn-berry");
    });
    for (const lock of ["bun.lockb", "bun.lock"]) {
        test(`${lock}: refused, naming the lockfile and suggesting npm or yarn`, () => {
            const r = detect({ ...pkg, [lock]: "x" });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /bun's \(bun\.lockb\/bun\.lock\), and bun is not packaged by the host OS\. Commit a package-lock\.json \(npm install\) or a yarn\.lock/);
        });
    }
    test("missing Node packages are installed from the OS (Debian 13 names)", () => {
        const r = detect({ ...pkg, "package-lock.json": "{}" }, { installed: false });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.apt, /apt-get install .* nodejs npm yarnpkg/);
    });
    test("the build runs the lockfile-exact install before assets:precompile, with the caches under shared/", () => {
        const steps = release.buildSteps(cfg);
        const js = steps.findIndex((s) => s.includes("npm ci"));
        assert.ok(js > 0 && js < steps.indexOf("bin/rails assets:precompile"));
        assert.match(steps[js], /npm_config_cache=\/srv\/berth\/shop-staging\/shared\/npm-cache/);
        assert.match(steps[js], /yarnpkg install --frozen-lockfile/);
        assert.match(steps[js], /yarnpkg install --immutable/);
        assert.match(steps[js], /YARN_CACHE_FOLDER=\/srv\/berth\/shop-staging\/shared\/yarn-cache/);
        assert.ok(!release.buildSteps(configFor("staging", { "berth:preset": "generic", "berth:webCommand": "/usr/bin/app" })).some((s) => s.includes("BERTH_JS")));
    });
    test("the build step picks the command from BERTH_JS (npm, as the app user would run it)", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-jsstep-"));
        try {
            const bin = fakeBin(tmp, { npm: 'echo "npm $* cache=$npm_config_cache skip=$SKIP_YARN_INSTALL"', yarnpkg: 'echo "yarnpkg $*"' });
            const step = release.jsInstallStep(cfg);
            const run = (js: string) => spawnSync("bash", ["-c", `set -euo pipefail\n${step}`], { encoding: "utf8", env: { ...process.env, BERTH_JS: js, PATH: `${bin}:${process.env.PATH}` } }).stdout.trim();
            assert.equal(run("npm"), "berth: npm ci --no-audit --no-fund\nnpm ci --no-audit --no-fund cache=/srv/berth/shop-staging/shared/npm-cache skip=1");
            assert.equal(run("yarn"), "berth: yarnpkg install --frozen-lockfile --non-interactive\nyarnpkg install --frozen-lockfile --non-interactive");
            assert.equal(run("yarn-berry"), "berth: yarnpkg install --immutable\nyarnpkg install --immutable");
            assert.equal(run(""), "");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
});

// ---------------------------------------------------------------------------

describe("Rails secrets and logs", () => {
    const s = { databaseUrl: "postgres://db", redisUrl: "redis://r", secretKeyBase: "generated-by-berth" };
    test("berth's generated SECRET_KEY_BASE is used when secretEnv has none", () => {
        assert.equal(appEnv(configFor("staging"), s).SECRET_KEY_BASE, "generated-by-berth");
    });
    test("secretEnv.SECRET_KEY_BASE (an app moving to berth keeps its sessions) wins", () => {
        const cfg = configFor("staging", { "berth:secretEnv": { SECRET_KEY_BASE: { secure: "x" }, RAILS_MASTER_KEY: { secure: "y" } } });
        assert.ok(cfg.secretEnv.SECRET_KEY_BASE);
        const env = appEnv(cfg, s);
        assert.equal(env.SECRET_KEY_BASE, cfg.secretEnv.SECRET_KEY_BASE);
        assert.equal(env.RAILS_MASTER_KEY, cfg.secretEnv.RAILS_MASTER_KEY);
    });
    test("plain berth:env refuses them, saying how to set them as secrets", () => {
        for (const key of ["SECRET_KEY_BASE", "RAILS_MASTER_KEY"]) {
            const sc = stackConfig("staging", { "berth:env": { [key]: "not-so-secret" } });
            const r = parseConfig(sc.values, { project: "berth", stack: "staging", secretKeys: new Set(sc.secretKeys) });
            assert.ok(!r.ok);
            assert.ok(
                r.errors.includes(`berth:env.${key}: "${key}" is a secret and cannot be plain config: use pulumi config set --secret --path secretEnv.${key}`),
                r.errors.join("\n"),
            );
        }
    });
    test("what berth sets stays refused in secretEnv too", () => {
        const sc = stackConfig("staging", { "berth:secretEnv": { DATABASE_URL: { secure: "x" } } });
        const r = parseConfig(sc.values, { project: "berth", stack: "staging", secretKeys: new Set(sc.secretKeys) });
        assert.ok(!r.ok && r.errors.some((e) => e.includes("is set by berth")));
    });
    test("the Rails preset logs to STDOUT (the journal) for the units, the build and the release command; berth:env may say otherwise", () => {
        assert.equal(appEnv(configFor("staging"), s).RAILS_LOG_TO_STDOUT, "1");
        assert.equal(appEnv(configFor("staging", { "berth:env": { RAILS_LOG_TO_STDOUT: "" } }), s).RAILS_LOG_TO_STDOUT, "");
        assert.ok(!("RAILS_LOG_TO_STDOUT" in appEnv(configFor("staging", { "berth:preset": "generic", "berth:webCommand": "/usr/bin/app" }), s)));
    });
});

// ---------------------------------------------------------------------------

describe("assets across releases (linked into the union, pruned with the releases)", () => {
    function setup(tmp: string) {
        const root = path.join(tmp, "root");
        const union = path.join(root, "shared", "public", "assets");
        fs.mkdirSync(union, { recursive: true });
        fs.mkdirSync(path.join(root, "slots"), { recursive: true });
        const rel = (name: string, day: number, files: Record<string, string> | "legacy") => {
            const d = path.join(root, "releases", name);
            fs.mkdirSync(path.join(d, "public"), { recursive: true });
            if (files === "legacy") fs.symlinkSync(union, path.join(d, "public", "assets"));
            else
                for (const [f, text] of Object.entries(files)) {
                    fs.mkdirSync(path.dirname(path.join(d, "public", "assets", f)), { recursive: true });
                    fs.writeFileSync(path.join(d, "public", "assets", f), text);
                }
            const t = new Date(Date.UTC(2026, 0, day));
            fs.utimesSync(d, t, t);
            return d;
        };
        // An earlier berth's union: every release compiled into it, manifests included.
        fs.writeFileSync(path.join(union, "app-old.css"), "old");
        fs.writeFileSync(path.join(union, ".sprockets-manifest-0123.json"), "{}");
        const shas = { legacy: "a".repeat(40), a: "b".repeat(40), b: "c".repeat(40), c: "d".repeat(40) };
        rel(shas.legacy, 1, "legacy");
        rel(shas.a, 2, { "app-aaa.css": "a", ".manifest.json": '{"a":1}', "img/logo-111.svg": "logo" });
        rel(shas.b, 3, { "app-bbb.css": "b", ".manifest.json": '{"b":1}', "img/logo-111.svg": "logo", "tinymce.js": "b" });
        rel(shas.c, 4, { "app-ccc.css": "c", ".manifest.json": '{"c":1}', "tinymce.js": "c" });
        return { root, union, shas };
    }
    const listUnion = (union: string) =>
        (fs.readdirSync(union, { recursive: true }) as string[]).filter((f) => !fs.statSync(path.join(union, f)).isDirectory()).sort();
    const ino = (p: string) => fs.statSync(p).ino;

    function link(cfg: BerthConfig, tmp: string, relDir: string, pathPrefix?: string) {
        const text = rehome(cfg, flatten(release.linkAssetsLines(cfg, relDir.split(path.join(tmp, "root")).join(cfg.names.root))).join("\n"), tmp);
        const r = bash(`set -euo pipefail\n${text}`, { path: pathPrefix });
        assert.equal(r.status, 0, r.stderr);
    }
    function prune(cfg: BerthConfig, tmp: string) {
        const r = bash(`set -euo pipefail\n${rehome(cfg, sw.pruneLines(cfg).join("\n"), tmp)}`);
        assert.equal(r.status, 0, r.stderr);
        return r;
    }

    test("each release keeps its own manifest; the union gets hard links of its files, never the manifests", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-assets-"));
        try {
            const cfg = configFor("staging", { "berth:keepReleases": 3 });
            const { root, union, shas } = setup(tmp);
            for (const s of [shas.a, shas.b, shas.c]) link(cfg, tmp, path.join(root, "releases", s));
            assert.deepEqual(listUnion(union), [".sprockets-manifest-0123.json", "app-aaa.css", "app-bbb.css", "app-ccc.css", "app-old.css", "img/logo-111.svg", "tinymce.js"]);
            assert.equal(ino(path.join(union, "app-ccc.css")), ino(path.join(root, "releases", shas.c, "public/assets/app-ccc.css")));
            // An undigested name: the newest build's copy.
            assert.equal(fs.readFileSync(path.join(union, "tinymce.js"), "utf8"), "c");
            // The legacy release's link is left alone: linking it is a no-op.
            link(cfg, tmp, path.join(root, "releases", shas.legacy));
            assert.ok(fs.lstatSync(path.join(root, "releases", shas.legacy, "public/assets")).isSymbolicLink());
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
    test("releases/ and shared/ on different filesystems (ln fails with EXDEV): the files are copied into the union instead", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-assets-"));
        try {
            const cfg = configFor("staging", { "berth:keepReleases": 3 });
            const { root, union, shas } = setup(tmp);
            // An ln that fails as across filesystems; cp and mv are the real ones.
            const bin = path.join(tmp, "bin");
            fs.mkdirSync(bin);
            fs.writeFileSync(path.join(bin, "ln"), "#!/bin/sh\necho \"ln: failed to create hard link: Invalid cross-device link\" >&2\nexit 1\n", { mode: 0o755 });
            link(cfg, tmp, path.join(root, "releases", shas.b), bin);
            link(cfg, tmp, path.join(root, "releases", shas.c), bin);
            const copied = path.join(union, "app-ccc.css");
            assert.equal(fs.readFileSync(copied, "utf8"), fs.readFileSync(path.join(root, "releases", shas.c, "public/assets/app-ccc.css"), "utf8"));
            assert.notEqual(ino(copied), ino(path.join(root, "releases", shas.c, "public/assets/app-ccc.css")), "a copy, not a link");
            assert.equal(fs.readFileSync(path.join(union, "img/logo-111.svg"), "utf8"), "logo", "subdirectories too");
            assert.equal(fs.readFileSync(path.join(union, "tinymce.js"), "utf8"), "c", "an existing name is replaced by the newer copy");
            assert.ok(!listUnion(union).some((f) => f.includes(".berth-new")), "no temporary copy left");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
    test("while a release of an earlier berth is kept, the union is kept whole", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-assets-"));
        try {
            const cfg = configFor("staging", { "berth:keepReleases": 3 });
            const { root, union, shas } = setup(tmp);
            for (const s of [shas.a, shas.b, shas.c]) link(cfg, tmp, path.join(root, "releases", s));
            fs.symlinkSync(path.join(root, "releases", shas.legacy), path.join(root, "current")); // rolled back to it
            const before = listUnion(union);
            const r = prune(cfg, tmp);
            assert.match(r.stdout, /kept .* whole: release a{40} links it/);
            assert.deepEqual(listUnion(union), before);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
    test("once it is pruned (never through its link), the union holds exactly what the kept releases have", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-assets-"));
        try {
            const cfg = configFor("staging", { "berth:keepReleases": 3 });
            const { root, union, shas } = setup(tmp);
            for (const s of [shas.a, shas.b, shas.c]) link(cfg, tmp, path.join(root, "releases", s));
            fs.symlinkSync(path.join(root, "releases", shas.c), path.join(root, "current"));
            const r = prune(cfg, tmp);
            assert.match(r.stdout, /pruned .*a{40}/);
            assert.ok(!fs.existsSync(path.join(root, "releases", shas.legacy)));
            assert.match(r.stdout, /pruned 2 files from/);
            assert.deepEqual(listUnion(union), ["app-aaa.css", "app-bbb.css", "app-ccc.css", "img/logo-111.svg", "tinymce.js"]);

            // Fewer kept: current (c) and a slot (a, a rollback target) stay, b goes.
            const one = configFor("staging", { "berth:keepReleases": 1 });
            fs.symlinkSync(path.join(root, "releases", shas.a), path.join(root, "slots", "blue"));
            prune(one, tmp);
            assert.deepEqual(fs.readdirSync(path.join(root, "releases")).sort(), [shas.a, shas.c]);
            assert.deepEqual(listUnion(union), ["app-aaa.css", "app-ccc.css", "img/logo-111.svg", "tinymce.js"]);

            // Only c: its files, and the emptied directory goes too.
            fs.rmSync(path.join(root, "slots", "blue"));
            prune(one, tmp);
            assert.deepEqual(listUnion(union), ["app-ccc.css", "tinymce.js"]);
            assert.ok(!fs.existsSync(path.join(union, "img")));
            // The serving release's files are untouched (same inode, same content).
            assert.equal(fs.readFileSync(path.join(root, "releases", shas.c, "public/assets/app-ccc.css"), "utf8"), "c");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
    test("the checkout links after the build and before the release is marked built; nothing links public/assets to shared/ any more", () => {
        const text = release.checkoutScript(configFor("staging"), SHA);
        const link = text.indexOf("ln -f -t");
        assert.ok(link > text.indexOf("mv -T") && link < text.indexOf(`touch /srv/berth/shop-staging/releases/${SHA}/${release.BUILT_MARKER}`));
        assert.doesNotMatch(text, /ln -s \/srv\/berth\/shop-staging\/shared\/public\/assets/);
    });
});

/**
 * Supported host releases (lib/os.ts): every package name berth can install
 * exists on every release (the release's package list in
 * test/fixtures/packages/), the generated os-release lines pick the
 * release's names and refuse others (run with real bash against os-release
 * fixtures), the Docker engine step installs what the release needs, and
 * the nginx hardening works on each release's nginx.conf (real nginx -t).
 */
import { describe, test, before } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { spawnSync } from "node:child_process";
import * as hostOs from "../../lib/os";
import * as host from "../../components/host/host";
import * as mesh from "../../components/host/meshScripts";
import * as backup from "../../components/data/backup";
import * as cert from "../../components/web/certificate";
import * as role from "../../components/data/postgresRole";
import { HOST_LOCK, NGINX_HARDENING_CONF, NGINX_HARDENING_DROPIN, NGINX_MAIN_CONF } from "../../lib/names";
import { filesOf, scriptOf, unquoteWord } from "../../cli/support/declared";
import { BerthConfig } from "../../lib/config";
import { expectShellcheckClean, GOLDEN_DIR } from "./golden";
import { configFor, ROOT, runProgram, stackConfig, unwrap } from "./harness";
import { withShebang } from "../../lib/shell";

const FIXTURES = path.join(ROOT, "test", "fixtures");
const RELEASE_KEYS = ["debian:12", "debian:13", "ubuntu:24.04"] as const;
const LIST_FILE: Record<string, string> = { "debian:12": "debian-12.txt.gz", "debian:13": "debian-13.txt.gz", "ubuntu:24.04": "ubuntu-24.04.txt" };

function packageList(key: string): Set<string> {
    const file = path.join(FIXTURES, "packages", LIST_FILE[key]);
    const raw = fs.readFileSync(file);
    const text = file.endsWith(".gz") ? zlib.gunzipSync(raw).toString("utf8") : raw.toString("utf8");
    const names = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.ok(names.length > 20, `${file} holds ${names.length} names`);
    return new Set(names);
}

function tmp(label: string): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), `berth-os-${label}-`));
}

// ---------------------------------------------------------------------------
// Package names out of generated scripts
// ---------------------------------------------------------------------------

/** Splits a shell line into words (quotes kept, as unquoteWord wants them). */
function words(line: string): string[] {
    return line.match(/(?:'[^']*'|"[^"]*"|[^\s'"])+/g) ?? [];
}

/**
 * The package names each apt-get install line of `script` installs, per
 * release: literal names, and the bash arrays it expands (`"${missing[@]}"`
 * is what is missing of `wanted`), read from their assignments, plain
 * (`wanted=(a b)`, every release) or in a `case "$host_os"` branch
 * (`debian:13|...) wanted=(a b) ;;`). Throws on an array it cannot resolve,
 * so no install escapes the check.
 */
function installsOf(script: string): { lines: number; names: Map<string, Set<string>> } {
    const arrays = new Map<string, Map<string, string[]>>();
    const set = (v: string, key: string, list: string) => {
        const m = arrays.get(v) ?? new Map<string, string[]>();
        m.set(key, words(list).map(unquoteWord));
        arrays.set(v, m);
    };
    const names = new Map<string, Set<string>>(RELEASE_KEYS.map((k) => [k, new Set<string>()]));
    let lines = 0;
    const installs: string[][] = [];
    for (const line of script.split("\n")) {
        const branch = /^\s*([a-z0-9.:|]+)\)\s+([A-Za-z_]\w*)=\((.*)\)\s*;;\s*$/.exec(line);
        if (branch) {
            for (const k of branch[1].split("|")) set(branch[2], k, branch[3]);
            continue;
        }
        const plain = /^\s*([A-Za-z_]\w*)=\((.*)\)\s*$/.exec(line);
        if (plain) set(plain[1], "*", plain[2]);
        if (!/\bapt-get\b.*\binstall\b/.test(line)) continue;
        const w = words(line.slice(line.indexOf("apt-get")));
        const at = w.indexOf("install");
        assert.ok(at > 0, `cannot read ${line}`);
        installs.push(w.slice(at + 1));
        lines++;
    }
    for (const args of installs) {
        const literal: string[] = [];
        const refs: string[] = [];
        for (let i = 0; i < args.length; i++) {
            const a = args[i];
            if (a === "-o") i++;
            else if (a.startsWith("-")) continue;
            else if (/^(\d?>|>|\||&&|;|\))/.test(a)) break;
            else {
                const ref = /^"?\$\{(\w+)\[@\]\}"?$/.exec(a);
                if (ref) refs.push(ref[1] === "missing" ? "wanted" : ref[1]);
                else literal.push(unquoteWord(a));
            }
        }
        if (refs.includes("wanted")) assert.match(script, /for p in "\$\{wanted\[@\]\}"; do\n.*missing\+=\("\$p"\)/, "missing is built from wanted");
        for (const k of RELEASE_KEYS) {
            const out = names.get(k)!;
            literal.forEach((n) => out.add(n));
            for (const r of refs) {
                const m = arrays.get(r);
                const list = m?.get(k) ?? m?.get("*");
                assert.ok(list, `apt-get install expands \${${r}[@]}, which has no value for ${k} in the script`);
                list.forEach((n) => out.add(n));
            }
        }
    }
    return { lines, names };
}

/** Every generated script: the golden files, every command of the programs, and the scripts no golden holds. */
async function allScripts(): Promise<{ label: string; text: string }[]> {
    const out: { label: string; text: string }[] = [];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else out.push({ label: `golden ${path.relative(GOLDEN_DIR, p)}`, text: fs.readFileSync(p, "utf8") });
        }
    };
    walk(GOLDEN_DIR);
    for (const [stack, file] of [["staging", undefined], ["production", undefined], ["fleet", "examples/Pulumi.fleet.yaml"]] as const) {
        const r = await runProgram(stackConfig(stack, {}, file));
        assert.equal(r.error, undefined, `${stack}: ${r.error?.message}`);
        for (const res of r.resources.filter((x) => x.type === "command:remote:Command")) {
            for (const k of ["create", "delete", "update"]) {
                const v = unwrap(res.inputs[k]);
                if (typeof v === "string") out.push({ label: `${stack} ${res.name} ${k}`, text: scriptOf(v) });
            }
        }
    }
    const cfg = configFor("staging");
    out.push({ label: "external role", text: role.externalRoleScript(cfg, role.parseAdminUrl("postgres://admin:pw0123456789abcdef@db.example.net:5432/postgres")) });
    return out;
}

/** berth:packages of the stacks the scripts come from: the user's names, not berth's (checked by apt on the user's host). */
/**
 * The user's own package names (berth:packages, and an accessory's
 * build.debianPackages, installed inside its image FROM build.from): theirs
 * to choose for their hosts and images, not checked against berth's lists.
 */
function userPackages(): Set<string> {
    const cfgs: BerthConfig[] = [configFor("staging"), configFor("production"), configFor("fleet", {}, "examples/Pulumi.fleet.yaml"), configFor("accessories", {}, "examples/Pulumi.accessories.yaml")];
    return new Set(cfgs.flatMap((c) => [...c.packages, ...Object.values(c.accessories ?? {}).flatMap((a) => a.build?.debianPackages ?? [])]));
}

/** An accessory's image build: its apt-get runs inside the image (FROM build.from), not on the host. */
const insideImage = (label: string) => /accessories\/(accessory-build\.sh|[^/]+\.Dockerfile)$/.test(label);

describe("every package name berth installs exists on every supported release", () => {
    let scripts: { label: string; text: string }[] = [];
    before(async () => {
        scripts = await allScripts();
    });

    test("the table's names", () => {
        const logical = [...host.BASE_PACKAGES, ...host.RAILS_PACKAGES, ...mesh.MESH_PACKAGES, ...backup.BACKUP_PACKAGES, cert.CLOUDFLARE_PLUGIN_PACKAGE, "postgresql-client", ...Object.keys(hostOs.RELEASE_PACKAGES)];
        for (const key of RELEASE_KEYS) {
            const list = packageList(key);
            const names = hostOs.packageNames(logical, key);
            const missing = names.filter((n) => !list.has(n));
            assert.deepEqual(missing, [], `not in ${LIST_FILE[key]}`);
            for (const [l, per] of Object.entries(hostOs.RELEASE_PACKAGES)) assert.ok(per[key].length > 0, `${l} has no package on ${key}`);
        }
    });

    test("every name any generated script's apt-get install line installs", () => {
        const user = userPackages();
        const lists = new Map(RELEASE_KEYS.map((k) => [k, packageList(k)]));
        const problems: string[] = [];
        const seen = new Set<string>();
        let installing = 0;
        for (const s of scripts) {
            const { lines, names } = installsOf(s.text);
            if (lines === 0) continue;
            installing++;
            for (const k of RELEASE_KEYS) {
                const own = [...names.get(k)!].filter((n) => !user.has(n));
                assert.ok(names.get(k)!.size > 0, `${s.label}: installs nothing on ${k}?`);
                for (const n of own) {
                    seen.add(n);
                    if (!lists.get(k)!.has(n)) problems.push(`${s.label}: ${n} does not exist on ${k}`);
                }
            }
        }
        assert.deepEqual([...new Set(problems)], []);
        // The parser found the installs it must find (else this test proves nothing).
        for (const n of ["ufw", "nginx", "ruby", "docker.io", "docker-cli", "pkgconf", "pkg-config", "wireguard-go", "restic", "python3-certbot-dns-cloudflare", "postgresql-client"]) {
            assert.ok(seen.has(n), `no script installs ${n}`);
        }
        assert.ok(installing >= 6, `${installing} scripts install packages`);
    });

    test("a hard-coded name in an apt-get install line is found", () => {
        const { names } = installsOf("apt-get install -y -q -o DPkg::Lock::Timeout=600 'not-a-package' >/dev/null");
        assert.deepEqual([...names.get("debian:13")!], ["not-a-package"]);
        assert.throws(() => installsOf('apt-get install -y "${pkgs[@]}"'), /no value for debian:12/);
    });

    test("every script that installs packages reads os-release first and refuses an unsupported release", () => {
        // Indentation aside (the lines may sit in an `if`).
        const flat = (t: string) => t.split("\n").map((l) => l.trim()).join("\n");
        const detect = flat(hostOs.osDetectLines().join("\n"));
        for (const s of scripts) {
            if (installsOf(s.text).lines === 0 || insideImage(s.label)) continue;
            const text = flat(s.text);
            const at = text.indexOf(detect);
            assert.ok(at >= 0, `${s.label} installs packages without the os-release lines`);
            assert.ok(at < text.search(/apt-get install/), `${s.label}: os-release is read after apt-get install`);
        }
    });
});

// ---------------------------------------------------------------------------
// The generated lines, run with real bash
// ---------------------------------------------------------------------------

/** stdin not a socket: bash runs ~/.bashrc when its stdin is one (a "remote shell"), and Node's pipes are socketpairs. */
const NO_STDIN: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];

function runBash(text: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync("/bin/bash", ["-c", text], { encoding: "utf8", env: { PATH: process.env.PATH, ...env }, stdio: NO_STDIN });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const osRelease = (name: string) => path.join(FIXTURES, "os-release", name);

describe("os-release detection", () => {
    const probe = ["set -euo pipefail", ...hostOs.osDetectLines(), ...hostOs.osPackagesCase("pkgs", ["docker-engine", "pkg-config", "js-bundling", "ufw"]), ...hostOs.osCase("ruby", (r) => r.ruby), 'echo "$host_os ruby $ruby: ${pkgs[*]}"'].join("\n") + "\n";

    test("is shellcheck-clean", () => expectShellcheckClean("os detection", withShebang(probe)));

    test("each supported release gets its own package names and Ruby", () => {
        const expected: Record<string, string> = {
            "debian-12": "debian:12 ruby 3.1: docker.io pkg-config nodejs npm yarnpkg ufw",
            "debian-13": "debian:13 ruby 3.3: docker.io docker-cli pkgconf nodejs npm yarnpkg ufw",
            "ubuntu-24.04": "ubuntu:24.04 ruby 3.2: docker.io pkgconf nodejs npm yarnpkg ufw",
        };
        for (const [fixture, line] of Object.entries(expected)) {
            const r = runBash(probe, { BERTH_OS_RELEASE: osRelease(fixture) });
            assert.equal(r.stderr, "", fixture);
            assert.equal(r.status, 0, fixture);
            assert.equal(r.stdout, `${line}\n`, fixture);
        }
    });

    test("an unsupported release stops with one line and exit 1", () => {
        const expected: Record<string, string> = {
            "debian-11": 'berth: unsupported host OS "Debian GNU/Linux 11 (bullseye)" (debian 11); berth supports Debian 12, Debian 13, Ubuntu 24.04\n',
            "ubuntu-22.04": 'berth: unsupported host OS "Ubuntu 22.04.5 LTS" (ubuntu 22.04); berth supports Debian 12, Debian 13, Ubuntu 24.04\n',
            "fedora-41": 'berth: unsupported host OS "Fedora Linux 41 (Server Edition)" (fedora 41); berth supports Debian 12, Debian 13, Ubuntu 24.04\n',
        };
        for (const [fixture, line] of Object.entries(expected)) {
            const r = runBash(probe, { BERTH_OS_RELEASE: osRelease(fixture) });
            assert.deepEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 1, stdout: "", stderr: line }, fixture);
        }
        const none = runBash(probe, { BERTH_OS_RELEASE: "/nonexistent/os-release" });
        assert.deepEqual({ status: none.status, stderr: none.stderr }, { status: 1, stderr: "berth: cannot read /nonexistent/os-release: berth supports Debian 12, Debian 13, Ubuntu 24.04\n" });
    });

    test("os-release's variables stay out of the script (sourced in a subshell)", () => {
        const r = runBash(["set -euo pipefail", "NAME=mine", ...hostOs.osDetectLines(), 'echo "$NAME ${ID:-unset}"'].join("\n"), { BERTH_OS_RELEASE: osRelease("debian-13") });
        assert.equal(r.stdout, "mine unset\n");
    });

    test("every generated step that installs refuses Debian 11 before it does anything", () => {
        const cfg = configFor("staging");
        const fleet = configFor("fleet", {}, "examples/Pulumi.fleet.yaml");
        const steps: Record<string, string> = {
            packages: host.packagesScript(cfg),
            "docker engine": host.dockerEngineScript(cfg),
            "mesh key": mesh.meshKeyScript(fleet, "shop-fleet-mesh-key"),
            "backup packages": backup.backupPackagesScript(cfg),
        };
        for (const [label, text] of Object.entries(steps)) {
            // PATH holds nothing: the refusal must come before any command runs.
            const r = spawnSync("/bin/bash", ["-c", text], { encoding: "utf8", env: { PATH: "/nonexistent", BERTH_OS_RELEASE: osRelease("debian-11") }, stdio: NO_STDIN });
            assert.deepEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 1, stdout: "", stderr: 'berth: unsupported host OS "Debian GNU/Linux 11 (bullseye)" (debian 11); berth supports Debian 12, Debian 13, Ubuntu 24.04\n' }, label);
        }
    });
});

// ---------------------------------------------------------------------------
// The Docker engine step, run against stub apt/dpkg
// ---------------------------------------------------------------------------

describe("Docker engine step (stub apt-get/dpkg-query; docker.io brings dockerd, and docker only where it still holds the CLI)", () => {
    /** Runs the step with only stubs and a few real tools on PATH; `installed`: packages dpkg reports. */
    function run(release: string, installed: string[]): { status: number | null; stderr: string; apt: string } {
        const d = tmp("docker");
        const bin = path.join(d, "bin");
        fs.mkdirSync(bin);
        for (const t of ["flock", "grep", "seq", "sleep", "cat", "chmod", "touch"]) {
            const real = spawnSync("bash", ["-c", `command -v ${t}`], { encoding: "utf8" }).stdout.trim();
            fs.symlinkSync(real, path.join(bin, t));
        }
        const cliInDockerIo = release !== "debian-13";
        const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
        const binary = (p: string) => `printf '#!/bin/bash\\nexit 0\\n' > ${path.join(bin, p)}; chmod 0755 ${path.join(bin, p)}`;
        stub("dpkg-query", `case " ${installed.join(" ")} " in *" \${@: -1} "*) printf 'install ok installed' ;; *) exit 1 ;; esac`);
        stub(
            "apt-get",
            [
                `echo "$*" >> ${d}/apt.log`,
                'for p in "$@"; do case "$p" in',
                `  docker.io) ${binary("dockerd")}${cliInDockerIo ? `; ${binary("docker")}` : ""} ;;`,
                `  docker-cli) ${binary("docker")} ;;`,
                "esac; done",
            ].join("\n"),
        );
        stub("systemctl", "exit 0");
        for (const p of installed) {
            if (p === "docker.io") {
                fs.writeFileSync(path.join(bin, "dockerd"), "#!/bin/bash\nexit 0\n", { mode: 0o755 });
                if (cliInDockerIo) fs.writeFileSync(path.join(bin, "docker"), "#!/bin/bash\nexit 0\n", { mode: 0o755 });
            }
            if (p === "docker-cli") fs.writeFileSync(path.join(bin, "docker"), "#!/bin/bash\nexit 0\n", { mode: 0o755 });
        }
        const text = host.dockerEngineScript(configFor("staging")).replaceAll(HOST_LOCK, path.join(d, "host.lock"));
        const r = spawnSync("/bin/bash", ["-c", text], { encoding: "utf8", env: { PATH: bin, BERTH_OS_RELEASE: osRelease(release) }, stdio: NO_STDIN });
        const apt = fs.existsSync(path.join(d, "apt.log")) ? fs.readFileSync(path.join(d, "apt.log"), "utf8") : "";
        fs.rmSync(d, { recursive: true, force: true });
        return { status: r.status, stderr: r.stderr, apt };
    }
    const install = (pkgs: string) => `update -q -o DPkg::Lock::Timeout=600\ninstall -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold ${pkgs}\n`;

    test("a fresh Debian 13 gets docker.io and docker-cli, and both commands", () => {
        const r = run("debian-13", []);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.apt, install("docker.io docker-cli"));
    });
    test("a Debian 13 host with docker.io but no CLI (left by an earlier berth) gets docker-cli", () => {
        const r = run("debian-13", ["docker.io"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.apt, install("docker-cli"));
    });
    test("Debian 12 and Ubuntu 24.04 get docker.io alone", () => {
        for (const rel of ["debian-12", "ubuntu-24.04"]) {
            const r = run(rel, []);
            assert.equal(r.status, 0, `${rel}: ${r.stderr}`);
            assert.equal(r.apt, install("docker.io"), rel);
        }
    });
    test("nothing is installed when docker and dockerd are both there", () => {
        const r = run("debian-13", ["docker.io", "docker-cli"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.apt, "");
    });
});

// ---------------------------------------------------------------------------
// nginx hardening on each release's nginx.conf (real nginx -t)
// ---------------------------------------------------------------------------

const NGINX = "/usr/sbin/nginx";
const LEGACY_CONTENT = "# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.\nserver_tokens off;\n";

describe("nginx hardening (run in a temp root with real nginx -t)", { skip: !fs.existsSync(NGINX) && "nginx is not installed" }, () => {
    interface Host {
        root: string;
        conf: string;
        legacy: string;
        log: string;
        run(): { status: number | null; stdout: string; stderr: string };
        /** The server_tokens directives nginx sees (`nginx -T`). */
        effective(): string[];
    }
    /** A host whose nginx.conf is `nginxConf` (paths moved into the temp root); `legacy`: the conf.d file an earlier berth wrote. */
    function makeHost(nginxConf: string, opts: { legacy?: boolean; brokenSite?: boolean } = {}): Host {
        const root = tmp("nginx");
        const etc = path.join(root, "etc", "nginx");
        for (const d of ["conf.d", "sites-enabled", "modules-enabled"]) fs.mkdirSync(path.join(etc, d), { recursive: true });
        fs.mkdirSync(path.join(root, "log"));
        fs.mkdirSync(path.join(root, "bin"));
        fs.copyFileSync("/etc/nginx/mime.types", path.join(etc, "mime.types"));
        const conf = path.join(root, NGINX_MAIN_CONF);
        fs.writeFileSync(conf, nginxConf.replaceAll("/etc/nginx/", `${etc}/`).replaceAll("/run/nginx.pid", `${root}/nginx.pid`).replaceAll("/var/log/nginx/", `${root}/log/`));
        const legacy = path.join(root, NGINX_HARDENING_CONF);
        if (opts.legacy) fs.writeFileSync(legacy, LEGACY_CONTENT);
        if (opts.brokenSite) fs.writeFileSync(path.join(etc, "sites-enabled", "broken"), "server { listen 8080; no_such_directive on; }\n");
        const log = path.join(root, "systemctl.log");
        fs.writeFileSync(path.join(root, "bin", "systemctl"), `#!/bin/bash\necho "$*" >> ${log}\ncase "$1" in is-active) exit 0 ;; esac\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(root, "bin", "nginx"), `#!/bin/bash\nexec ${NGINX} -p ${root} -c ${conf} -e stderr "$@"\n`, { mode: 0o755 });
        const text = host
            .nginxHardeningScript(configFor("staging"))
            .replaceAll(HOST_LOCK, path.join(root, "host.lock"))
            .replaceAll("/etc/", `${root}/etc/`);
        assert.doesNotMatch(text.replaceAll(`${root}/etc/`, ""), /\/etc\//, "a host path the test did not move");
        return {
            root,
            conf,
            legacy,
            log,
            run: () => {
                fs.rmSync(log, { force: true });
                const r = spawnSync("/bin/bash", ["-c", text], { encoding: "utf8", env: { PATH: `${root}/bin:${process.env.PATH}` }, stdio: NO_STDIN });
                return { status: r.status, stdout: r.stdout, stderr: r.stderr };
            },
            effective: () => {
                const r = spawnSync(path.join(root, "bin", "nginx"), ["-T"], { encoding: "utf8" });
                assert.equal(r.status, 0, r.stderr);
                return r.stdout.split("\n").map((l) => l.trim()).filter((l) => /^server_tokens\s/.test(l)).map((l) => l.replace(/\s*#.*$/, ""));
            },
        };
    }
    const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, "nginx", name), "utf8");
    const systemctl = (h: Host) => (fs.existsSync(h.log) ? fs.readFileSync(h.log, "utf8").trim().split("\n") : []);

    test("Debian 12 (commented `# server_tokens off;`): uncommented, no conf.d file, nginx -t passes; a second run changes nothing", () => {
        const h = makeHost(fixture("debian-12-nginx.conf"));
        const before = fs.readFileSync(h.conf, "utf8");
        const r = h.run();
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /nginx hardening updated/);
        const after = fs.readFileSync(h.conf, "utf8");
        assert.equal(after, before.replace("\t# server_tokens off;", "\tserver_tokens off;"));
        assert.ok(!fs.existsSync(h.legacy));
        assert.deepEqual(h.effective(), ["server_tokens off;"]);
        assert.ok(systemctl(h).includes("restart nginx"), "the new drop-in restarts nginx");
        const again = h.run();
        assert.equal(again.status, 0, again.stderr);
        assert.equal(again.stdout, "");
        assert.equal(fs.readFileSync(h.conf, "utf8"), after);
        assert.deepEqual(systemctl(h), ["is-active --quiet nginx"]);
    });

    test("Debian 13 (`server_tokens off;` set): nginx.conf untouched, no duplicate", () => {
        const h = makeHost(fixture("debian-13-nginx.conf"));
        const before = fs.readFileSync(h.conf, "utf8");
        const r = h.run();
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(h.conf, "utf8"), before);
        assert.ok(!fs.existsSync(h.legacy));
        assert.deepEqual(h.effective(), ["server_tokens off;"]);
    });

    test("a host hardened by an earlier berth (conf.d file): the file goes, nginx.conf carries the directive, nginx reloads", () => {
        for (const f of ["debian-12-nginx.conf", "debian-13-nginx.conf"]) {
            const h = makeHost(fixture(f), { legacy: true });
            // The drop-in as an earlier berth wrote it: unchanged, so a reload (not a restart).
            fs.mkdirSync(path.join(h.root, path.dirname(NGINX_HARDENING_DROPIN)), { recursive: true });
            fs.writeFileSync(path.join(h.root, NGINX_HARDENING_DROPIN), host.nginxHardeningDropIn());
            const r = h.run();
            assert.equal(r.status, 0, `${f}: ${r.stderr}`);
            assert.ok(!fs.existsSync(h.legacy), f);
            assert.deepEqual(h.effective(), ["server_tokens off;"], f);
            assert.deepEqual(systemctl(h), ["is-active --quiet nginx", "reload nginx", "is-active --quiet nginx"], f);
        }
    });

    test("another value is turned off; an nginx.conf without the line gets the conf.d file", () => {
        const on = makeHost(fixture("debian-13-nginx.conf").replace("server_tokens off;", "server_tokens on;"));
        assert.equal(on.run().status, 0);
        assert.deepEqual(on.effective(), ["server_tokens off;"]);
        const none = makeHost(fixture("debian-12-nginx.conf").replace("\t# server_tokens off;\n", ""));
        const before = fs.readFileSync(none.conf, "utf8");
        const r = none.run();
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(none.conf, "utf8"), before);
        assert.equal(fs.readFileSync(none.legacy, "utf8"), LEGACY_CONTENT);
        assert.equal((fs.statSync(none.legacy).mode & 0o777).toString(8), "644");
        assert.deepEqual(none.effective(), ["server_tokens off;"]);
        assert.equal(none.run().stdout, "", "idempotent");
    });

    test("nginx -t failing puts nginx.conf and the conf.d file back and exits 1", () => {
        const h = makeHost(fixture("debian-12-nginx.conf"), { legacy: true, brokenSite: true });
        const before = fs.readFileSync(h.conf, "utf8");
        const r = h.run();
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no_such_directive/);
        assert.match(r.stderr, /berth: nginx -t rejected the hardening; put nginx.conf and conf.d back as they were/);
        assert.equal(fs.readFileSync(h.conf, "utf8"), before);
        assert.equal(fs.readFileSync(h.legacy, "utf8"), LEGACY_CONTENT);
    });

    test("verify compares only the drop-in: nginx.conf and the conf.d file are not declared content", () => {
        const files = filesOf({ name: "host-nginx-hardening", script: host.nginxHardeningScript(configFor("staging")) });
        assert.deepEqual(files.map((f) => f.path), [NGINX_HARDENING_DROPIN]);
    });
});

/**
 * The WireGuard mesh and the data firewall (components/host/meshScripts.ts): golden text and a
 * clean shellcheck for every script, and the real tools on what they make:
 *
 * - wg-quick strips the generated config and `wg` applies it to a
 *   wireguard-go interface in a throwaway network namespace;
 * - the key and config scripts run for real in a private mount + network
 *   namespace (their directories bound to temp dirs; ufw, systemctl, ip and
 *   `wg show` stubbed and recorded): the key is made once, only the public
 *   key is printed, the config holds the host's key while no script or
 *   output does, a peer change rewrites the config and reloads, a rerun
 *   changes nothing, deletes respect the identity line;
 * - the data firewall's script runs twice in a throwaway network namespace
 *   with real iptables (no duplicate rule, one jump from DOCKER-USER), and
 *   `systemd-analyze verify` checks its unit.
 *
 * The namespace tests need root, unshare, wireguard-tools, wireguard-go and
 * iptables; where one is missing they are skipped with the reason.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { viewOf } from "../../lib/plan";
import * as mesh from "../../components/host/meshScripts";
import { withShebang } from "../../lib/shell";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, stackConfig } from "./harness";

const FLEET = "examples/Pulumi.fleet.yaml";
const H = (name: string, address: string, roles: string[]) => ({
    name,
    address,
    roles,
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILG73IWY0lOiB+/8jU4Y3DSPohHECTBhM3oJgAuYf+0k",
});
const HOSTS = [H("web1", "203.0.113.31", ["web", "worker"]), H("web2", "203.0.113.32", ["web"]), H("data", "203.0.113.33", ["data"])];

/** The 3-host mesh stack (the example fleet with fixed hosts). */
function fleet(hosts = HOSTS): BerthConfig {
    // An explicit mesh (the fixed network and port these expectations spell out).
    return configFor("fleet", { "berth:hosts": hosts, "berth:mesh": { cidr: "10.213.0.0/24", port: 51820 } }, FLEET);
}

/** Valid WireGuard public keys (any 32 bytes), fixed for the goldens. */
const testKey = (n: number) => Buffer.alloc(32, n).toString("base64");

function peersOf(cfg: BerthConfig, self: string, keys: Record<string, string> = {}): mesh.MeshPeer[] {
    return cfg.hosts
        .filter((h) => h.name !== self)
        .map((h, i) => ({ name: h.name, address: h.address, privateAddress: h.privateAddress!, publicKey: keys[h.name] ?? testKey(i + 1) }));
}

const cfg = fleet();
const web1 = viewOf(cfg, "web1")!;
const data = viewOf(cfg, "data")!;
const ID = "shop-fleet-mesh-web1";
const FW_ID = "shop-fleet-data-firewall-rules";
const appAddresses = cfg.hosts.filter((h) => h.name !== "data").map((h) => h.privateAddress!);
const fwOpts: mesh.DataFirewallRules = { allowed: appAddresses, ports: [cfg.postgres.port, cfg.redis.port], inInterface: mesh.meshNames(cfg).iface };

const SCRIPTS: Record<string, string> = {
    "mesh-key.sh": mesh.meshKeyScript(web1, ID),
    "mesh-key-delete.sh": mesh.meshKeyDeleteScript(web1, ID),
    "mesh-config.sh": mesh.meshConfigScript(web1, peersOf(cfg, "web1"), ID),
    "mesh-config-delete.sh": mesh.meshConfigDeleteScript(web1, ID),
    "data-firewall.sh": mesh.dataFirewallInstallScript(data, fwOpts, FW_ID),
    "data-firewall-delete.sh": mesh.dataFirewallDeleteScript(data, FW_ID),
};

// ---------------------------------------------------------------------------
// Environment probes for the namespace tests
// ---------------------------------------------------------------------------

function has(bin: string): boolean {
    return spawnSync("bash", ["-c", `command -v ${bin}`], { encoding: "utf8" }).status === 0;
}
const isRoot = process.getuid?.() === 0;
function canUnshare(flags: string[]): boolean {
    return isRoot && has("unshare") && spawnSync("unshare", [...flags, "true"]).status === 0;
}
function installed(pkg: string): boolean {
    return (spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout ?? "").includes("ok installed");
}
const WG = has("wg") && has("wg-quick") ? false : "wireguard-tools is not installed (apt-get install wireguard-tools)";
const WG_GO = has("wireguard-go") && fs.existsSync("/dev/net/tun") ? false : "wireguard-go or /dev/net/tun is missing (apt-get install wireguard-go)";
const NETNS = canUnshare(["-n"]) ? false : "needs root and unshare -n (a throwaway network namespace)";
const SANDBOX_DIRS = ["/etc/wireguard", "/etc/tmpfiles.d", "/etc/systemd/system", "/run/lock"];
const MNTNS = canUnshare(["-m", "-n"]) && SANDBOX_DIRS.every((d) => fs.existsSync(d)) ? false : `needs root, unshare -m -n and ${SANDBOX_DIRS.join(", ")} to bind over`;
const PKGS = mesh.MESH_PACKAGES.every(installed) && fs.existsSync("/dev/net/tun") ? false : "the key script would apt-get install wireguard-tools/wireguard-go here";
const IPT = has("iptables") && has("iptables-restore") ? false : "iptables is not installed";
const skip = (...reasons: (string | false)[]) => reasons.find((r) => r !== false) ?? false;

function sh(script: string, opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", input: opts.input, env: opts.env ?? process.env });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------
// Names and goldens
// ---------------------------------------------------------------------------

describe("mesh names", () => {
    test("interface bm-<8 hex> fits IFNAMSIZ and wg-quick's name rule; chain fits iptables; per stack", () => {
        const m = mesh.meshNames(cfg);
        assert.match(m.iface, /^bm-[0-9a-f]{8}$/);
        assert.ok(m.iface.length <= 15);
        assert.match(m.iface, /^[a-zA-Z0-9_=+.-]{1,15}$/);
        assert.equal(m.conf, `/etc/wireguard/${m.iface}.conf`);
        const c = mesh.dataFirewallNames(cfg).chain;
        assert.ok(c.length <= 28, c);
        const other = configFor("staging");
        assert.notEqual(mesh.meshNames(other).iface, m.iface);
        assert.notEqual(mesh.dataFirewallNames(other).chain, c);
    });
    test("the mesh address carries the cidr's prefix length", () => {
        assert.equal(mesh.meshInterfaceAddress(web1), `${web1.host.privateAddress}/24`);
    });
});

describe("mesh goldens (host web1 of a 3-host mesh; the data host's firewall)", () => {
    for (const [file, text] of Object.entries(SCRIPTS)) {
        test(file, () => {
            expectGolden(`mesh/${file}`, text);
            expectShellcheckClean(`mesh/${file}`, withShebang(text));
        });
    }
    test("web1.conf (the private key line is filled in on the host)", () => expectGolden("mesh/web1.conf", mesh.meshConf(web1, peersOf(cfg, "web1"), ID)));
    test("docker drop-in", () => expectGolden("mesh/docker-mesh.conf", mesh.meshDockerDropIn(web1)));
    test("data firewall: installed script, unit, rules", () => {
        const script = mesh.dataFirewallScriptFile(data, fwOpts);
        expectGolden("mesh/data-firewall-script", script);
        expectShellcheckClean("mesh/data-firewall-script", script);
        expectGolden("mesh/data-firewall.service", mesh.dataFirewallUnitFile(data, FW_ID));
        expectGolden("mesh/data-firewall.rules", mesh.dataFirewallRules(data, fwOpts));
    });
});

// ---------------------------------------------------------------------------
// Properties of the text
// ---------------------------------------------------------------------------

describe("mesh properties", () => {
    test("a peer list change changes the config (and its script), not the key step", () => {
        const before = mesh.meshConf(web1, peersOf(cfg, "web1"), ID);
        const grown = fleet([...HOSTS, H("web3", "203.0.113.34", ["web"])]);
        const web1b = viewOf(grown, "web1")!;
        const after = mesh.meshConf(web1b, peersOf(grown, "web1"), ID);
        assert.notEqual(after, before);
        assert.match(after, /# web3\n\[Peer\]\nPublicKey = \S+\nEndpoint = 203\.0\.113\.34:51820\nAllowedIPs = 10\.213\.0\.\d+\/32\n/);
        assert.equal(web1b.host.privateAddress, web1.host.privateAddress, "adding a host moves no mesh address");
        assert.ok(after.startsWith(before.replace(/\n$/, "")), "the existing peers stay as they were");
        assert.notEqual(mesh.meshConfigScript(web1b, peersOf(grown, "web1"), ID), SCRIPTS["mesh-config.sh"]);
        assert.equal(mesh.meshKeyScript(web1b, ID), SCRIPTS["mesh-key.sh"]);
        // A peer's new key (its key was recreated) changes the config too.
        const rekeyed = mesh.meshConf(web1, peersOf(cfg, "web1", { data: testKey(9) }), ID);
        assert.notEqual(rekeyed, before);
        // ... and so does a peer's new public address (its endpoint and the ufw rule).
        const moved = fleet(HOSTS.map((h) => (h.name === "web2" ? { ...h, address: "203.0.113.52" } : h)));
        const web1m = viewOf(moved, "web1")!;
        assert.match(mesh.meshConfigScript(web1m, peersOf(moved, "web1"), ID), /allow from 203\.0\.113\.52 to any port 51820 proto udp/);
    });
    test("every peer: its public key, endpoint on the mesh port, only its /32, keepalive; the port only from the peers", () => {
        const conf = mesh.meshConf(web1, peersOf(cfg, "web1"), ID);
        assert.equal(conf.match(/^\[Peer\]$/gm)?.length, 2);
        assert.doesNotMatch(conf, new RegExp(`AllowedIPs = ${web1.host.privateAddress}`), "not itself");
        assert.match(conf, /^ListenPort = 51820$/m);
        assert.match(conf, /^PersistentKeepalive = 25$/m);
        assert.deepEqual(
            mesh.meshUfwRules(web1, peersOf(cfg, "web1")).map((r) => r.rule),
            ["allow from 203.0.113.33 to any port 51820 proto udp", "allow from 203.0.113.32 to any port 51820 proto udp"],
        );
    });
    test("no script and no config text carries a private key; the key script prints only `wg pubkey`", () => {
        for (const [file, text] of Object.entries(SCRIPTS)) {
            assert.doesNotMatch(text, /PrivateKey = [A-Za-z0-9+/]{43}=/, file);
            assert.doesNotMatch(text, /wg genkey(?! > "\$tmp")/, `${file}: genkey only into the temp file`);
            // The key file is read in exactly two places: `wg pubkey <` and `read` (a builtin) into the config.
            for (const line of text.split("\n").filter((l) => /\/etc\/wireguard\/bm-[0-9a-f]{8}\.key\b(?!\.)/.test(l))) {
                assert.doesNotMatch(line, /\b(cat|head|tail|base64|xxd|od|cp|tee)\b[^\n]*\.key\b(?!\.)/, `${file}: ${line}`);
                if (line.includes("< /etc/wireguard/")) assert.match(line, /^(wg pubkey|IFS= read -r private_key) < /, `${file}: ${line}`);
            }
        }
        assert.match(SCRIPTS["mesh-key.sh"], /\nwg pubkey < \/etc\/wireguard\/bm-[0-9a-f]{8}\.key\n$/);
        assert.match(SCRIPTS["mesh-key.sh"], /apt-get install [^\n]*>&2\n/, "apt's output goes to stderr, not into the public key");
    });
    test("bad input fails before anything reaches a host", () => {
        assert.throws(() => mesh.meshConf(web1, [{ ...peersOf(cfg, "web1")[0], publicKey: "not-a-key" }], ID), /not a WireGuard public key/);
        assert.throws(() => mesh.meshConf(web1, [{ ...peersOf(cfg, "web1")[0], address: "203.0.113.1; reboot" }], ID), /not an IPv4 address/);
        assert.throws(() => mesh.dataFirewallRules(data, { ...fwOpts, allowed: ["10.0.0.1/8"] }), /not an IPv4 address/);
        assert.throws(() => mesh.dataFirewallRules(data, { ...fwOpts, inInterface: "eth0 -j ACCEPT" }), /not an interface name/);
        assert.equal(mesh.publicKeyFromOutput("E: Unable to locate package\n"), undefined);
        assert.equal(mesh.publicKeyFromOutput(""), undefined);
        assert.equal(mesh.publicKeyFromOutput(`${testKey(3)}\n`), testKey(3));
        const failing = mesh.meshKeysMissingScript(web1, ["data"]);
        assert.match(failing, /the key step of data printed no WireGuard public key/);
        assert.match(failing, /\nexit 1\n$/);
        expectShellcheckClean("keys-missing", withShebang(failing));
    });
    test("data firewall: allowed sources only on the mesh interface, every data port dropped otherwise, direct routing dropped", () => {
        const rules = mesh.dataFirewallRules(data, fwOpts);
        const c = mesh.dataFirewallNames(data).chain;
        const iface = mesh.meshNames(cfg).iface;
        for (const p of fwOpts.ports) {
            for (const a of appAddresses) {
                assert.ok(rules.includes(`-A ${c} -s ${a}/32 -i ${iface} -p tcp -m conntrack --ctstate DNAT --ctorigdstport ${p} -j RETURN`));
            }
            assert.ok(rules.includes(`-A ${c} -m conntrack --ctstate DNAT --ctorigdstport ${p} -j DROP`));
        }
        const lines = rules.split("\n").filter((l) => l.startsWith("-A "));
        const lastAllow = lines.map((l) => l.includes(" -s ") && l.endsWith("-j RETURN")).lastIndexOf(true);
        const firstDrop = lines.findIndex((l) => l.endsWith("-j DROP"));
        assert.match(lines[0], /RELATED,ESTABLISHED -j RETURN$/, "replies and accepted connections first");
        assert.ok(lastAllow >= 0 && lastAllow < firstDrop, "every allow before the first drop");
        assert.match(rules, /-o br-\+ -p tcp --dport 5432 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP/);
        assert.doesNotMatch(mesh.dataFirewallRules(data, { ...fwOpts, inInterface: undefined }), / -i bm-/, "a provider network has no interface match");
    });
});

// ---------------------------------------------------------------------------
// The real tools
// ---------------------------------------------------------------------------

describe("wg-quick and wg accept the generated config", () => {
    test("wg-quick strip, then wg setconf on a wireguard-go interface in a throwaway network namespace", { skip: skip(WG, WG_GO, NETNS) }, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-mesh-wg-"));
        try {
            const m = mesh.meshNames(web1);
            const priv = sh("wg genkey").stdout.trim();
            const pub = sh("wg pubkey", { input: `${priv}\n` }).stdout.trim();
            const file = path.join(dir, `${m.iface}.conf`);
            const conf = mesh.meshConf(web1, peersOf(cfg, "web1"), ID);
            fs.writeFileSync(file, conf.replace(mesh.PRIVATE_KEY_PLACEHOLDER, `PrivateKey = ${priv}`), { mode: 0o600 });
            const strip = spawnSync("wg-quick", ["strip", file], { encoding: "utf8" });
            assert.equal(strip.status, 0, strip.stderr);
            assert.doesNotMatch(strip.stdout, /^Address/m, "wg-quick took its own keys out");
            assert.match(strip.stdout, /^ListenPort = 51820$/m);
            const r = spawnSync(
                "unshare",
                [
                    "-n",
                    "bash",
                    "-c",
                    [
                        "set -euo pipefail",
                        `WG_PROCESS_FOREGROUND=1 wireguard-go ${m.iface} >/dev/null 2>&1 & pid=$!`,
                        `for _ in $(seq 1 50); do ip link show ${m.iface} >/dev/null 2>&1 && break; sleep 0.1; done`,
                        `trap 'ip link delete ${m.iface} 2>/dev/null || kill $pid; wait $pid || true' EXIT`,
                        `wg setconf ${m.iface} <(wg-quick strip ${file})`,
                        `wg show ${m.iface} dump`,
                    ].join("\n"),
                ],
                { encoding: "utf8" },
            );
            assert.equal(r.status, 0, r.stderr);
            const [iface, ...peers] = r.stdout.trim().split("\n").map((l) => l.split("\t"));
            assert.equal(iface[1], pub, "the interface has the key from the file");
            assert.equal(iface[2], "51820");
            assert.deepEqual(
                peers.map((p) => [p[0], p[2], p[3], p[7]]).sort(),
                peersOf(cfg, "web1").map((p) => [p.publicKey, `${p.address}:51820`, `${p.privateAddress}/32`, "25"]).sort(),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

/**
 * Runs a script in a private mount + network namespace where the mesh's
 * directories are the test's temp dirs and ufw, systemctl, ip and `wg show`
 * are stubs that record their calls.
 */
function meshSandbox() {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-mesh-sandbox-"));
    const dirs = { "/etc/wireguard": "wireguard", "/etc/tmpfiles.d": "tmpfiles.d", "/etc/systemd/system": "systemd-system", "/run/lock": "lock" };
    for (const d of [...Object.values(dirs), "bin"]) fs.mkdirSync(path.join(root, d), { recursive: true });
    const log = path.join(root, "calls.log");
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(root, "bin", name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    stub("ufw", `echo "ufw $*" >> ${log}\nif [ "$1 $2" = "show added" ]; then cat ${root}/ufw-added 2>/dev/null || true; fi`);
    stub("systemctl", `echo "systemctl $*" >> ${log}\ncase "$1" in is-active) [ -f ${root}/active ];; start|restart) touch ${root}/active;; esac`);
    stub("ip", `echo "ip $*" >> ${log}\ncat ${root}/ip-addr 2>/dev/null || true`);
    stub("wg", `if [ "$1" = show ]; then echo "wg $*" >> ${log}; printf 'k\\nk\\n'; else exec /usr/bin/wg "$@"; fi`);
    const mounts = Object.entries(dirs).map(([target, d]) => `mount --bind ${path.join(root, d)} ${target}`);
    return {
        root,
        log,
        wireguard: path.join(root, "wireguard"),
        calls(): string[] {
            const c = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
            fs.rmSync(log, { force: true });
            return c;
        },
        run(body: string): { status: number | null; stdout: string; stderr: string } {
            const file = path.join(root, "script.sh");
            fs.writeFileSync(file, body);
            const r = spawnSync("unshare", ["-m", "-n", "bash", "-c", [...mounts, `PATH=${root}/bin:$PATH exec bash ${file}`].join("\n")], { encoding: "utf8" });
            if (r.error) throw r.error;
            return { status: r.status, stdout: r.stdout, stderr: r.stderr };
        },
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
    };
}

describe("the mesh scripts, run in a sandbox", () => {
    test("key step, config step, peer change, rerun, deletes", { skip: skip(WG, NETNS, MNTNS, PKGS) }, () => {
        const sb = meshSandbox();
        try {
            const m = mesh.meshNames(web1);
            const keyFile = path.join(sb.wireguard, path.basename(m.key));
            // Key step: makes the key once, prints only its public key.
            const k1 = sb.run(SCRIPTS["mesh-key.sh"]);
            assert.equal(k1.status, 0, k1.stderr);
            const priv = fs.readFileSync(keyFile, "utf8").trim();
            const pub = sh("wg pubkey", { input: `${priv}\n` }).stdout.trim();
            assert.equal(k1.stdout, `${pub}\n`, "stdout is exactly the public key");
            assert.equal(mesh.publicKeyFromOutput(k1.stdout), pub);
            assert.equal((fs.statSync(keyFile).mode & 0o777).toString(8), "600");
            assert.equal((fs.statSync(sb.wireguard).mode & 0o777).toString(8), "700");
            const k2 = sb.run(SCRIPTS["mesh-key.sh"]);
            assert.equal(k2.stdout, k1.stdout, "a rerun keeps the key");
            assert.equal(fs.readFileSync(keyFile, "utf8").trim(), priv);

            // Config step: the host's key goes into the config, nowhere else.
            fs.writeFileSync(path.join(sb.root, "ufw-added"), [
                "Added user rules (see 'ufw status' for running firewall):",
                "ufw allow 22/tcp comment 'berth ssh'",
                `ufw allow from 198.51.100.9 to any port 51820 proto udp comment '${m.ufwTag} peer gone'`,
                `ufw allow from 203.0.113.33 to any port 51820 proto udp comment '${m.ufwTag} peer data'`,
                "ufw allow from 198.51.100.10 to any port 51820 proto udp comment 'berth mesh bm-00000000 peer other-stack'",
                "",
            ].join("\n"));
            const c1 = sb.run(SCRIPTS["mesh-config.sh"]);
            assert.equal(c1.status, 0, c1.stderr);
            const confFile = path.join(sb.wireguard, path.basename(m.conf));
            const expected = mesh.meshConf(web1, peersOf(cfg, "web1"), ID).replace(mesh.PRIVATE_KEY_PLACEHOLDER, `PrivateKey = ${priv}`);
            assert.equal(fs.readFileSync(confFile, "utf8"), expected);
            assert.equal((fs.statSync(confFile).mode & 0o777).toString(8), "600");
            for (const out of [k1.stdout, k1.stderr, c1.stdout, c1.stderr]) assert.ok(!out.includes(priv), "the private key was printed");
            const calls1 = sb.calls();
            assert.ok(calls1.includes("ufw delete allow from 198.51.100.9 to any port 51820 proto udp"), calls1.join("\n"));
            assert.ok(!calls1.some((c) => c.includes("198.51.100.10")), "another stack's rule is left alone");
            assert.ok(calls1.includes(`ufw allow from 203.0.113.32 to any port 51820 proto udp comment ${m.ufwTag} peer web2`));
            assert.ok(calls1.includes(`systemctl enable --quiet ${m.unit}`));
            assert.ok(calls1.includes(`systemctl start ${m.unit}`));
            assert.match(c1.stdout, /up\n/);
            assert.ok(fs.existsSync(path.join(sb.root, "systemd-system", "docker.service.d", path.basename(m.dockerDropIn))));

            // Rerun: nothing changes, nothing restarts.
            fs.writeFileSync(path.join(sb.root, "ip-addr"), `5: ${m.iface}    inet ${mesh.meshInterfaceAddress(web1)} scope global ${m.iface}\n`);
            const c2 = sb.run(SCRIPTS["mesh-config.sh"]);
            assert.equal(c2.status, 0, c2.stderr);
            const calls2 = sb.calls();
            assert.ok(!calls2.some((c) => /systemctl (start|restart|reload|daemon-reload)/.test(c)), calls2.join("\n"));

            // A peer changes its key: the config is rewritten and reloaded (wg syncconf), not restarted.
            const c3 = sb.run(mesh.meshConfigScript(web1, peersOf(cfg, "web1", { web2: testKey(7) }), ID));
            assert.equal(c3.status, 0, c3.stderr);
            assert.ok(fs.readFileSync(confFile, "utf8").includes(`PublicKey = ${testKey(7)}`));
            const calls3 = sb.calls();
            assert.ok(calls3.includes(`systemctl reload ${m.unit}`), calls3.join("\n"));
            assert.ok(!calls3.some((c) => /systemctl (start|restart) /.test(c)));
            assert.match(c3.stdout, /peers updated/);

            // Deletes: an older resource's delete leaves the files; the key stays while the config is there.
            const old = sb.run(mesh.meshConfigDeleteScript(web1, "shop-fleet-mesh-web1-old"));
            assert.match(old.stdout, /belongs to a newer mesh resource/);
            assert.ok(fs.existsSync(confFile));
            const keyFirst = sb.run(SCRIPTS["mesh-key-delete.sh"]);
            assert.match(keyFirst.stdout, /still there; leaving the key/);
            assert.ok(fs.existsSync(keyFile));
            sb.calls();
            const d = sb.run(SCRIPTS["mesh-config-delete.sh"]);
            assert.equal(d.status, 0, d.stderr);
            assert.ok(!fs.existsSync(confFile));
            assert.ok(sb.calls().includes(`systemctl disable --now --quiet ${m.unit}`));
            const oldKey = sb.run(mesh.meshKeyDeleteScript(web1, "shop-fleet-mesh-web1-old"));
            assert.match(oldKey.stdout, /belongs to a newer mesh resource/);
            const kd = sb.run(SCRIPTS["mesh-key-delete.sh"]);
            assert.equal(kd.status, 0, kd.stderr);
            assert.deepEqual(fs.readdirSync(sb.wireguard), []);
        } finally {
            sb.cleanup();
        }
    });
});

describe("the data firewall with real iptables", () => {
    test("its script twice in a throwaway network namespace: the same rules, one jump; a new allowed list replaces the old", { skip: skip(IPT, NETNS) }, () => {
        const c = mesh.dataFirewallNames(data).chain;
        const first = mesh.dataFirewallScriptFile(data, fwOpts);
        const changed = mesh.dataFirewallScriptFile(data, { ...fwOpts, allowed: [appAddresses[0]] });
        const dump = "iptables -w -S DOCKER-USER; echo ---; iptables -w -S " + c;
        const r = spawnSync(
            "unshare",
            ["-n", "bash", "-c", `set -euo pipefail\nbash -s <<'A'\n${first}A\n${dump}\necho ===\nbash -s <<'A'\n${first}A\n${dump}\necho ===\nbash -s <<'A'\n${changed}A\n${dump}\n`],
            { encoding: "utf8" },
        );
        assert.equal(r.status, 0, r.stderr);
        const [one, two, three] = r.stdout.split("===\n");
        assert.equal(two, one, "a rerun changes nothing");
        assert.equal(one.split("\n").filter((l) => l === `-A DOCKER-USER -j ${c}`).length, 1);
        for (const a of appAddresses) assert.ok(one.includes(`-s ${a}/32 -i ${fwOpts.inInterface} -p tcp`), a);
        assert.ok(!three.includes(`-s ${appAddresses[1]}/32`), "the removed address is gone");
        assert.equal(three.split("\n").filter((l) => l === `-A DOCKER-USER -j ${c}`).length, 1);
        // What iptables prints back is what berth wrote (no rule rewritten or lost).
        const wanted = mesh
            .dataFirewallRules(data, fwOpts)
            .split("\n")
            .filter((l) => l.startsWith("-A "));
        assert.equal(one.split("---\n")[1].split("\n").filter((l) => l.startsWith("-A ")).length, wanted.length);
    });
    test("systemd-analyze verify: the unit, with its script installed", () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-data-firewall-unit-"));
        try {
            const f = mesh.dataFirewallNames(data);
            for (const [file, content, mode] of [
                [f.unitPath, mesh.dataFirewallUnitFile(data, FW_ID), 0o644],
                [f.script, mesh.dataFirewallScriptFile(data, fwOpts), 0o755],
            ] as const) {
                fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
                fs.writeFileSync(path.join(root, file), content, { mode });
            }
            const r = spawnSync("systemd-analyze", ["verify", `--root=${root}`, "--man=no", "--recursive-errors=no", f.unitPath], { encoding: "utf8" });
            if (r.error) throw new Error(`systemd-analyze could not run (${r.error.message})`);
            const out = `${r.stdout}${r.stderr}`;
            assert.ok(r.status === 0 && out.trim() === "", out);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});

describe("repair on a mesh stack: the declared mesh scripts, run in a sandbox", () => {
    test("web1's key step, then its config step declared with the public keys read on the hosts: exit 0, the peers' keys in the config; the probe's masked digest is the declared one", { skip: skip(WG, NETNS, MNTNS, PKGS) }, async () => {
        const { declared } = require("../../cli/support/declared") as typeof import("../../cli/support/declared");
        const { pickHost } = require("../../cli/support/stack") as typeof import("../../cli/support/stack");
        const { parseProbe, probeScript } = require("../../cli/support/probe") as typeof import("../../cli/support/probe");
        const sc = stackConfig("fleet", { "berth:hosts": HOSTS, "berth:mesh": { cidr: "10.213.0.0/24", port: 51820 } }, FLEET);
        const view = pickHost(cfg, "web1");
        const sb = meshSandbox();
        try {
            const peerKeys: Record<string, string> = { "203.0.113.32": testKey(21), "203.0.113.33": testKey(22) };
            let own = "";
            const { meshPublicKeyScript } = require("../../cli/support/declaredOnHost") as typeof import("../../cli/support/declaredOnHost");
            assert.deepEqual([sb.run(meshPublicKeyScript(view)).stdout, sb.run(meshPublicKeyScript(view)).status], ["", 0], "no key yet: nothing");
            // As repair's source does: a host without a key runs its key step (idempotent), whose stdout is the public key.
            const d = await declared(view, sc.values, new Set(sc.secretKeys), undefined, cfg.release.revision, undefined, (read) => {
                const out: Record<string, string> = {};
                for (const c of read) {
                    if (c.host === "203.0.113.31") {
                        const k = sb.run(c.script);
                        assert.equal(k.status, 0, k.stderr);
                        own = k.stdout;
                        out[c.name] = k.stdout;
                    } else out[c.name] = `${peerKeys[c.host]}\n`;
                }
                return out;
            });
            assert.ok(mesh.publicKeyFromOutput(own), "the key step printed a public key");
            // verify's read-only source gives the same stdout, and no more.
            const read = sb.run(meshPublicKeyScript(view));
            assert.equal(read.status, 0, read.stderr);
            assert.equal(read.stdout, own);
            const meshCommands = d.commands.filter((c) => c.name.startsWith("shop-fleet-mesh-web1-"));
            assert.deepEqual(meshCommands.map((c) => c.name), ["shop-fleet-mesh-web1-key", "shop-fleet-mesh-web1-config"]);
            for (const c of meshCommands) {
                const r = sb.run(c.script);
                assert.equal(r.status, 0, `${c.name}: ${r.stderr}`);
            }
            const m = mesh.meshNames(web1);
            const conf = fs.readFileSync(path.join(sb.wireguard, path.basename(m.conf)), "utf8");
            for (const k of Object.values(peerKeys)) assert.ok(conf.includes(`PublicKey = ${k}\n`), conf);
            const priv = fs.readFileSync(path.join(sb.wireguard, path.basename(m.key)), "utf8").trim();
            assert.ok(conf.includes(`PrivateKey = ${priv}\n`));
            // verify's probe on that host: the digest of the config with its key line masked is the declared one.
            const declaredConf = d.files.find((f) => f.path === m.conf)!;
            const p = sb.run(probeScript(view, { files: [], maskedFiles: [m.conf], links: [], units: [], containers: [], hostSettings: false }));
            assert.ok(!p.stdout.includes(priv) && !p.stderr.includes(priv));
            assert.equal(parseProbe(p.stdout).files[m.conf].sha256, declaredConf.variants[0].sha256);
        } finally {
            sb.cleanup();
        }
    });
});

/**
 * The private paths between a stack's hosts, as pure builders (golden-tested,
 * shellchecked, applied in throwaway network namespaces by the unit tests):
 *
 * - the WireGuard mesh (`berth:mesh`, components/host/mesh.ts): one interface per
 *   stack on every host, `bm-<8 hex>` (fnv1a of `<app>-<stack>`, 11 of the 15
 *   characters Linux allows). Each host makes its own private key
 *   (`/etc/wireguard/<iface>.key`, 0600 root) and only ever prints the public
 *   key. The config the scripts carry has a placeholder where the private key
 *   goes; the host copies its key into its own config file (0600 root), so
 *   no script, output or state holds it.
 *   wg-quick uses the kernel's WireGuard when there is one and falls back to
 *   wireguard-go by itself when `ip link add type wireguard` fails
 *   (wg-quick(8) `add_if`, wireguard-tools 1.0.20210914 in Debian 12).
 * - the data firewall (components/data/dataFirewall.ts): Docker's published ports
 *   bypass ufw (DNAT in PREROUTING, then FORWARD through Docker's chains), so
 *   the data host filters them in DOCKER-USER, the chain Docker keeps for
 *   user rules and never flushes (libnetwork firewall_linux.go: it creates
 *   the chain only when missing and appends its RETURN only when missing).
 *
 * Host paths and unit names live here for now (`meshNames`,
 * `dataFirewallNames`); they belong in lib/names.ts.
 */
import type { BerthConfig } from "../../lib/config";
import { dataFirewallNames, HOST_LOCK, meshNames, PROTECT, TUN_TMPFILES } from "../../lib/names";

// Host paths and unit names live in lib/names.ts; re-exported for the callers of this module.
export { dataFirewallNames, meshNames, TUN_TMPFILES };
export type { DataFirewallNames, MeshNames } from "../../lib/names";
import { managedBy } from "../../lib/managedBy";
import { DATA_CONTAINER_PORTS } from "../../lib/ports";
import { osDetectLines, osPackagesCase } from "../../lib/os";
import { aptInstallWanted, cmd, hostLock, quote, raw, retireUnit, script, writeFile } from "../../lib/shell";

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/** Packages every mesh member gets (the same names on every release lib/os.ts supports). */
export const MESH_PACKAGES = ["wireguard-tools", "wireguard-go"];


// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A WireGuard key: 32 bytes, base64 (44 characters, the last `=`). */
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const IFACE = /^[A-Za-z0-9_=+.-]{1,15}$/;

function ipv4(what: string, v: string): string {
    if (!IPV4.test(v)) throw new Error(`berth: ${what}: ${JSON.stringify(v)} is not an IPv4 address`);
    return v;
}

function port(what: string, p: number): number {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`berth: ${what}: ${p} is not a port`);
    return p;
}

/** What the mesh and data-firewall builders read: the stack, the host they run on, the mesh settings. */
export type MeshScope = Pick<BerthConfig, "project" | "stack" | "names" | "host" | "mesh">;

export function isWireguardKey(v: string): boolean {
    return WG_KEY.test(v);
}

/**
 * The public key a mesh key command printed (its last line), or undefined
 * when there is none (a broken key step; the mock runtime's empty stdout).
 */
export function publicKeyFromOutput(stdout: string | undefined): string | undefined {
    const last = (stdout ?? "").trim().split("\n").pop()?.trim() ?? "";
    return WG_KEY.test(last) ? last : undefined;
}

/**
 * The config step when peers' key steps printed no public key: it fails on
 * the host, naming them, so no config is ever written without every key.
 */
export function meshKeysMissingScript(cfg: MeshScope, peers: readonly string[]): string {
    const m = meshNames(cfg);
    return script(
        `echo ${quote(`berth: mesh ${m.iface} on ${cfg.host.name}: the key step of ${peers.join(", ")} printed no WireGuard public key; run pulumi up again`)} >&2`,
        "exit 1",
    );
}

/** The mesh address with the prefix length of `berth:mesh.cidr` (`10.213.0.7/24`). */
export function meshInterfaceAddress(cfg: MeshScope): string {
    const a = cfg.host.privateAddress;
    if (a === undefined) throw new Error(`berth: host ${cfg.host.name} has no mesh address`);
    const bits = Number(cfg.mesh.cidr.split("/")[1]);
    if (!Number.isInteger(bits) || bits < 8 || bits > 30) throw new Error(`berth: berth:mesh.cidr ${cfg.mesh.cidr} has no usable prefix length`);
    return `${ipv4(`host ${cfg.host.name} mesh address`, a)}/${bits}`;
}

// ---------------------------------------------------------------------------
// WireGuard mesh
// ---------------------------------------------------------------------------

/** Another member, as one member's config sees it. */
export interface MeshPeer {
    /** Host name in berth:hosts. */
    readonly name: string;
    /** Public address: the endpoint. */
    readonly address: string;
    /** Mesh address: the only source address accepted from it (AllowedIPs). */
    readonly privateAddress: string;
    /** Its WireGuard public key (its key command's stdout). */
    readonly publicKey: string;
}

/** The line that tells which mesh resource wrote a file, so a replaced resource's delete leaves a newer one's files alone. */
export function meshIdentityLine(identity: string): string {
    return identityLine("mesh", identity);
}

/** `# berth <what> identity: <resource name>`: a delete removes only what carries its own name. */
function identityLine(what: string, identity: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(identity)) throw new Error(`berth: ${what} identity ${JSON.stringify(identity)} must be a resource name`);
    return `# berth ${what} identity: ${identity}`;
}

const HOST_WIDE = "# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.";

export function tunTmpfilesConf(): string {
    return [HOST_WIDE, "# The TUN device wireguard-go needs (berth's WireGuard mesh); no-op where devtmpfs made it.", "c! /dev/net/tun 0666 root root - 10:200", ""].join("\n");
}

/**
 * The key step (run first on every member): installs wireguard-tools and
 * wireguard-go, makes sure /dev/net/tun exists, creates the private key if
 * there is none (umask 077, written by `wg genkey` into a 0600 temp file
 * then renamed), records which resource owns it, and prints only the public
 * key on stdout (apt and every message go to stderr).
 */
export function meshKeyScript(cfg: MeshScope, identity: string): string {
    const m = meshNames(cfg);
    return script(
        osDetectLines(),
        hostLock(HOST_LOCK, "mesh packages"),
        osPackagesCase("wanted", MESH_PACKAGES),
        aptInstallWanted({ stderr: true }),
        cmd("install", "-d", "-m", "0755", "/etc/tmpfiles.d"),
        "changed=0",
        writeFile(TUN_TMPFILES, tunTmpfilesConf(), { mode: "0644" }),
        `if [ "$changed" = 1 ]; then echo ${quote(`berth: wrote ${TUN_TMPFILES}`)} >&2; fi`,
        "if [ ! -c /dev/net/tun ]; then",
        `  systemd-tmpfiles --create --boot ${quote(TUN_TMPFILES)} >&2 || echo 'berth: could not create /dev/net/tun (wireguard-go needs it when the kernel has no WireGuard)' >&2`,
        "fi",
        "umask 077",
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", "/etc/wireguard"),
        `if [ ! -s ${quote(m.key)} ]; then`,
        `  tmp=$(mktemp ${quote(`${m.key}.berth.XXXXXX`)})`,
        '  wg genkey > "$tmp"',
        `  mv -f "$tmp" ${quote(m.key)}`,
        `  echo ${quote(`berth: created the WireGuard key of ${m.iface}`)} >&2`,
        "fi",
        cmd("chmod", "0600", m.key),
        cmd("chown", "root:root", m.key),
        `printf '%s\\n' ${quote(meshIdentityLine(identity))} > ${quote(m.keyOwner)}`,
        cmd("wg", "pubkey", raw("<"), m.key),
    );
}

/**
 * Removes the key, unless a newer mesh resource owns it or wg-quick's config
 * for the interface is still there (the config's delete runs first).
 */
export function meshKeyDeleteScript(cfg: MeshScope, identity: string): string {
    const m = meshNames(cfg);
    return script(
        `if [ -f ${quote(m.keyOwner)} ] && ! grep -qxF ${quote(meshIdentityLine(identity))} ${quote(m.keyOwner)}; then`,
        `  echo ${quote(`berth: ${m.key} belongs to a newer mesh resource; leaving it`)}`,
        "  exit 0",
        "fi",
        `if [ -f ${quote(m.conf)} ]; then`,
        `  echo ${quote(`berth: ${m.conf} is still there; leaving the key`)}`,
        "  exit 0",
        "fi",
        cmd("rm", "-f", m.key, m.keyOwner),
    );
}

/** The line of wg-quick's config that the host fills in from its key file (never in a script). */
export const PRIVATE_KEY_PLACEHOLDER = "PrivateKey = <the host's key file>";

/**
 * wg-quick's config of one member: its mesh address, the mesh port, its
 * private key, and one [Peer] per other member (sorted by name): its public
 * key, its public endpoint, only its mesh address as source and destination,
 * a keepalive for NAT. The private key line is `PRIVATE_KEY_PLACEHOLDER`
 * here; the config script puts the key there on the host, so the file is a
 * plain wg-quick config (`systemctl reload`, i.e. `wg syncconf`, keeps the
 * key and the sessions) while no script or output ever carries the key.
 */
export function meshConf(cfg: MeshScope, peers: readonly MeshPeer[], identity: string): string {
    const m = meshNames(cfg);
    const listen = port("berth:mesh.port", cfg.mesh.port);
    const lines = [
        managedBy(cfg),
        meshIdentityLine(identity),
        `# WireGuard mesh of ${cfg.names.id}: host ${cfg.host.name}. The private key is copied from ${m.key} on the host.`,
        "[Interface]",
        `Address = ${meshInterfaceAddress(cfg)}`,
        `ListenPort = ${listen}`,
        PRIVATE_KEY_PLACEHOLDER,
    ];
    const seen = new Set<string>([cfg.host.name]);
    for (const p of [...peers].sort((a, b) => a.name.localeCompare(b.name))) {
        if (seen.has(p.name)) throw new Error(`berth: mesh peer ${p.name} of ${cfg.host.name} is listed twice (or is the host itself)`);
        seen.add(p.name);
        if (!WG_KEY.test(p.publicKey)) throw new Error(`berth: mesh peer ${p.name}: ${JSON.stringify(p.publicKey)} is not a WireGuard public key`);
        lines.push(
            "",
            `# ${p.name}`,
            "[Peer]",
            `PublicKey = ${p.publicKey}`,
            `Endpoint = ${ipv4(`mesh peer ${p.name} address`, p.address)}:${listen}`,
            `AllowedIPs = ${ipv4(`mesh peer ${p.name} mesh address`, p.privateAddress)}/32`,
            "PersistentKeepalive = 25",
        );
    }
    return lines.join("\n") + "\n";
}

/**
 * Lines writing wg-quick's config from `meshConf`: the text before and after
 * the placeholder as quoted heredocs, the key line from the key file in
 * between (bash builtins only: the key is in no argv and no environment),
 * into a 0600 temp file renamed over the config only when it differs. Sets
 * `$conf_changed`.
 */
function writeConfLines(cfg: MeshScope, conf: string): string[] {
    const m = meshNames(cfg);
    const [before, after] = conf.split(`${PRIVATE_KEY_PLACEHOLDER}\n`);
    if (after === undefined) throw new Error("berth: the mesh config has no private key line");
    const heredoc = (text: string) => {
        let marker = "BERTH_EOF";
        for (let i = 1; text.split("\n").includes(marker); i++) marker = `BERTH_EOF_${i}`;
        return [`  cat <<'${marker}'`, text.replace(/\n$/, ""), marker];
    };
    return [
        "conf_changed=0",
        `tmp=$(mktemp ${quote(`${m.conf}.berth.XXXXXX`)})`,
        `trap 'rm -f "$tmp"' EXIT`,
        `IFS= read -r private_key < ${quote(m.key)}`,
        "{",
        ...heredoc(before),
        "  printf 'PrivateKey = %s\\n' \"$private_key\"",
        ...(after === "" ? [] : heredoc(after)),
        '} > "$tmp"',
        "unset private_key",
        'chown root:root "$tmp"',
        'chmod 0600 "$tmp"',
        `if cmp -s "$tmp" ${quote(m.conf)} && [ "$(stat -c '%a %U:%G' ${quote(m.conf)})" = '600 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" ${quote(m.conf)}; conf_changed=1; fi`,
        "trap - EXIT",
    ];
}

/** docker.service waits for the mesh, so containers publishing on the mesh address find it at boot. */
export function meshDockerDropIn(cfg: MeshScope): string {
    const m = meshNames(cfg);
    return [managedBy(cfg), "[Unit]", `Wants=${m.unit}`, `After=${m.unit}`, ""].join("\n");
}

/** The ufw rules a member wants: the mesh port, UDP, from each peer's public address only. */
export function meshUfwRules(cfg: MeshScope, peers: readonly Pick<MeshPeer, "name" | "address">[]): { rule: string; comment: string }[] {
    const m = meshNames(cfg);
    return [...peers]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((p) => ({
            // The words `ufw show added` prints for the rule (ufw 0.36).
            rule: `allow from ${ipv4(`mesh peer ${p.name} address`, p.address)} to any port ${port("berth:mesh.port", cfg.mesh.port)} proto udp`,
            comment: `${m.ufwTag} peer ${p.name}`,
        }));
}

/**
 * Lines that make ufw hold exactly `rules` among the rules whose comment
 * starts with the mesh's tag: rules of peers that left (or of an old port)
 * are deleted, missing ones added.
 */
function ufwSyncLines(cfg: MeshScope, rules: { rule: string; comment: string }[]): string[] {
    const m = meshNames(cfg);
    return [
        `want=${quote(rules.map((r) => r.rule).join("\n"))}`,
        `mark=${quote(` comment '${m.ufwTag} `)}`,
        "added=$(ufw show added)",
        "while IFS= read -r line; do",
        '  [[ "$line" == "ufw "*"$mark"* ]] || continue',
        '  rule=${line#ufw }',
        '  rule=${rule%% comment *}',
        '  if [ -n "$want" ] && grep -qxF -- "$rule" <<<"$want"; then continue; fi',
        '  read -ra words <<<"$rule"',
        '  ufw delete "${words[@]}" >/dev/null',
        '  echo "berth: ufw: removed $rule"',
        'done <<<"$added"',
        ...rules.map((r) => `${cmd("ufw", ...r.rule.split(" "), "comment", r.comment)} >/dev/null`),
    ];
}

/**
 * The config step of one member: writes the config (0600) and the docker
 * ordering drop-in, opens the mesh port to the peers in ufw, and brings the
 * interface up. On a change it reloads (`wg syncconf`, no interruption) when
 * only peers changed and the address is the same, and restarts otherwise.
 * Never prints a key.
 */
export function meshConfigScript(cfg: MeshScope, peers: readonly MeshPeer[], identity: string): string {
    const m = meshNames(cfg);
    const address = meshInterfaceAddress(cfg);
    return script(
        hostLock(HOST_LOCK, `mesh ${m.iface}`),
        `if [ ! -s ${quote(m.key)} ]; then echo ${quote(`berth: ${m.key} is missing (the mesh key step makes it)`)} >&2; exit 1; fi`,
        "command -v ufw >/dev/null 2>&1 || { echo 'berth: ufw is not installed (the host firewall step installs it)' >&2; exit 1; }",
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", "/etc/wireguard"),
        cmd("install", "-d", "-m", "0755", "/etc/systemd/system/docker.service.d"),
        "umask 077",
        writeConfLines(cfg, meshConf(cfg, peers, identity)),
        "umask 022",
        "changed=0",
        writeFile(m.dockerDropIn, meshDockerDropIn(cfg), { mode: "0644" }),
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
        ufwSyncLines(cfg, meshUfwRules(cfg, peers)),
        cmd("systemctl", "enable", "--quiet", m.unit),
        `if ! systemctl is-active --quiet ${quote(m.unit)}; then`,
        `  ${cmd("systemctl", "start", m.unit)}`,
        `  echo ${quote(`berth: ${m.iface} up`)}`,
        'elif [ "$conf_changed" = 1 ]; then',
        `  if ip -4 -o addr show dev ${quote(m.iface)} | grep -qF ${quote(` inet ${address} `)}; then`,
        `    ${cmd("systemctl", "reload", m.unit)}`,
        `    echo ${quote(`berth: ${m.iface} peers updated (wg syncconf)`)}`,
        "  else",
        `    ${cmd("systemctl", "restart", m.unit)}`,
        `    echo ${quote(`berth: ${m.iface} restarted`)}`,
        "  fi",
        "fi",
        `echo "berth: ${m.iface} ${address}, $(wg show ${quote(m.iface)} peers | wc -l) peers"`,
    );
}

/**
 * Undoes the config step (interface down, config, drop-in and ufw rules
 * removed) unless the config belongs to a newer mesh resource.
 */
export function meshConfigDeleteScript(cfg: MeshScope, identity: string): string {
    const m = meshNames(cfg);
    return script(
        hostLock(HOST_LOCK, `mesh ${m.iface}`),
        `if [ -f ${quote(m.conf)} ] && ! grep -qxF ${quote(meshIdentityLine(identity))} ${quote(m.conf)}; then`,
        `  echo ${quote(`berth: ${m.conf} belongs to a newer mesh resource; leaving it`)}`,
        "  exit 0",
        "fi",
        retireUnit(quote(m.unit)),
        `if ip link show dev ${quote(m.iface)} >/dev/null 2>&1; then ${cmd("ip", "link", "delete", "dev", m.iface)}; fi`,
        cmd("rm", "-f", m.conf, m.dockerDropIn),
        "systemctl daemon-reload",
        "if command -v ufw >/dev/null 2>&1; then",
        ufwSyncLines(cfg, []).map((l) => `  ${l}`),
        "fi",
        `echo ${quote(`berth: ${m.iface} removed`)}`,
    );
}


// ---------------------------------------------------------------------------
// Data firewall (DOCKER-USER)
// ---------------------------------------------------------------------------

export interface DataFirewallRules {
    /** Addresses allowed to open connections to the published ports (the app hosts' private addresses). */
    readonly allowed: readonly string[];
    /** Host ports Docker publishes the data services on (postgres, redis). */
    readonly ports: readonly number[];
    /**
     * The interface allowed connections must arrive on (the mesh interface):
     * WireGuard only lets a peer send from its own mesh address, so the
     * source is authenticated. Unset on a provider's private network.
     */
    readonly inInterface?: string;
    /** Ports inside the containers (default: Postgres and Redis), for the direct-routing rule. */
    readonly containerPorts?: readonly number[];
}

/** The line that tells which DataFirewall resource wrote the unit. */
export function dataFirewallIdentityLine(identity: string): string {
    return identityLine("data firewall", identity);
}

/**
 * The chain, as an `iptables-restore --noflush` payload (declaring the chain
 * creates or flushes it, and the rules replace the old ones in one commit, so
 * there is no moment without them). Forwarded packets only (what Docker's
 * DNAT makes of a connection to a published port):
 *
 * 1. packets of connections already accepted pass (RETURN to Docker's rules);
 * 2. a new connection whose original destination port (before DNAT:
 *    `--ctorigdstport`) is a data port passes only from an allowed address
 *    (and the mesh interface), any other is dropped; `--ctstate DNAT` keeps
 *    the rule to connections to this host's published ports (a container's
 *    own outgoing connection to some port 5432 elsewhere is not DNAT);
 * 3. new connections routed straight to a container address on the data
 *    services' container ports (someone routing Docker's subnet through this
 *    host: no DNAT, and Docker 20.10's own rules accept them) are dropped
 *    unless they come from a Docker bridge.
 */
export function dataFirewallRules(cfg: MeshScope, opts: DataFirewallRules): string {
    const c = dataFirewallNames(cfg).chain;
    const allowed = [...new Set(opts.allowed.map((a) => ipv4("data firewall allowed address", a)))].sort();
    const ports = [...new Set(opts.ports.map((p) => port("data firewall port", p)))];
    const containerPorts = [...new Set((opts.containerPorts ?? DATA_CONTAINER_PORTS).map((p) => port("data container port", p)))];
    if (ports.length === 0) throw new Error("berth: the data firewall needs at least one port");
    if (opts.inInterface !== undefined && !IFACE.test(opts.inInterface)) throw new Error(`berth: ${JSON.stringify(opts.inInterface)} is not an interface name`);
    const via = opts.inInterface === undefined ? "" : ` -i ${opts.inInterface}`;
    const dnat = (p: number) => `-m conntrack --ctstate DNAT --ctorigdstport ${p}`;
    return [
        managedBy(cfg),
        `# Connections to ports ${ports.join(", ")} published by Docker: only from ${allowed.length ? allowed.join(", ") : "nowhere"}${via ? ` on ${opts.inInterface}` : ""}.`,
        "*filter",
        `:${c} - [0:0]`,
        `-A ${c} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
        ...ports.flatMap((p) => allowed.map((a) => `-A ${c} -s ${a}/32${via} -p tcp ${dnat(p)} -j RETURN`)),
        ...ports.map((p) => `-A ${c} ${dnat(p)} -j DROP`),
        `-A ${c} -i docker0 -j RETURN`,
        `-A ${c} -i br-+ -j RETURN`,
        ...["docker0", "br-+"].flatMap((o) =>
            containerPorts.map((p) => `-A ${c} -o ${o} -p tcp --dport ${p} -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP`),
        ),
        "COMMIT",
        "",
    ].join("\n");
}

/** The installed script the unit runs: (re)applies the chain and makes sure DOCKER-USER jumps to it. Idempotent. */
export function dataFirewallScriptFile(cfg: MeshScope, opts: DataFirewallRules): string {
    const f = dataFirewallNames(cfg);
    return [
        "#!/bin/bash",
        managedBy(cfg),
        `# Run by ${f.unit}.service before every start of docker.service.`,
        "set -euo pipefail",
        "# Docker creates DOCKER-USER at start and keeps an existing one with its rules.",
        "iptables -w -S DOCKER-USER >/dev/null 2>&1 || iptables -w -N DOCKER-USER",
        "iptables-restore -w --noflush <<'BERTH_RULES'",
        dataFirewallRules(cfg, opts).trimEnd(),
        "BERTH_RULES",
        `iptables -w -C DOCKER-USER -j ${f.chain} 2>/dev/null || iptables -w -I DOCKER-USER 1 -j ${f.chain}`,
        "",
    ].join("\n");
}

/**
 * The oneshot unit: runs before docker.service whenever docker is started
 * (WantedBy) or restarted (PartOf), so at boot the rules are in place before
 * Docker restores the containers and publishes their ports; stops without
 * removing anything (the rules stay; only berth's delete removes them).
 * Sandboxed like berth's other units, with only the capabilities iptables
 * needs.
 */
export function dataFirewallUnitFile(cfg: MeshScope, identity: string): string {
    const f = dataFirewallNames(cfg);
    return [
        managedBy(cfg),
        dataFirewallIdentityLine(identity),
        "[Unit]",
        `Description=berth ${cfg.names.id}: data services reachable from the app hosts only (DOCKER-USER)`,
        // Before docker: the chain is in DOCKER-USER before Docker restores
        // containers (Docker keeps an existing DOCKER-USER and its rules).
        "Before=docker.service",
        "PartOf=docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        `ExecStart=${f.script}`,
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        // iptables' lock file (/run/xtables.lock).
        "ReadWritePaths=/run",
        ...PROTECT,
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "PrivateIPC=yes",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap",
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
        "",
        "[Install]",
        "WantedBy=docker.service",
        "",
    ].join("\n");
}

/** The remote command: installs script and unit, enables the unit, applies the rules now and prints the chain. */
export function dataFirewallInstallScript(cfg: MeshScope, opts: DataFirewallRules, identity: string): string {
    const f = dataFirewallNames(cfg);
    return script(
        "command -v iptables-restore >/dev/null 2>&1 || { echo 'berth: iptables is not installed (docker.io brings it)' >&2; exit 1; }",
        "changed=0",
        writeFile(f.script, dataFirewallScriptFile(cfg, opts), { mode: "0755" }),
        writeFile(f.unitPath, dataFirewallUnitFile(cfg, identity), { mode: "0644" }),
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
        cmd("systemctl", "enable", "--quiet", `${f.unit}.service`),
        cmd("systemctl", "restart", `${f.unit}.service`),
        `iptables -w -C DOCKER-USER -j ${f.chain} || { echo ${quote(`berth: DOCKER-USER does not jump to ${f.chain}`)} >&2; exit 1; }`,
        cmd("iptables", "-w", "-S", f.chain),
    );
}

/** Removes unit, script and chain, unless the unit belongs to a newer DataFirewall resource. */
export function dataFirewallDeleteScript(cfg: MeshScope, identity: string): string {
    const f = dataFirewallNames(cfg);
    return script(
        `if [ -f ${quote(f.unitPath)} ] && ! grep -qxF ${quote(dataFirewallIdentityLine(identity))} ${quote(f.unitPath)}; then`,
        `  echo ${quote(`berth: ${f.unitPath} belongs to a newer data firewall resource; leaving it`)}`,
        "  exit 0",
        "fi",
        retireUnit(quote(`${f.unit}.service`)),
        "if command -v iptables >/dev/null 2>&1; then",
        `  while iptables -w -D DOCKER-USER -j ${f.chain} 2>/dev/null; do :; done`,
        `  if iptables -w -S ${f.chain} >/dev/null 2>&1; then iptables -w -F ${f.chain}; iptables -w -X ${f.chain}; fi`,
        "fi",
        cmd("rm", "-f", f.unitPath, f.script),
        "systemctl daemon-reload",
        `echo ${quote(`berth: ${f.chain} removed`)}`,
    );
}

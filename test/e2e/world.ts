/**
 * The e2e world: a disposable VPS, a git server holding the sample app, and
 * a local ACME CA (Pebble + challtestsrv), all made by test/e2e/host/*.sh on
 * the local Docker engine, plus the dev stack configuration pointed at them.
 *
 * The e2e suite and a running dev stack (`npm run dev:up`, which builds its
 * world with this module too, through dev-apply.ts) must not interfere, so a
 * world names everything it shares a machine with: its VPS container, its
 * set of services (`services`: own Pebble + challtestsrv ports, CA root, DNS
 * records and git server container, see BERTH_E2E_INSTANCE in host/lib.sh),
 * its domain(s) and its repository name. The defaults are the e2e suite's.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { configFrom, projectDefaults, ROOT, StackConfig } from "../unit/harness";
import { BerthConfig, parseConfig, Role } from "../../lib/config";
import { testDnsServer } from "./providers";

const HOST_DIR = path.join(ROOT, "test", "e2e", "host");

export interface VpsInfo {
    name: string;
    ip: string;
    sshPort: number;
    user: string;
    privateKeyPath: string;
    hostKey: string;
    /** The Docker network the VPS is on (`berth-e2e` unless BERTH_E2E_NETWORK says otherwise). */
    network?: string;
}

export interface GitInfo {
    ip: string;
    deployKeyPath: string;
    hostKey: string;
}

export interface AcmeInfo {
    directoryUrl: string;
    caBundlePem: string;
    rootsUrl: string;
    dnsApi: string;
    gateway: string;
    /** challtestsrv's DNS server (`ip:port`), where the world's records can be looked up. */
    dnsServer?: string;
}

export interface World {
    vps: VpsInfo;
    git: GitInfo;
    acme: AcmeInfo;
    repoUrl: string;
    /** sample-repo.sh's tags (test/e2e/sample-repo.sh says what each one is). */
    shas: { v1: string; v2: string; broken: string; redirect: string; jsbundling: string; generic: string; variants: string; variantsNext: string; multidb: string };
    work: string;
    /** Which set of host services (ACME CA + DNS, git server) this world uses: BERTH_E2E_INSTANCE. */
    services: string;
    /** The primary name of the dev stack in this world (`berth:domain`, APP_HOST), served over HTTPS. */
    domain: string;
    /** A name for a second, production stack on the same VPS (never the dev stack's). */
    prodDomain: string;
    /** The repository's name on the git server (`/home/git/<repo>.git`). */
    repo: string;
}

/** The e2e suite's names: none of them is used by the dev stack of `npm run dev:up`. */
export const E2E_WORLD = {
    vpsName: "berth-e2e-vps",
    services: "e2e",
    domain: "e2e.berth.test",
    prodDomain: "prod.e2e.berth.test",
    repo: "e2e-sample",
} as const;

export interface WorldOptions {
    /** Remove the VPS first (see makeWorld). */
    fresh?: boolean;
    /** Set of host services (BERTH_E2E_INSTANCE): "e2e" (default) or "dev" (scripts/dev.sh). */
    services?: string;
    domain?: string;
    prodDomain?: string;
    repo?: string;
    /**
     * Keep the test DNS's records for the world's names. Only the dev stack
     * (whose state outlives a run and already holds its record) sets this; a
     * test starts from an empty state, so any record is an earlier run's.
     */
    keepDns?: boolean;
    /** The Debian release the VPS runs (BERTH_E2E_SUITE, host/lib.sh): trixie (Debian 13, default) or bookworm (Debian 12). */
    suite?: "trixie" | "bookworm";
}

function sh(script: string, args: string[], opts: { input?: string; services?: string; suite?: string } = {}): string {
    const env = { ...process.env, ...(opts.services ? { BERTH_E2E_INSTANCE: opts.services } : {}), ...(opts.suite ? { BERTH_E2E_SUITE: opts.suite } : {}) };
    const r = spawnSync("bash", [path.join(HOST_DIR, script), ...args], { encoding: "utf8", input: opts.input, env, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${script} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
    return r.stdout;
}

export function vps(args: string[], suite?: string): string {
    return sh("vps.sh", args, { suite });
}

/** Runs a command on the VPS as root (test-side inspection, not the program). */
export function onVps(world: World, command: string, input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(
        "ssh",
        [
            "-i", world.vps.privateKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${path.join(world.work, "known_hosts")}`,
            "-p", String(world.vps.sshPort), `root@${world.vps.ip}`, "--", command,
        ],
        { encoding: "utf8", input, maxBuffer: 64 << 20 },
    );
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Builds (or, with `fresh: false`, reuses) the world. The scenarios need
 * `fresh: true`: a VPS left running by an interrupted earlier run still holds
 * that run's certificates and ACME account, issued by a Pebble whose root no
 * longer exists (Pebble makes a new root each start), so "fresh host" would
 * be a lie and HTTPS would not chain to the current root.
 */
/**
 * Removes names from the test DNS. challtestsrv appends A records and keeps
 * them while it runs (it outlives e2e runs), so a record left by an earlier
 * run — a production destroy is refused and keeps its record — names an old
 * VPS address that docker may since have given to another container (the dev
 * stack's VPS): Pebble's HTTP-01 request then reaches that host's nginx and
 * gets a 404 (seen: scenario 7 failed while a dev stack was up).
 */
function clearDns(dnsApi: string, names: string[]): void {
    for (const name of names) {
        for (const kind of ["clear-a", "clear-aaaa"]) {
            execFileSync("curl", ["-fsS", "-o", "/dev/null", "-d", JSON.stringify({ host: `${name}.` }), `${dnsApi}/${kind}`]);
        }
    }
}

export function makeWorld(name: string = E2E_WORLD.vpsName, opts: WorldOptions = {}): World {
    const services = opts.services ?? E2E_WORLD.services;
    const domain = opts.domain ?? E2E_WORLD.domain;
    const prodDomain = opts.prodDomain ?? E2E_WORLD.prodDomain;
    const repo = opts.repo ?? E2E_WORLD.repo;
    if (domain === prodDomain) throw new Error(`makeWorld: domain and prodDomain are both ${domain}`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-e2e-"));
    const vpsInfo = startVps(name, opts.fresh, opts.suite);
    fs.writeFileSync(path.join(work, "known_hosts"), `${vpsInfo.ip} ${vpsInfo.hostKey}\n`);
    const { git, acme, repoUrl, shas } = startServices(work, { services, domain, prodDomain, repo, keepDns: opts.keepDns });
    return { vps: vpsInfo, git, acme, repoUrl, shas, work, services, domain, prodDomain, repo };
}

/** Starts (or reuses) VPS `name`; `fresh` removes it first (see makeWorld). */
function startVps(name: string, fresh?: boolean, suite?: string): VpsInfo {
    if (fresh) vps(["down", name]);
    try {
        return JSON.parse(vps(["up", name], suite)) as VpsInfo;
    } catch (e) {
        // A container that did not boot (seen rarely right after a removal): start over once.
        process.stderr.write(`${(e as Error).message}\nretrying with a new container\n`);
        vps(["down", name]);
        return JSON.parse(vps(["up", name], suite)) as VpsInfo;
    }
}

/**
 * A world's set of services: its ACME CA + test DNS (with the world's names
 * cleared unless `keepDns`), its git server, and the sample repository
 * (built in `work/sample`) pushed there as `repo`.
 */
function startServices(
    work: string,
    o: { services: string; domain: string; prodDomain: string; repo: string; keepDns?: boolean },
): { git: GitInfo; acme: AcmeInfo; repoUrl: string; shas: Fleet["shas"] } {
    const acme = JSON.parse(sh("acme.sh", ["up"], { services: o.services })) as AcmeInfo;
    if (!o.keepDns) clearDns(acme.dnsApi, [o.domain, o.prodDomain]);
    sh("vps.sh", ["gitserver", "up"], { services: o.services });
    const repoDir = path.join(work, "sample");
    const shas = JSON.parse(execFileSync("bash", [path.join(ROOT, "test", "e2e", "sample-repo.sh"), repoDir], { encoding: "utf8" }));
    const repoUrl = sh("vps.sh", ["gitserver", "push", repoDir, o.repo], { services: o.services }).trim();
    const git = JSON.parse(sh("vps.sh", ["gitserver", "info"], { services: o.services })) as GitInfo;
    return { git, acme, repoUrl, shas };
}

/** The `config:` map of Pulumi.dev.yaml. */
export function devStackFile(): Record<string, unknown> {
    return YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")).config as Record<string, unknown>;
}

/**
 * The dev stack file, pointed at this world, as the engine would hand it to
 * the program: `berth:domain` and `berth:env.APP_HOST` are `world.domain`
 * (an override of `berth:domain` or `berth:env` replaces them).
 */
export function devConfig(world: World, overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
    return worldStackConfig(world, { "berth:host": world.vps.ip, "berth:hostKey": world.vps.hostKey }, {}, overrides, stack);
}

/**
 * `pulumi config rm <key>` on a StackConfig: the program then sees the key's
 * default declared in Pulumi.yaml, if it has one (the engine applies the
 * project's defaults, as `configFrom` does), else no value.
 */
export function configRm(sc: StackConfig, key: string): void {
    const declared = projectDefaults()[key];
    if (declared === undefined) delete sc.values[key];
    else sc.values[key] = declared;
    sc.secretKeys = sc.secretKeys.filter((k) => k !== key);
}

/**
 * What devConfig and fleetConfig share: the dev stack file pointed at the
 * world's names, repository, ACME CA (`acme` adds keys to `berth:acme`) and
 * test DNS, with `hostKeys` saying where the stack runs; the SSH and deploy
 * keys are the world's real ones (secrets).
 */
function worldStackConfig(world: World, hostKeys: Record<string, unknown>, acmeExtra: Record<string, unknown>, overrides: Record<string, unknown>, stack: string): StackConfig {
    const doc = devStackFile();
    const acme = { ...(doc["berth:acme"] as object), ...acmeExtra, server: world.acme.directoryUrl, caBundle: world.acme.caBundlePem };
    const raw: Record<string, unknown> = {
        ...doc,
        "berth:domain": world.domain,
        "berth:env": { ...((doc["berth:env"] as object | undefined) ?? {}), APP_HOST: world.domain },
        ...hostKeys,
        "berth:sshAgent": false,
        "berth:privateKey": { secure: "x" },
        "berth:repository": world.repoUrl,
        "berth:repositoryHostKey": world.git.hostKey,
        "berth:deployKey": { secure: "x" },
        "berth:acme": acme,
        "berth:dns": true,
        "berth:cloudflare": { zoneId: "0".repeat(32) },
        ...overrides,
    };
    const cfg = configFrom(stack, raw);
    cfg.values["berth:privateKey"] = fs.readFileSync(world.vps.privateKeyPath, "utf8");
    cfg.values["berth:deployKey"] = fs.readFileSync(world.git.deployKeyPath, "utf8");
    cfg.secrets.push(cfg.values["berth:privateKey"], cfg.values["berth:deployKey"]);
    return cfg;
}

// ---------------------------------------------------------------------------
// The fleet: three VPS for one multi-host stack (test/e2e/multi.test.ts)
// ---------------------------------------------------------------------------

/** The multi-host suite's names: its VPS (`<vpsPrefix>-<host>`), services set, names and repository. */
export const MULTI_WORLD = {
    vpsPrefix: "berth-multi",
    services: "multi",
    domain: "multi.berth.test",
    prodDomain: "prod.multi.berth.test",
    repo: "multi-sample",
} as const;

/** The fleet's hosts, in `berth:hosts` order. */
export const FLEET_HOSTS = ["web1", "web2", "data"] as const;
export type FleetHost = (typeof FLEET_HOSTS)[number];
/** Each host's roles in `berth:hosts`: two web hosts (the first also runs the worker), one data host. */
export const FLEET_ROLES: Readonly<Record<FleetHost, readonly Role[]>> = { web1: ["web", "worker"], web2: ["web"], data: ["data"] };
/** The hosts with the web role (nginx, certificate, an A record each). */
export const FLEET_WEB_HOSTS = FLEET_HOSTS.filter((h) => FLEET_ROLES[h].includes("web"));

/**
 * A world of three VPS for one `berth:hosts` stack (or, with makeFleet's
 * `hosts`, of some of them: `H`). It is a World whose `vps` is the first host,
 * web1 (so Stage, devConfig, onVps and the single-host helpers work on web1);
 * `hosts` has each of them. One known_hosts file in `work` pins every key.
 */
export interface Fleet<H extends FleetHost = FleetHost> extends World {
    hosts: Record<H, VpsInfo>;
    /** The fleet's hosts in `berth:hosts` order (FLEET_HOSTS unless makeFleet was given `hosts`). */
    hostNames: readonly H[];
    /** sample-repo.sh's tags, with `hostcheck` (v2 whose /up answers 500 where /etc/berth-e2e-unhealthy exists). */
    shas: World["shas"] & { hostcheck: string };
    /**
     * How the hosts reach each other's private address: "mesh" (no
     * `privateAddress` in `berth:hosts`: berth's WireGuard mesh, addresses
     * from lib/config.ts meshAddress) or "network" (each host's
     * `privateAddress` is its address on the berth-e2e bridge, standing in
     * for a provider's private network).
     */
    privateNetwork: "mesh" | "network";
}

export interface FleetOptions<H extends FleetHost = FleetHost> {
    /** Container names are `<vpsPrefix>-web1|web2|data`. */
    vpsPrefix?: string;
    /** Which of FLEET_HOSTS to start, in `berth:hosts` order (default: all three). The first is the world's `vps`. */
    hosts?: readonly H[];
    /**
     * The hosts that get the Postgres/Redis images staged (default: those with
     * the data role). A stack that starts as a single-host stack on the first
     * host needs them there too.
     */
    imagesOn?: readonly H[];
    services?: string;
    domain?: string;
    prodDomain?: string;
    repo?: string;
    privateNetwork?: Fleet["privateNetwork"];
}

/**
 * Brings up the fleet, always from fresh hosts (the reason is makeWorld's):
 * the VPS (an earlier run's are removed first), the world's services set
 * (ACME CA + test DNS with the names cleared, git server, repository), and
 * the Postgres/Redis images staged on the data host (the only one that gets
 * a Docker engine) unless `imagesOn` names other hosts.
 */
export function makeFleet<H extends FleetHost = FleetHost>(opts: FleetOptions<H> = {}): Fleet<H> {
    const prefix = opts.vpsPrefix ?? MULTI_WORLD.vpsPrefix;
    const services = opts.services ?? MULTI_WORLD.services;
    const domain = opts.domain ?? MULTI_WORLD.domain;
    const prodDomain = opts.prodDomain ?? MULTI_WORLD.prodDomain;
    const repo = opts.repo ?? MULTI_WORLD.repo;
    if (domain === prodDomain) throw new Error(`makeFleet: domain and prodDomain are both ${domain}`);
    const hostNames = opts.hosts ?? (FLEET_HOSTS as readonly FleetHost[] as readonly H[]);
    if (hostNames.length === 0 || new Set(hostNames).size !== hostNames.length) throw new Error(`makeFleet: hosts ${JSON.stringify(hostNames)}`);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `${path.basename(prefix)}-`));
    const hosts = {} as Record<H, VpsInfo>;
    for (const h of hostNames) hosts[h] = startVps(`${prefix}-${h}`, true);
    fs.writeFileSync(path.join(work, "known_hosts"), hostNames.map((h) => `${hosts[h].ip} ${hosts[h].hostKey}\n`).join(""));
    for (const h of opts.imagesOn ?? hostNames.filter((x) => FLEET_ROLES[x].includes("data"))) vps(["stage-images", hosts[h].name]);
    const { git, acme, repoUrl, shas } = startServices(work, { services, domain, prodDomain, repo });
    // The DNS model (providers.ts) finds the test DNS server from the API's address; acme.sh says where it is.
    if (acme.dnsServer && acme.dnsServer !== testDnsServer(acme.dnsApi)) {
        throw new Error(`makeFleet: acme.sh's DNS server ${acme.dnsServer} is not where the DNS model looks (${testDnsServer(acme.dnsApi)})`);
    }
    if (!shas.hostcheck) throw new Error("makeFleet: sample-repo.sh printed no hostcheck sha");
    return { vps: hosts[hostNames[0]], hosts, hostNames, git, acme, repoUrl, shas, work, services, domain, prodDomain, repo, privateNetwork: opts.privateNetwork ?? "mesh" };
}

/** Removes the fleet's VPS containers (best effort: each is tried). */
export function removeFleet(fleet: { hosts: Partial<Record<FleetHost, VpsInfo>> }): void {
    removeVps(...Object.values(fleet.hosts).flatMap((info) => (info ? [info.name] : [])));
}

/** Removes VPS containers, best effort: a failure is printed, not thrown (teardown must not fail a passed file). */
export function removeVps(...names: string[]): void {
    for (const name of names) {
        try {
            vps(["down", name]);
        } catch (e) {
            process.stderr.write(`${(e as Error).message}\n`);
        }
    }
}

/** BERTH_E2E_KEEP=1: leave the hosts running after the file (to look at them). */
export function keepHosts(): boolean {
    return process.env.BERTH_E2E_KEEP === "1";
}

/** Runs a command as root on one host of the fleet (test-side inspection, not the program). */
export function onHost<H extends FleetHost>(fleet: Fleet<H>, host: H, command: string, input?: string): { code: number; stdout: string; stderr: string } {
    return onVps({ ...fleet, vps: fleet.hosts[host] }, command, input);
}

/** The fleet as `berth:hosts`: name, address, pinned key, roles (and privateAddress on a "network" fleet). */
export function fleetHosts<H extends FleetHost>(fleet: Fleet<H>): Record<string, unknown>[] {
    return fleet.hostNames.map((h) => ({
        name: h,
        address: fleet.hosts[h].ip,
        hostKey: fleet.hosts[h].hostKey,
        roles: [...FLEET_ROLES[h]],
        ...(fleet.privateNetwork === "network" ? { privateAddress: fleet.hosts[h].ip } : {}),
    }));
}

/**
 * certbot --manual hooks (`berth:dns01`) that publish the DNS-01 TXT record
 * in the world's test DNS (pebble-challtestsrv's management API), where
 * Pebble looks it up. certbot runs them with CERTBOT_DOMAIN and
 * CERTBOT_VALIDATION set. challtestsrv's clear-txt removes every TXT value of
 * the name (Cloudflare's plugin deletes only its own record).
 */
export function dns01Hooks(dnsApi: string): { authHook: string; cleanupHook: string } {
    const host = '\\"host\\":\\"_acme-challenge.${CERTBOT_DOMAIN}.\\"';
    return {
        authHook: `curl -fsS -d "{${host},\\"value\\":\\"\${CERTBOT_VALIDATION}\\"}" ${dnsApi}/set-txt`,
        cleanupHook: `curl -fsS -d "{${host}}" ${dnsApi}/clear-txt`,
    };
}

/**
 * The dev stack file as a three-host stack on the fleet (devConfig's
 * counterpart): `berth:hosts` instead of `berth:host`/`hostKey`/`hostIpv6`,
 * certificates over DNS-01 (`berth:acme.challenge`) with the test DNS's
 * hooks in `berth:dns01` (secret); everything else as devConfig. Overrides
 * win, as there.
 */
export function fleetConfig(fleet: Fleet, overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
    const hostKeys = { "berth:host": undefined, "berth:hostKey": undefined, "berth:hostIpv6": undefined, "berth:hosts": fleetHosts(fleet), "berth:dns01": { secure: "x" } };
    const cfg = worldStackConfig(fleet, hostKeys, { challenge: "dns-01" }, overrides, stack);
    if (!("berth:dns01" in overrides)) {
        // The placeholder secret's value, replaced by the hooks. They are not credentials (their text is
        // in certbot's renewal file and process list on the host), so they are not in cfg.secrets.
        const placeholder = cfg.values["berth:dns01"];
        cfg.secrets = cfg.secrets.filter((s) => s !== placeholder);
        cfg.values["berth:dns01"] = JSON.stringify(dns01Hooks(fleet.acme.dnsApi));
    }
    return cfg;
}

/** The program's view of a stack configuration (lib/config.ts parseConfig); throws listing every problem. */
export function parsedConfig(sc: StackConfig, project = "berth"): BerthConfig {
    const r = parseConfig(sc.values, { project, stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    if (!r.ok) throw new Error(`invalid stack configuration:\n  ${r.errors.join("\n  ")}`);
    return r.config;
}

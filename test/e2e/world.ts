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
import { configFrom, ROOT, StackConfig } from "../unit/harness";

const HOST_DIR = path.join(ROOT, "test", "e2e", "host");

export interface VpsInfo {
    name: string;
    ip: string;
    sshPort: number;
    user: string;
    privateKeyPath: string;
    hostKey: string;
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
}

export interface World {
    vps: VpsInfo;
    git: GitInfo;
    acme: AcmeInfo;
    repoUrl: string;
    shas: { v1: string; v2: string; broken: string };
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
}

function sh(script: string, args: string[], opts: { input?: string; services?: string } = {}): string {
    const env = opts.services ? { ...process.env, BERTH_E2E_INSTANCE: opts.services } : process.env;
    const r = spawnSync("bash", [path.join(HOST_DIR, script), ...args], { encoding: "utf8", input: opts.input, env, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${script} ${args.join(" ")} failed (${r.status}):\n${r.stderr}`);
    return r.stdout;
}

export function vps(args: string[]): string {
    return sh("vps.sh", args);
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
    const vpsInfo = startVps(name, opts.fresh);
    fs.writeFileSync(path.join(work, "known_hosts"), `${vpsInfo.ip} ${vpsInfo.hostKey}\n`);
    const { git, acme, repoUrl, shas } = startServices(work, { services, domain, prodDomain, repo, keepDns: opts.keepDns });
    return { vps: vpsInfo, git, acme, repoUrl, shas, work, services, domain, prodDomain, repo };
}

/** Starts (or reuses) VPS `name`; `fresh` removes it first (see makeWorld). */
function startVps(name: string, fresh?: boolean): VpsInfo {
    if (fresh) vps(["down", name]);
    try {
        return JSON.parse(vps(["up", name])) as VpsInfo;
    } catch (e) {
        // A container that did not boot (seen rarely right after a removal): start over once.
        process.stderr.write(`${(e as Error).message}\nretrying with a new container\n`);
        vps(["down", name]);
        return JSON.parse(vps(["up", name])) as VpsInfo;
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
): Pick<World, "git" | "acme" | "repoUrl" | "shas"> {
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

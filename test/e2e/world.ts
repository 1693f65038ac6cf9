/**
 * The e2e world: a disposable VPS, a git server holding the sample app, and
 * a local ACME CA (Pebble + challtestsrv), all made by test/e2e/host/*.sh on
 * the local Docker engine, plus the dev stack configuration pointed at them.
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
}

function sh(script: string, args: string[], opts: { input?: string } = {}): string {
    const r = spawnSync("bash", [path.join(HOST_DIR, script), ...args], { encoding: "utf8", input: opts.input, maxBuffer: 64 << 20 });
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
export function makeWorld(name = "berth-e2e-vps", opts: { fresh?: boolean } = {}): World {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-e2e-"));
    if (opts.fresh) vps(["down", name]);
    let vpsInfo: VpsInfo;
    try {
        vpsInfo = JSON.parse(vps(["up", name])) as VpsInfo;
    } catch (e) {
        // A container that did not boot (seen rarely right after a removal): start over once.
        process.stderr.write(`${(e as Error).message}\nretrying with a new container\n`);
        vps(["down", name]);
        vpsInfo = JSON.parse(vps(["up", name])) as VpsInfo;
    }
    fs.writeFileSync(path.join(work, "known_hosts"), `${vpsInfo.ip} ${vpsInfo.hostKey}\n`);
    const acme = JSON.parse(sh("acme.sh", ["up"])) as AcmeInfo;
    vps(["gitserver", "up"]);
    const repoDir = path.join(work, "sample");
    const shas = JSON.parse(execFileSync("bash", [path.join(ROOT, "test", "e2e", "sample-repo.sh"), repoDir], { encoding: "utf8" }));
    const repoUrl = vps(["gitserver", "push", repoDir, "sample"]).trim();
    const git = JSON.parse(vps(["gitserver", "info"])) as GitInfo;
    return { vps: vpsInfo, git, acme, repoUrl, shas, work };
}

/** The dev stack file, pointed at this world, as the engine would hand it to the program. */
export function devConfig(world: World, overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")).config as Record<string, unknown>;
    const acme = { ...(doc["berth:acme"] as object), server: world.acme.directoryUrl, caBundle: world.acme.caBundlePem };
    const raw: Record<string, unknown> = {
        ...doc,
        "berth:host": world.vps.ip,
        "berth:hostKey": world.vps.hostKey,
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

/**
 * What every e2e scenario file needs, in one place: a `Stage` holds one
 * world (test/e2e/world.ts) and one driver, and gives HTTPS requests that
 * trust only that world's Pebble root, a bounded load loop, the
 * preview-then-up step (what a preview announced must be what the up did),
 * and SSH access to the VPS for inspection.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { Driver } from "./driver";
import { UpReport } from "./applier";
import { TestDns } from "./providers";
import { devConfig, Fleet, FLEET_WEB_HOSTS, fleetConfig, FleetHost, onHost, parsedConfig, World } from "./world";
import { ROOT, StackConfig } from "../unit/harness";
import { BerthConfig } from "../../lib/config";

export interface LoadStats {
    sent: number;
    failed: number;
    failures: string[];
}

export class Stage {
    /** Pebble's root (PEM), fetched once the world's CA runs. */
    pebbleRoot = "";

    constructor(readonly world: World, readonly driver: Driver, private baseOverrides: Record<string, unknown> = {}) {}

    /** The dev stack pointed at this world, with the stage's and the call's overrides. */
    cfg(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
        return devConfig(this.world, { ...this.baseOverrides, ...overrides }, stack);
    }

    async fetchPebbleRoot(): Promise<string> {
        this.pebbleRoot = await new Promise((resolve, reject) => {
            https
                .get(this.world.acme.rootsUrl, { ca: this.world.acme.caBundlePem }, (res) => {
                    let body = "";
                    res.on("data", (d) => (body += d));
                    res.on("end", () => resolve(body));
                })
                .on("error", reject);
        });
        return this.pebbleRoot;
    }

    /**
     * GET https://<domain><path> against the VPS, trusting only Pebble's root
     * (domain: the world's own; agent: false opens a connection per request).
     */
    get(p: string, timeoutMs = 5000, domain = this.world.domain, agent: https.Agent | false = false): Promise<{ status: number; body: string }> {
        return httpsGet({ ip: this.world.vps.ip, domain, ca: this.pebbleRoot }, p, timeoutMs, agent);
    }

    /**
     * Any method to https://<domain><path> on the VPS (Pebble's root only), with
     * headers and a body; answers status, headers and body (for forms: the
     * CSRF token and the session cookie travel as a browser would send them).
     */
    request(method: string, p: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<HttpsAnswer> {
        return httpsRequest({ ip: this.world.vps.ip, domain: this.world.domain, ca: this.pebbleRoot }, method, p, opts);
    }

    /** Bounded load loop (test network only): one request at a time until stopped or the caps. */
    loadLoop(maxRequests = 20000, maxMs = 10 * 60_000, p = "/up") {
        let stop = false;
        const stats: LoadStats = { sent: 0, failed: 0, failures: [] };
        const t0 = Date.now();
        const done = (async () => {
            while (!stop && stats.sent < maxRequests && Date.now() - t0 < maxMs) {
                stats.sent++;
                try {
                    const r = await this.get(p, 10_000);
                    if (r.status !== 200) {
                        stats.failed++;
                        stats.failures.push(`HTTP ${r.status}`);
                    }
                } catch (e) {
                    stats.failed++;
                    stats.failures.push((e as Error).message);
                }
                await sleep(20);
            }
        })();
        return { stats, stop: async () => ((stop = true), await done, stats) };
    }

    /**
     * `pulumi preview --diff` then `pulumi up` with the same configuration:
     * what the preview announced is what the up did. A step planned on
     * unknown inputs (e.g. "update" of a command whose input waits on a
     * replaced resource) may turn out "same"; every other step must match,
     * and the up may take no step the preview did not announce.
     */
    async up(overrides: Record<string, unknown> = {}, driver = this.driver, stack = "dev"): Promise<UpReport> {
        return (await previewThenUp(driver, this.cfg(overrides, stack))).up;
    }

    private sshArgs(): string[] {
        return ["-i", this.world.vps.privateKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${path.join(this.world.work, "known_hosts")}`];
    }

    /** ssh with the world's pinned host key and the given arguments (no key of ours unless given). */
    ssh(args: string[]): string {
        const r = spawnSync("ssh", ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${path.join(this.world.work, "known_hosts")}`, ...args], { encoding: "utf8" });
        return `${r.stdout}${r.stderr}`;
    }

    /** A command on the VPS as root in the background (test-side inspection). */
    onVpsBackground(command: string): { kill(): void } {
        const p = spawn("ssh", [...this.sshArgs(), `root@${this.world.vps.ip}`, "--", command], { stdio: "ignore" });
        return { kill: () => p.kill() };
    }
}

/** Where an HTTPS request goes: the host's address, the name it asks for (SNI and Host), the only root it trusts. */
export interface HttpsTarget {
    ip: string;
    domain: string;
    ca: string;
}

/** GET https://<domain><path> against `t.ip`, trusting only `t.ca` (agent: false opens a connection per request). */
export interface HttpsAnswer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
}

/** One HTTPS request (a connection of its own), trusting only `t.ca`. */
export function httpsRequest(t: HttpsTarget, method: string, p: string, opts: { headers?: Record<string, string>; body?: string } = {}, timeoutMs = 10_000): Promise<HttpsAnswer> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { host: t.domain, ...(opts.headers ?? {}) };
        if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
        const req = https.request({ host: t.ip, port: 443, path: p, method, servername: t.domain, headers, ca: t.ca, timeout: timeoutMs, agent: false }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end(opts.body);
    });
}

export function httpsGet(t: HttpsTarget, p: string, timeoutMs = 5000, agent: https.Agent | false = false): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.request(
            { host: t.ip, port: 443, path: p, servername: t.domain, headers: { host: t.domain }, ca: t.ca, timeout: timeoutMs, agent },
            (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end();
    });
}

/**
 * `pulumi preview --diff` then `pulumi up` of one stack configuration (what
 * Stage.up does with its own): the preview runs no remote command, and what
 * it announced is what the up did (assertPreviewMatches).
 */
export async function previewThenUp(driver: Driver, c: StackConfig): Promise<{ planned: UpReport; up: UpReport }> {
    const planned = await driver.preview(c);
    assert.ok(planned.ok || planned.error, "preview ran");
    assert.deepEqual(planned.commands, [], "a preview runs no remote command");
    const r = await driver.up(c);
    if (planned.ok) assertPreviewMatches(planned.steps, r.steps, r.ok);
    return { planned, up: r };
}

export function assertPreviewMatches(planned: Record<string, { op: string }>, done: Record<string, { op: string }>, finished: boolean): void {
    const problems: string[] = [];
    for (const [urn, s] of Object.entries(done)) {
        const p = planned[urn]?.op;
        if (p === s.op) continue;
        if (p === "update" && s.op === "same") continue; // planned on unknown inputs
        problems.push(`${urn}: preview said ${p ?? "nothing"}, up did ${s.op}`);
    }
    if (finished) {
        for (const [urn, p] of Object.entries(planned)) {
            if (p.op !== "same" && !done[urn]) problems.push(`${urn}: preview said ${p.op}, up did nothing`);
        }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
}

/** True when nothing accepts a TCP connection at host:port within 3 s. */
export function tcpRefused(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 3000 });
        s.on("connect", () => (s.destroy(), resolve(false)));
        s.on("timeout", () => (s.destroy(), resolve(true)));
        s.on("error", () => resolve(true));
    });
}

// ---------------------------------------------------------------------------
// Several hosts (test/e2e/multi.test.ts)
// ---------------------------------------------------------------------------

/** What a host served on 443 for a name: `authorized` = chains to the trusted root and names the domain. */
export interface ServedCertificate {
    authorized: boolean;
    /** Why not authorized (Node's authorizationError), if so. */
    error?: string;
    fingerprint256: string;
    subjectaltname: string;
    issuer: string;
}

/** The certificate `t.ip` serves for `t.domain` (SNI), checked against `t.ca` only (chain and name). */
export function servedCertificate(t: HttpsTarget, timeoutMs = 5000): Promise<ServedCertificate> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host: t.ip, port: 443, servername: t.domain, ca: t.ca, rejectUnauthorized: false }, () => {
            const c = s.getPeerCertificate();
            const issuer = Object.entries(c.issuer ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
            resolve({ authorized: s.authorized, error: s.authorizationError ? String(s.authorizationError) : undefined, fingerprint256: c.fingerprint256, subjectaltname: c.subjectaltname ?? "", issuer });
            s.end();
        });
        s.setTimeout(timeoutMs, () => s.destroy(new Error(`TLS to ${t.ip} (${t.domain}): timeout`)));
        s.on("error", reject);
    });
}

/** SHA-256 fingerprint of a PEM certificate, in the form Node's getPeerCertificate() gives it (AB:CD:...). */
export function pemFingerprint256(pem: string): string {
    return new crypto.X509Certificate(pem).fingerprint256;
}

export interface SpreadLoadStats extends LoadStats {
    /** Requests sent and failed per target. */
    byTarget: Record<string, { sent: number; failed: number }>;
}

export interface SpreadLoadOptions {
    /** Keep-alive connections per target, each sending one request after another (4). */
    connections?: number;
    path?: string;
    /** Caps: requests in all (100,000) and duration (10 minutes), whichever comes first. */
    maxRequests?: number;
    maxMs?: number;
    /** Per-request timeout (30 s) and pause after each request on a connection (10 ms). */
    timeoutMs?: number;
    pauseMs?: number;
}

/**
 * Bounded keep-alive load spread over several hosts (test network only):
 * `connections` keep-alive connections to each target (its own agent,
 * trusting only the target's root), each sending GET `path` back to back
 * until stopped or a cap is reached; non-200 answers and errors are failures,
 * named with the target. Like faults.test.ts's keepAliveLoad, on several hosts.
 */
export function keepAliveLoad(targets: (HttpsTarget & { name: string })[], o: SpreadLoadOptions = {}): { stats: SpreadLoadStats; stop(): Promise<SpreadLoadStats> } {
    const connections = o.connections ?? 4;
    const maxRequests = o.maxRequests ?? 100_000;
    const maxMs = o.maxMs ?? 10 * 60_000;
    const p = o.path ?? "/up";
    const stats: SpreadLoadStats = { sent: 0, failed: 0, failures: [], byTarget: Object.fromEntries(targets.map((t) => [t.name, { sent: 0, failed: 0 }])) };
    let stop = false;
    const t0 = Date.now();
    const bounded = () => !stop && stats.sent < maxRequests && Date.now() - t0 < maxMs;
    const agents = targets.map((t) => new https.Agent({ keepAlive: true, maxSockets: connections, ca: t.ca, servername: t.domain }));
    const worker = async (t: HttpsTarget & { name: string }, agent: https.Agent) => {
        const mine = stats.byTarget[t.name];
        while (bounded()) {
            stats.sent++;
            mine.sent++;
            let failure: string | undefined;
            try {
                const r = await httpsGet(t, p, o.timeoutMs ?? 30_000, agent);
                if (r.status !== 200) failure = `HTTP ${r.status}`;
            } catch (e) {
                failure = (e as Error).message;
            }
            if (failure) {
                stats.failed++;
                mine.failed++;
                if (stats.failures.length < 100) stats.failures.push(`${t.name}: ${failure}`);
            }
            await sleep(o.pauseMs ?? 10);
        }
    };
    const done = Promise.all(targets.flatMap((t, i) => Array.from({ length: connections }, () => worker(t, agents[i]))));
    return {
        stats,
        stop: async () => {
            stop = true;
            await done;
            for (const a of agents) a.destroy();
            return stats;
        },
    };
}

/**
 * A Stage on a three-host fleet (world.ts makeFleet): `cfg` is fleetConfig
 * (so `up` is still preview-then-up), `get` and `loadLoop` go to web1 (the
 * fleet's `vps`), and the methods below name the host.
 */
export class FleetStage extends Stage {
    constructor(readonly fleet: Fleet, driver: Driver, private fleetOverrides: Record<string, unknown> = {}) {
        super(fleet, driver, fleetOverrides);
    }

    override cfg(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
        return fleetConfig(this.fleet, { ...this.fleetOverrides, ...overrides }, stack);
    }

    /** The program's view of the stack with these overrides (lib/config.ts parseConfig). */
    config(overrides: Record<string, unknown> = {}, stack = "dev"): BerthConfig {
        return parsedConfig(this.cfg(overrides, stack));
    }

    /** HTTPS to one host of the fleet for `domain`, trusting only Pebble's root (fetchPebbleRoot first). */
    target(host: FleetHost, domain = this.fleet.domain): HttpsTarget & { name: string } {
        return { name: host, ip: this.fleet.hosts[host].ip, domain, ca: this.pebbleRoot };
    }

    /** GET through one host (its address, SNI and Host = domain). */
    getVia(host: FleetHost, p: string, timeoutMs = 5000, domain = this.fleet.domain): Promise<{ status: number; body: string }> {
        return httpsGet(this.target(host, domain), p, timeoutMs);
    }

    /** GET /version through every web host: the revision each one serves. */
    async versions(): Promise<Record<string, string>> {
        const out: Record<string, string> = {};
        for (const h of FLEET_WEB_HOSTS) {
            const r = await this.getVia(h, "/version");
            out[h] = r.status === 200 ? r.body.trim() : `HTTP ${r.status}`;
        }
        return out;
    }

    /** The certificate a host serves for the domain. */
    certificate(host: FleetHost, domain = this.fleet.domain): Promise<ServedCertificate> {
        return servedCertificate(this.target(host, domain));
    }

    /** keepAliveLoad over every web host of the fleet. */
    load(o: SpreadLoadOptions = {}): ReturnType<typeof keepAliveLoad> {
        return keepAliveLoad(FLEET_WEB_HOSTS.map((h) => this.target(h)), o);
    }

    /** A command as root on one host (test-side inspection). */
    onHost(host: FleetHost, command: string, input?: string): { code: number; stdout: string; stderr: string } {
        return onHost(this.fleet, host, command, input);
    }

    /** What the world's test DNS answers for a name (A or AAAA), sorted. */
    async resolve(name = this.fleet.domain, type: "A" | "AAAA" = "A"): Promise<string[]> {
        return (await new TestDns(this.fleet.acme.dnsApi, this.fleet.acme.dnsServer).addresses(type, name)).sort();
    }
}

/**
 * TCP connections from a throwaway container on the fleet's Docker network
 * that is none of the stack's hosts (a neighbour on the same network, e.g.
 * another tenant's machine): `routes` are added first (`ip route add <to>
 * via <via>`: e.g. the data host's private address through its public one,
 * which is what a neighbour that knows the address could do). Give a route
 * for every address off the test network: the default route leads out of
 * the machine, where something may accept any TCP connection (this
 * sandbox's uplink does). Returns "address:port" -> true when a connection
 * was accepted within 3 s.
 */
export function neighbourConnects(fleet: Fleet, targets: { address: string; port: number }[], routes: { to: string; via: string }[] = []): Record<string, boolean> {
    const image = execFileSync("docker", ["inspect", "-f", "{{.Config.Image}}", fleet.hosts.data.name], { encoding: "utf8" }).trim();
    const network = fleet.hosts.data.network ?? "berth-e2e";
    const lines = [
        ...routes.map((r) => `ip route add ${r.to} via ${r.via} || exit 3`),
        ...targets.map((t) => `if timeout 3 bash -c 'exec 3<>/dev/tcp/${t.address}/${t.port}' 2>/dev/null; then echo "open ${t.address}:${t.port}"; else echo "closed ${t.address}:${t.port}"; fi`),
    ];
    const r = spawnSync(
        "docker",
        ["run", "--rm", "--label", "berth.e2e=1", "--network", network, "--cap-add", "NET_ADMIN", "--entrypoint", "bash", image, "-c", lines.join("\n")],
        { encoding: "utf8", timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`neighbour probe failed (${r.status}): ${r.stderr}`);
    const out: Record<string, boolean> = {};
    for (const m of r.stdout.matchAll(/^(open|closed) (\S+)$/gm)) out[m[2]] = m[1] === "open";
    for (const t of targets) if (!(`${t.address}:${t.port}` in out)) throw new Error(`neighbour probe: no answer for ${t.address}:${t.port}:\n${r.stdout}${r.stderr}`);
    return out;
}

/**
 * Replaces (or appends) the section `<!-- key:start -->`...`<!-- key:end -->`
 * of bench/README.md, keeping the rest: bench-report.ts writes the file, the
 * backup and several-host files add their sections after it.
 */
export function writeBenchSection(readme: string, key: string, lines: string[]): void {
    const section = [`<!-- ${key}:start -->`, ...lines, `<!-- ${key}:end -->`, ""].join("\n");
    const old = fs.existsSync(readme) ? fs.readFileSync(readme, "utf8") : "";
    const kept = old.replace(new RegExp(`\\n?<!-- ${key}:start -->[\\s\\S]*?<!-- ${key}:end -->\\n?`), "\n");
    fs.writeFileSync(readme, `${kept.trimEnd()}\n\n${section}`);
}

/**
 * `npx berth <args>` for a test stack (cli/main.ts, as test/e2e/ops.test.ts
 * calls it): `--config` the stack's configuration file (which a converging
 * operation rewrites, as `pulumi config set` would), `--state` the applier's
 * state, `--dns-api` the world's test DNS. Asynchronous: the event loop (a
 * load or probe loop) keeps running meanwhile.
 */
export function berthCli(
    stack: { configPath: string; statePath: string; dnsApi: string },
    args: string[],
    o: { input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = ["--import", "tsx", path.join(ROOT, "cli", "main.ts"), "--config", stack.configPath, "--state", stack.statePath, "--dns-api", stack.dnsApi, ...args];
    return new Promise((resolve, reject) => {
        const p = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, BERTH_REAL_HOME: "1" }, stdio: ["pipe", "pipe", "pipe"], timeout: o.timeoutMs ?? 15 * 60_000 });
        p.stdin.end(o.input ?? "");
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stderr += d));
        p.on("error", reject);
        p.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/** Runs `step` with `load` already going for 1.5 s and still going 1.5 s after; always stops the load. */
export async function underLoad<T>(load: { stop(): Promise<unknown> }, step: () => Promise<T>): Promise<T> {
    try {
        await sleep(1500);
        const r = await step();
        await sleep(1500);
        return r;
    } finally {
        await load.stop();
    }
}

// ---------------------------------------------------------------------------
// An off-host backup target: a real sshd/SFTP container (test/e2e/host/sftp.sh).

/** What `sftp.sh up` prints. */
export interface SftpTarget {
    name: string;
    ip: string;
    user: string;
    hostKey: string;
    privateKeyPath: string;
    path: string;
}

/** `test/e2e/host/sftp.sh <args>`: its stdout; a failure throws with its stderr. */
export function sftp(args: string[]): string {
    const r = spawnSync("bash", [path.join(__dirname, "host", "sftp.sh"), ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`sftp.sh ${args[0]} failed (${r.status}):\n${r.stderr}`);
    return r.stdout;
}

/** A fresh target `name`: one left by an earlier run is removed first, with what it stored. */
export function sftpUp(name: string): SftpTarget {
    sftp(["down", name]);
    return JSON.parse(sftp(["up", name])) as SftpTarget;
}

/** Removes the target; a failure is only reported (the `after` hook goes on). */
export function sftpDown(name: string): void {
    try {
        sftp(["down", name]);
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
    }
}

/**
 * `berth:backup` into a restic repository at `repoPath` on `target`, with
 * `settings` (schedules, retention...); the private key and the password are
 * placeholders `BackupTargetStage` replaces.
 */
export function sftpBackup(target: SftpTarget, repoPath: string, settings: Record<string, unknown>): Record<string, unknown> {
    return { repository: `sftp:${target.user}@${target.ip}:${repoPath}`, hostKey: target.hostKey, ...settings, privateKey: { secure: "x" }, password: { secure: "x" } };
}

/**
 * A stage whose `berth:backup` goes to an SFTP target: the target's real
 * private key and the run's repository password replace the test secrets
 * in the configuration (and join its secrets, which the leak checks look for).
 */
export class BackupTargetStage extends Stage {
    constructor(world: World, driver: Driver, overrides: Record<string, unknown>, private readonly target: SftpTarget, private readonly password: string) {
        super(world, driver, overrides);
    }

    override cfg(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
        const c = super.cfg(overrides, stack);
        const raw = c.values["berth:backup"];
        if (raw) {
            const b = JSON.parse(raw);
            b.privateKey = fs.readFileSync(this.target.privateKeyPath, "utf8");
            b.password = this.password;
            c.values["berth:backup"] = JSON.stringify(b);
            c.secrets.push(b.privateKey, this.password);
        }
        return c;
    }
}

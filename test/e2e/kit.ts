/**
 * What every e2e scenario file needs, in one place: a `Stage` holds one
 * world (test/e2e/world.ts) and one driver, and gives HTTPS requests that
 * trust only that world's Pebble root, a bounded load loop, the
 * preview-then-up step (what a preview announced must be what the up did),
 * and SSH access to the VPS for inspection.
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import { Driver } from "./driver";
import { UpReport } from "./applier";
import { devConfig, World } from "./world";
import { StackConfig } from "../unit/harness";

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
        return new Promise((resolve, reject) => {
            const req = https.request(
                { host: this.world.vps.ip, port: 443, path: p, servername: domain, headers: { host: domain }, ca: this.pebbleRoot, timeout: timeoutMs, agent },
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
                await new Promise((r) => setTimeout(r, 20));
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
        const c = this.cfg(overrides, stack);
        const planned = await driver.preview(c);
        assert.ok(planned.ok || planned.error, "preview ran");
        assert.deepEqual(planned.commands, [], "a preview runs no remote command");
        const r = await driver.up(c);
        if (planned.ok) assertPreviewMatches(planned.steps, r.steps, r.ok);
        return r;
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

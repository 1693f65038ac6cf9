/**
 * One stack opened for the day-2 operations (`berth <op> -s <stack>`,
 * cli/main.ts; each operation is a file of cli/commands/). Each reads the stack through cli/support/source.ts, the host
 * through one read-only probe (cli/support/probe.ts) over SSH with the pinned
 * host key (cli/support/host.ts), and what the program declares through the
 * program itself under mocks (cli/support/declared.ts). On a stack with several
 * hosts an operation runs on one host (`--host`), or for verify and repair
 * on every host in turn (`--all-hosts`), each held only against what its
 * roles declare. Configuration changes
 * (rollback, maintenance) go through the same path as any change: the
 * `berth:*` value is set and the stack converged (`pulumi up`, or the test
 * applier), so the switch and the nginx site do the work and the stack's
 * configuration says what runs.
 */
import { BerthConfig, HostConfig } from "../../lib/config";
import { viewOf } from "../../lib/plan";
import { has } from "../../lib/topology";
import { HostShell, redactor } from "./host";
import { Probe, parseProbe, probeScript, ProbeRequest } from "./probe";
import { secretStrings } from "./secrets";
import { processStatusUnits } from "./processes";
import { openSource, SourceOptions, StackSource } from "./source";

export interface OpOptions extends SourceOptions {
    json?: boolean;
    yes?: boolean;
    follow?: boolean;
    lines?: number;
    shell?: boolean;
    dryRun?: boolean;
    /** `--host <name>`: the host of a several-host stack to operate on (default: the first web host). */
    host?: string;
    /** `--all-hosts` (verify, repair): every host of the stack, one section each. */
    allHosts?: boolean;
}

/** What an operation prints: text for a person, data for --json. */
export interface OpOutput {
    code: number;
    text: string[];
    data: unknown;
}

/** A stack opened for operations. */
/**
 * The host an operation runs on: `--host <name>` on a stack with several
 * hosts (default: the first web host, where the release command runs).
 */
export function pickHost(cfg: BerthConfig, name: string | undefined): BerthConfig {
    if (name === undefined) return cfg;
    const view = viewOf(cfg, name);
    if (!view) throw new Error(`berth: stack ${cfg.stack} has no host ${JSON.stringify(name)} (hosts: ${cfg.hosts.map((x) => x.name).join(", ")})`);
    return view;
}

/** What the views of one stack on its several hosts share (read once). */
interface Shared {
    randoms?: Record<string, string> | null;
    /** Why the generated passwords could not be read (said in verify's note and repair's error). */
    randomsError?: string;
    /** Stdout of the commands others read (cli/support/declared.ts), by resource name. */
    stdouts: Map<string, string>;
    /** The revision the release host serves (for hosts that serve none). */
    served?: { sha: string | undefined };
}

export class Stack {
    readonly source: StackSource;
    readonly cfg: BerthConfig;
    readonly host: HostShell;
    readonly shared: Shared;

    constructor(opts: SourceOptions & { host?: string }, from?: { source: StackSource; shared: Shared }) {
        this.source = from?.source ?? openSource(opts);
        this.shared = from?.shared ?? { stdouts: new Map() };
        this.cfg = pickHost(this.source.config, opts.host);
        this.host = new HostShell(this.cfg, (t) => this.redact(t));
    }

    /** The same stack on another of its hosts (one source, one read of the state). */
    on(hostName: string): Stack {
        return hostName === this.cfg.host.name ? this : new Stack({ host: hostName }, { source: this.source, shared: this.shared });
    }

    /** Generated passwords from the stack's state (undefined when unavailable). */
    randoms(): Record<string, string> | undefined {
        if (this.shared.randoms === undefined) {
            try {
                this.shared.randoms = this.source.randoms() ?? null;
                if (this.shared.randoms === null) this.shared.randomsError = "the source has no state";
            } catch (e) {
                this.shared.randoms = null;
                this.shared.randomsError = (e as Error).message.split("\n")[0];
            }
        }
        return this.shared.randoms ?? undefined;
    }

    /** Every secret value known here: config secrets and generated passwords. */
    secrets(): string[] {
        const out: string[] = [];
        for (const k of this.source.secretKeys) {
            const v = this.source.values[k];
            if (!v) continue;
            out.push(...secretStrings(k, v));
        }
        out.push(...Object.values(this.shared.randoms ?? {}));
        return out;
    }

    redact(text: string): string {
        return redactor(this.secrets())(text);
    }

    probe(req: Partial<ProbeRequest> = {}): Probe {
        const full: ProbeRequest = { files: [], links: [], units: [], containers: [], hostSettings: false, ...req };
        return parseProbe(this.host.check(probeScript(this.cfg, full), "reading the host"));
    }

    /** The units status reports, as the host's roles have them: both web instances, the worker, nginx, docker, certbot's timer. */
    statusUnits(): string[] {
        const n = this.cfg.names;
        const web = has(this.cfg.host, "web");
        return [
            ...(web ? [`${n.webUnit}blue.service`, `${n.webUnit}green.service`] : []),
            ...(this.cfg.release.workerCommand ? [`${n.workerUnit}.service`] : []),
            ...processStatusUnits(this.cfg),
            ...roleDaemons(this.cfg.host),
            ...(web ? ["certbot.timer"] : []),
        ];
    }
}

export const short = (sha?: string) => (sha ? sha.slice(0, 12) : "-");
export const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace(/\.\d+Z$/, "Z");
export const days = (notAfter?: string) => (notAfter ? Math.floor((Date.parse(notAfter) - Date.now()) / 86_400_000) : undefined);

export function releasesOf(p: Probe) {
    return p.releases.map((r) => {
        const slots = Object.entries(p.slots).filter(([, t]) => t.endsWith(`/${r.sha}`)).map(([c]) => c);
        return { sha: r.sha, builtAt: iso(r.builtAt), built: r.built, released: r.released, serving: r.sha === p.revision, slots };
    });
}

/** The daemons a host's roles run (components/host/host.ts installs them): nginx on a web host, Docker on the data host. */
export function roleDaemons(host: HostConfig): string[] {
    return [...(has(host, "web") ? ["nginx.service"] : []), ...(has(host, "data") ? ["docker.service"] : [])];
}

/**
 * `--all-hosts`: an operation (verify, repair) on every host of the stack in
 * its `berth:hosts` order, one section per host; exit 1 when any host's
 * exits non-zero (drifts, or could not be read). `--json`: `{ok, hosts:
 * [{host, address, roles, code, ...the operation's data}]}`.
 */
export async function onAllHosts(s: Stack, what: "verify" | "repair", op: (h: Stack) => Promise<OpOutput>): Promise<OpOutput> {
    const hosts = s.source.config.hosts;
    const text: string[] = [];
    const results: Record<string, unknown>[] = [];
    let failed = 0;
    for (const h of hosts) {
        let out: OpOutput;
        try {
            out = await op(s.on(h.name));
        } catch (e) {
            out = { code: 1, text: [`${what} failed: ${(e as Error).message}`], data: { ok: false, error: (e as Error).message } };
        }
        if (out.code !== 0) failed++;
        text.push(`== host ${h.name} (${h.address}; ${h.roles.join(", ")})`, ...out.text);
        results.push({ host: h.name, address: h.address, roles: [...h.roles], code: out.code, ...(out.data as Record<string, unknown>) });
    }
    const id = s.source.config.names.id;
    text.push(failed === 0 ? `${what}: every host of ${id} (${hosts.length}) matches the program` : `${what}: ${failed} of ${hosts.length} hosts of ${id} ${what === "verify" ? "drift" : "still drift or failed"}`);
    return { code: failed === 0 ? 0 : 1, text, data: { ok: failed === 0, hosts: results } };
}

/**
 * The day-2 operations on one stack (`berth <op> -s <stack>`, lib/cli.ts):
 * status, logs, console, exec, releases, rollback, verify, repair and
 * maintenance. Each reads the stack through lib/ops/source.ts, the host
 * through one read-only probe (lib/ops/probe.ts) over SSH with the pinned
 * host key (lib/ops/host.ts), and what the program declares through the
 * program itself under mocks (lib/ops/declared.ts). On a stack with several
 * hosts an operation runs on one host (`--host`), or for verify and repair
 * on every host in turn (`--all-hosts`), each held only against what its
 * roles declare. Configuration changes
 * (rollback, maintenance) go through the same path as any change: the
 * `berth:*` value is set and the stack converged (`pulumi up`, or the test
 * applier), so the switch and the nginx site do the work and the stack's
 * configuration says what runs.
 */
import { accessoryNames, runAsApp, sitePath } from "../names";
import { presetOf } from "../presets";
import { BerthConfig, HostConfig } from "../config";
import { meshKeyScript, meshNames, publicKeyFromOutput } from "../mesh";
import { forHost, has, releaseHost } from "../topology";
import { cmd, quote, raw, script } from "../shell";
import { Declared, DeclaredFile, declared, ReadCommand, StdoutSource } from "./declared";
import { HostShell, redactor } from "./host";
import { Probe, parseProbe, probeScript, ProbeRequest } from "./probe";
import { namedLogs, namedLogsScript, parseScheduleStatus, processStatusUnits, scheduleStatusScript, scheduleStatusText, schedulesHere } from "./processes";
import { openSource, planLines, SourceOptions, StackSource } from "./source";

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

/** Minimum certificate validity verify accepts (days). */
export const CERT_MIN_DAYS = 21;

/** A stack opened for operations. */
/**
 * The host an operation runs on: `--host <name>` on a stack with several
 * hosts (default: the first web host, where the release command runs).
 */
export function pickHost(cfg: BerthConfig, name: string | undefined): BerthConfig {
    if (name === undefined) return cfg;
    const h = cfg.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`berth: stack ${cfg.stack} has no host ${JSON.stringify(name)} (hosts: ${cfg.hosts.map((x) => x.name).join(", ")})`);
    return forHost(cfg, h);
}

/** What the views of one stack on its several hosts share (read once). */
interface Shared {
    randoms?: Record<string, string> | null;
    /** Why the generated passwords could not be read (said in verify's note and repair's error). */
    randomsError?: string;
    /** Stdout of the commands others read (lib/ops/declared.ts), by resource name. */
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
            out.push(v);
            try {
                const parsed = JSON.parse(v);
                if (parsed && typeof parsed === "object") out.push(...Object.values(parsed).map(String));
            } catch {
                /* a plain string */
            }
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

const short = (sha?: string) => (sha ? sha.slice(0, 12) : "-");
const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace(/\.\d+Z$/, "Z");
const days = (notAfter?: string) => (notAfter ? Math.floor((Date.parse(notAfter) - Date.now()) / 86_400_000) : undefined);

// ---------------------------------------------------------------------------
// status, releases
// ---------------------------------------------------------------------------

export function releasesOf(p: Probe) {
    return p.releases.map((r) => {
        const slots = Object.entries(p.slots).filter(([, t]) => t.endsWith(`/${r.sha}`)).map(([c]) => c);
        return { sha: r.sha, builtAt: iso(r.builtAt), built: r.built, released: r.released, serving: r.sha === p.revision, slots };
    });
}

export function status(s: Stack): OpOutput {
    const cfg = s.cfg;
    const accessories = Object.keys(cfg.accessories).map((a) => accessoryNames(cfg.names, a).container);
    // berth:database sqlite runs no Postgres container (lib/databases.ts).
    const postgres = cfg.database === "sqlite" ? [] : [cfg.names.postgresContainer];
    const p = s.probe({ units: s.statusUnits(), containers: [...postgres, cfg.names.redisContainer, ...accessories] });
    const releases = releasesOf(p);
    // berth:schedules run on the release host: their timers, last results and failure markers (lib/ops/processes.ts).
    const schedules = schedulesHere(cfg) ? parseScheduleStatus(cfg, s.host.check(scheduleStatusScript(cfg), "reading the schedules")) : undefined;
    const certs = Object.fromEntries(cfg.hostnames.map((h) => [h, { notAfter: p.certs[h]?.notAfter ?? null, daysLeft: days(p.certs[h]?.notAfter) ?? null }]));
    const data = {
        stack: cfg.stack,
        app: cfg.app,
        host: cfg.host.address,
        urls: cfg.hostnames.map((h) => `https://${h}`),
        revision: { configured: cfg.release.revision, serving: p.revision ?? null, slot: p.color ?? null },
        maintenance: p.maintenance ?? false,
        slots: Object.fromEntries(["blue", "green"].map((c) => [c, { release: p.slots[c]?.split("/").pop() ?? null, unit: p.units[`${cfg.names.webUnit}${c}.service`] ?? null }])),
        releases,
        units: p.units,
        containers: p.containers,
        certificates: certs,
        ...(schedules ? { schedules } : {}),
    };
    const text = [
        `stack ${cfg.stack} (${cfg.names.id}) on ${cfg.host.address}: ${data.urls.join(" ")}`,
        `serving    ${p.revision ?? "nothing"} on ${p.color ?? "-"}   (berth:revision ${cfg.release.revision})`,
        `maintenance ${data.maintenance ? "on" : "off"}`,
        "slots",
        ...["blue", "green"].map((c) => `  ${c.padEnd(6)} ${short(p.slots[c]?.split("/").pop())}  ${p.units[`${cfg.names.webUnit}${c}.service`]?.active ?? "-"}${c === p.color ? "  (serving)" : ""}`),
        `releases (keeps ${cfg.release.keepReleases})`,
        ...releases.map((r) => `  ${r.serving ? "*" : " "} ${r.sha}  ${r.builtAt}${r.slots.length ? `  slot ${r.slots.join(",")}` : ""}${r.built ? "" : "  (not built)"}`),
        "units",
        ...Object.entries(p.units).map(([u, st]) => `  ${u.padEnd(40)} ${st.active.padEnd(10)} ${st.enabled}`),
        ...(schedules ? scheduleStatusText(schedules) : []),
        "containers",
        ...Object.entries(p.containers).map(([c, st]) => `  ${c.padEnd(40)} ${st.status.padEnd(10)} ${st.health || "-"}  ${st.tags.join(" ")}`),
        "certificates",
        ...Object.entries(certs).map(([h, c]) => `  ${h.padEnd(40)} ${c.notAfter ? `expires ${c.notAfter} (${c.daysLeft} days)` : "none served"}`),
    ];
    return { code: 0, text, data };
}

export function releases(s: Stack): OpOutput {
    const p = s.probe();
    const list = releasesOf(p);
    return {
        code: 0,
        data: { serving: p.revision ?? null, keep: s.cfg.release.keepReleases, releases: list },
        text: [
            `kept releases of ${s.cfg.names.id} (newest first; berth:keepReleases ${s.cfg.release.keepReleases}):`,
            ...list.map((r) => `${r.serving ? "*" : " "} ${r.sha}  built ${r.builtAt}${r.serving ? "  serving" : ""}${r.slots.length ? `  slot ${r.slots.join(",")}` : ""}${r.built ? "" : "  (incomplete)"}`),
        ],
    };
}

// ---------------------------------------------------------------------------
// logs, console, exec
// ---------------------------------------------------------------------------

export const LOG_SERVICES = ["web", "worker", "nginx", "postgres", "redis"] as const;
export type LogService = (typeof LOG_SERVICES)[number];

export function logsScript(cfg: BerthConfig, service: LogService, lines: number, follow: boolean): string {
    const n = cfg.names;
    const journal = (unit: string) => cmd("journalctl", "--no-pager", "-o", "short-iso", "-n", lines, ...(follow ? ["-f"] : []), "-u", unit);
    switch (service) {
        case "web":
            return script(journal(`${n.webUnit}*.service`));
        case "worker":
            if (!cfg.release.workerCommand) throw new Error("berth: this stack has no worker (berth:workerCommand is empty)");
            return script(journal(`${n.workerUnit}.service`));
        case "nginx":
            // The site's own logs (components/web/nginxSite.ts access_log/error_log).
            return script(cmd("tail", "-n", lines, ...(follow ? ["-F"] : []), `/var/log/nginx/${n.nginxSite}.access.log`, `/var/log/nginx/${n.nginxSite}.error.log`));
        case "postgres":
        case "redis":
            return script(cmd("docker", "logs", "--timestamps", "--tail", lines, ...(follow ? ["-f"] : []), service === "postgres" ? n.postgresContainer : n.redisContainer));
    }
}

export async function logs(s: Stack, service: string | undefined, opts: OpOptions): Promise<number> {
    const svc = (service ?? "web") as LogService;
    // A process type or schedule by its name (berth:processes, berth:schedules); `worker` is berth:workerCommand's when set.
    const stackCfg = s.source.config;
    const builtIn = LOG_SERVICES.includes(svc) && (svc !== "worker" || stackCfg.release.workerCommand !== undefined);
    const named = builtIn ? undefined : namedLogsScript(stackCfg, svc, opts.lines ?? 100, opts.follow === true);
    if (!named && !LOG_SERVICES.includes(svc)) throw new Error(`berth: logs of ${JSON.stringify(service)}? one of ${[...LOG_SERVICES, ...namedLogs(stackCfg)].join(", ")}`);
    // Following on a terminal: a remote terminal too, so Ctrl-C ends the remote tail with ssh.
    const tty = opts.follow === true && process.stdout.isTTY === true && process.stdin.isTTY === true;
    return s.host.stream(named ?? logsScript(s.cfg, svc, opts.lines ?? 100, opts.follow === true), { tty });
}

/**
 * `body` as the app user in the current release with the app's environment:
 * the same `systemd-run` as the release's build and release command
 * (components/app/release.ts runAsApp), with a terminal (`--pty`) for an
 * interactive session.
 */
export function releaseRunAs(cfg: BerthConfig, what: string, body: string, tty: boolean): string {
    const line = runAsApp(cfg, what, `${cfg.names.root}/current`, body);
    return tty ? line.replace(" --pipe ", " --pipe --pty ") : line;
}

/** `bin/rails console` (Rails preset) or a shell, as the app user in the current release with the app's environment. */
export function consoleScript(cfg: BerthConfig, opts: { shell?: boolean; tty: boolean }): string {
    const presetConsole = presetOf(cfg).console;
    const body = presetConsole && !opts.shell ? presetConsole : opts.tty ? "exec bash -i" : "exec bash";
    return script(releaseRunAs(cfg, "console", body, opts.tty));
}

/** A command line as the app user in the current release with the app's environment; its exit status is the script's. */
export function execScript(cfg: BerthConfig, argv: string[]): string {
    if (argv.length === 0) throw new Error("berth: exec needs a command, e.g. berth exec -s staging -- bin/rails runner 'puts 1'");
    const line = argv.length === 1 ? argv[0] : cmd(...argv);
    return script(releaseRunAs(cfg, "exec", line, false));
}

// ---------------------------------------------------------------------------
// rollback, maintenance: a config change, converged
// ---------------------------------------------------------------------------

export async function rollback(s: Stack, target: string | undefined, opts: OpOptions): Promise<OpOutput> {
    const p = s.probe();
    const kept = p.releases.filter((r) => r.built);
    let pick: { sha: string; builtAt: number } | undefined;
    if (target) {
        const m = kept.filter((r) => r.sha.startsWith(target));
        if (m.length !== 1) {
            throw new Error(`berth: ${JSON.stringify(target)} ${m.length === 0 ? "is not a kept release" : "is ambiguous"}; kept: ${kept.map((r) => short(r.sha)).join(", ") || "none"}`);
        }
        pick = m[0];
    } else {
        const other = p.color === "blue" ? "green" : "blue";
        const otherSha = p.slots[other]?.split("/").pop();
        pick = kept.find((r) => r.sha === otherSha && r.sha !== p.revision) ?? kept.find((r) => r.sha !== p.revision);
        if (!pick) throw new Error("berth: no other kept release to roll back to");
    }
    const from = s.cfg.release.revision;
    const explain = [
        `rollback of ${s.cfg.names.id}: serving ${p.revision ?? "nothing"}; target ${pick.sha} (built ${iso(pick.builtAt)}, kept on the host: no build, no release command)`,
        `changes berth:revision ${JSON.stringify(from)} -> ${JSON.stringify(pick.sha)}; the switch moves traffic to it with zero downtime`,
        ...planLines(s.source.converger, { revision: pick.sha }),
    ];
    const data: Record<string, unknown> = { from: { revision: from, serving: p.revision ?? null }, to: pick.sha, applied: false };
    if (opts.dryRun) return { code: 0, text: [...explain, "(dry run: nothing changed)"], data };
    if (pick.sha === p.revision && from === pick.sha) return { code: 0, text: [...explain, "already serving it"], data };
    if (!s.source.converger) throw new Error("berth: this stack source cannot converge (pass --state <applier state> with --config, or use the Pulumi CLI)");
    process.stderr.write(`${explain.join("\n")}\n`);
    const r = await s.source.converger.apply({ revision: pick.sha }, { yes: opts.yes === true });
    const after = s.probe();
    data.applied = r.ok;
    data.serving = after.revision ?? null;
    const ok = r.ok && after.revision === pick.sha;
    // The plan went to stderr before the converge (ahead of its output and prompt): the summary says only the outcome.
    return { code: ok ? 0 : 1, text: [ok ? `rolled back: serving ${after.revision} on ${after.color}` : `rollback failed: ${r.error ?? `serving ${after.revision}`}`], data };
}

export async function maintenance(s: Stack, mode: string | undefined, opts: OpOptions): Promise<OpOutput> {
    if (mode !== "on" && mode !== "off") throw new Error("berth: maintenance on|off");
    const want = mode === "on";
    const explain = [
        `maintenance ${mode} for ${s.cfg.names.id}: berth:maintenance ${s.cfg.maintenance} -> ${want}`,
        want
            ? "  nginx answers 503 with public/maintenance.html of the serving release (or a plain page) for every path; ACME challenges are still served; no release"
            : "  nginx serves the app again; no release",
        ...planLines(s.source.converger, { maintenance: String(want) }),
    ];
    if (opts.dryRun) return { code: 0, text: [...explain, "(dry run: nothing changed)"], data: { maintenance: want, applied: false } };
    if (!s.source.converger) throw new Error("berth: this stack source cannot converge (pass --state <applier state> with --config, or use the Pulumi CLI)");
    process.stderr.write(`${explain.join("\n")}\n`);
    const r = await s.source.converger.apply({ maintenance: String(want) }, { yes: opts.yes === true });
    const after = s.probe();
    const ok = r.ok && after.maintenance === want;
    // The plan went to stderr before the converge (ahead of its output and prompt): the summary says only the outcome.
    return { code: ok ? 0 : 1, text: [ok ? `maintenance is ${mode}` : `maintenance ${mode} failed: ${r.error ?? "the site did not change"}`], data: { maintenance: after.maintenance, applied: r.ok } };
}

// ---------------------------------------------------------------------------
// verify, repair
// ---------------------------------------------------------------------------

export interface Difference {
    kind: "file" | "unit" | "container" | "nginx" | "certificate" | "firewall" | "ssh" | "serving";
    subject: string;
    message: string;
}

const SYSTEMD_DIR = "/etc/systemd/system/";

/**
 * Units the declared unit files ask for, and the daemons the host's roles
 * run (components/host/host.ts: nginx on a web host, Docker on the data
 * host): [unit name, must be enabled].
 */
export function declaredUnits(cfg: BerthConfig, files: DeclaredFile[], color: string | undefined): [string, boolean][] {
    const out: [string, boolean][] = [];
    for (const f of files) {
        if (!f.path.startsWith(SYSTEMD_DIR) || f.path.slice(SYSTEMD_DIR.length).includes("/")) continue;
        const name = f.path.slice(SYSTEMD_DIR.length);
        const m = /^(.+)@\.(service|socket)$/.exec(name);
        const install = f.variants.some((v) => v.content?.includes("[Install]"));
        if (!m) {
            // Units meant to run on their own ([Install]); a oneshot or a unit
            // without [Install] is started by something else (a timer, a switch).
            const oneshot = f.variants.some((v) => /^Type=oneshot$/m.test(v.content ?? ""));
            if (/\.(service|socket|timer)$/.test(name) && install && !oneshot) out.push([name, true]);
            continue;
        }
        // Templates: the serving instance of the web unit and of any socket.
        if (!color) continue;
        if (m[2] === "socket" || `${m[1]}@` === cfg.names.webUnit) out.push([`${m[1]}@${color}.${m[2]}`, install]);
    }
    for (const daemon of roleDaemons(cfg.host)) out.push([daemon, true]);
    return out;
}

/** The daemons a host's roles run (components/host/host.ts installs them): nginx on a web host, Docker on the data host. */
export function roleDaemons(host: HostConfig): string[] {
    return [...(has(host, "web") ? ["nginx.service"] : []), ...(has(host, "data") ? ["docker.service"] : [])];
}

/** ufw settings the firewall script declares. */
export function declaredFirewall(d: Declared): { defaults: [string, string][]; allows: string[] } {
    const defaults: [string, string][] = [];
    const allows: string[] = [];
    for (const c of d.commands) {
        for (const line of c.script.split("\n")) {
            const dm = /^ufw default (\w+) (\w+)/.exec(line);
            if (dm) defaults.push([dm[1], dm[2]]);
            // `ufw allow from <address> to any port <port> proto <proto>` (the mesh's peers): `<port>/<proto> from <address>`.
            const fm = /^ufw allow from (\S+) to any port (\d+) proto (\w+)/.exec(line);
            const am = /^ufw allow (\S+)/.exec(line);
            if (fm) allows.push(`${fm[2]}/${fm[3]} from ${fm[1]}`);
            else if (am) allows.push(am[1]);
        }
    }
    return { defaults, allows };
}

/** sshd settings of the declared drop-ins (`Key value` lines), lower-cased as `sshd -T` prints them. */
export function declaredSshd(files: DeclaredFile[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of files) {
        if (!f.path.startsWith("/etc/ssh/sshd_config.d/")) continue;
        for (const line of f.variants[0]?.content?.split("\n") ?? []) {
            const m = /^([A-Za-z]+)\s+(\S+)$/.exec(line.trim());
            if (m) out[m[1].toLowerCase()] = m[2].toLowerCase();
        }
    }
    return out;
}

const SSHD_ALIASES: Record<string, string> = { "prohibit-password": "without-password" };

/** An ALLOW IN line of `ufw status verbose` for a declared rule (`22/tcp`, or `51820/udp from 203.0.113.32`). */
function ufwAllows(lines: readonly string[], rule: string): boolean {
    const from = /^(\S+) from (\S+)$/.exec(rule);
    return lines.some((l) => {
        const w = l.trim().split(/\s+/);
        return w[1] === "ALLOW" && w[2] === "IN" && (from ? w[0] === from[1] && w[3] === from[2] : w[0] === rule);
    });
}

/**
 * The differences between what the program declares for a host and what the
 * host runs, held only against what the host's roles declare: the serving
 * state on app hosts (slot and upstream on web hosts; a worker host has a
 * current release only), nginx and the certificates on web hosts, the
 * containers and Docker on the data host, files, units, firewall and sshd as
 * the host's own commands write them.
 */
export function compare(cfg: BerthConfig, d: Declared, p: Probe, now = Date.now()): Difference[] {
    const diffs: Difference[] = [];
    const add: AddDifference = (kind, subject, message) => diffs.push({ kind, subject, message });
    const web = has(cfg.host, "web");
    compareServing(cfg, p, web, add);
    compareFiles(cfg, d, p, add);
    compareUnitsAndContainers(cfg, d, p, add);
    // nginx.
    if (web && p.nginxTest && !p.nginxTest.ok) add("nginx", "nginx -t", p.nginxTest.output.trim() || "fails");
    compareCertificates(web ? cfg.hostnames : [], p, now, add);
    compareFirewallAndSshd(d, p, add);
    return diffs;
}

/** Records one difference (compare's helpers share its list through it). */
type AddDifference = (kind: Difference["kind"], subject: string, message: string) => void;

/** Serving (app hosts): state, current, slot, nginx's upstream. */
function compareServing(cfg: BerthConfig, p: Probe, web: boolean, add: AddDifference): void {
    if (!web) {
        if (has(cfg.host, "worker")) {
            const rel = p.revision && `${cfg.names.root}/releases/${p.revision}`;
            if (!rel) add("serving", "switch", "no release is current (state/revision missing)");
            else {
                if (p.current !== rel) add("serving", "current", `points at ${p.current ?? "nothing"}, the switch made ${rel} current`);
                if (/^[0-9a-f]{40}$/.test(cfg.release.revision) && cfg.release.revision !== p.revision) add("serving", "revision", `running ${p.revision}, berth:revision is ${cfg.release.revision}`);
            }
        }
    } else if (!p.color || !p.revision) add("serving", "switch", "no release is serving (state/color or state/revision missing)");
    else {
        const rel = `${cfg.names.root}/releases/${p.revision}`;
        if (p.current !== rel) add("serving", "current", `points at ${p.current ?? "nothing"}, the switch serves ${rel}`);
        if (p.slots[p.color] !== rel) add("serving", `slots/${p.color}`, `points at ${p.slots[p.color] ?? "nothing"}, the switch serves ${rel}`);
        if (/^[0-9a-f]{40}$/.test(cfg.release.revision) && cfg.release.revision !== p.revision) {
            add("serving", "revision", `serving ${p.revision}, berth:revision is ${cfg.release.revision}`);
        }
        const up = p.upstream;
        if (!up) add("nginx", cfg.names.nginxUpstream, "missing");
        else if (up.server.startsWith("unix:")) {
            if (!up.target.endsWith(`/${p.color}.sock`)) add("nginx", "upstream", `${up.server} leads to ${up.target || "nothing"}, not the serving slot ${p.color}`);
        } else {
            const port = p.color === "blue" ? cfg.ports.webBlue : cfg.ports.webGreen;
            if (up.server.replace(/^127\.0\.0\.1:/, "") !== String(port)) add("nginx", "upstream", `${up.server} is not the serving slot ${p.color} (127.0.0.1:${port})`);
        }
    }
}

/** Files: presence, mode/owner, content (or, without the secrets, the served env file's stamp), sites-enabled links. */
function compareFiles(cfg: BerthConfig, d: Declared, p: Probe, add: AddDifference): void {
    for (const f of d.files) {
        const h = p.files[f.path];
        if (!h || !h.exists) {
            add("file", f.path, "missing");
            continue;
        }
        if (!f.variants.some((v) => v.modeOwner === h.modeOwner)) add("file", f.path, `mode/owner ${h.modeOwner}, declared ${f.variants[0].modeOwner}`);
        if (f.secret && !d.secretsKnown) {
            // Without the generated passwords: the env file must be the one the last switch served.
            const served = /env:([0-9a-f]{16})/.exec(p.stamp ?? "")?.[1];
            if (f.path === cfg.names.envFile && served && !h.sha256?.startsWith(served)) add("file", f.path, "content differs from the one the serving release started with");
            continue;
        }
        if (!f.variants.some((v) => v.sha256 === h.sha256)) {
            add("file", f.path, `content differs from what berth writes (sha256 ${h.sha256?.slice(0, 12)}, declared ${f.variants.map((v) => v.sha256.slice(0, 12)).join(" or ")})`);
        }
        if (f.path.startsWith("/etc/nginx/sites-available/")) {
            const link = f.path.replace("/sites-available/", "/sites-enabled/");
            if (p.links[link] !== f.path) add("nginx", link, `links to ${p.links[link] || "nothing"}, declared ${f.path}`);
        }
    }
}

/** Units (active, enabled) and containers (running, healthy, image). */
function compareUnitsAndContainers(cfg: BerthConfig, d: Declared, p: Probe, add: AddDifference): void {
    for (const [unit, enabled] of declaredUnits(cfg, d.files, p.color)) {
        const u = p.units[unit];
        if (!u || u.active !== "active") add("unit", unit, `${u?.active ?? "unknown"}, declared active`);
        if (enabled && u && !["enabled", "enabled-runtime", "static", "indirect", "alias"].includes(u.enabled)) add("unit", unit, `${u.enabled}, declared enabled`);
    }
    for (const c of d.containers) {
        const h = p.containers[c.name];
        if (!h || h.status === "missing") {
            add("container", c.name, "missing");
            continue;
        }
        if (h.status !== "running") add("container", c.name, `${h.status}, declared running`);
        if (h.health && h.health !== "healthy") add("container", c.name, `health ${h.health}`);
        if (h.imageId !== c.image && !h.tags.includes(c.image) && !h.tags.includes(`docker.io/library/${c.image}`)) add("container", c.name, `image ${h.tags.join(" ") || h.imageId}, declared ${c.image}`);
    }
}

/** Certificates (web hosts): the one nginx serves for each name. */
function compareCertificates(hostnames: readonly string[], p: Probe, now: number, add: AddDifference): void {
    for (const hname of hostnames) {
        const c = p.certs[hname];
        if (!c?.notAfter) add("certificate", hname, "nginx serves no certificate for it");
        else {
            if (!c.names.includes(hname)) add("certificate", hname, `not among the served certificate's names (${c.names.join(", ")})`);
            const left = Math.floor((Date.parse(c.notAfter) - now) / 86_400_000);
            if (left <= CERT_MIN_DAYS) add("certificate", hname, `expires ${c.notAfter} (${left} days; needs more than ${CERT_MIN_DAYS})`);
        }
    }
}

/** Firewall (ufw status against the declared rules) and the SSH daemon's effective settings (sshd -T) against the declared drop-in. */
function compareFirewallAndSshd(d: Declared, p: Probe, add: AddDifference): void {
    if (p.ufw.length > 0 || d.commands.length > 0) {
        const fw = declaredFirewall(d);
        if (!p.ufw.some((l) => /^Status: active/.test(l))) add("firewall", "ufw", `not active (${p.ufw[0] ?? "no output"})`);
        const defaults = p.ufw.find((l) => l.startsWith("Default:")) ?? "";
        for (const [policy, dir] of fw.defaults) if (!defaults.includes(`${policy} (${dir})`)) add("firewall", `default ${dir}`, `declared ${policy}; ufw says ${defaults.replace(/^Default:\s*/, "") || "nothing"}`);
        for (const rule of fw.allows) if (!ufwAllows(p.ufw, rule)) add("firewall", rule, "declared allowed, no ALLOW IN rule");
    }
    for (const [k, v] of Object.entries(declaredSshd(d.files))) {
        const actual = p.sshd[k]?.toLowerCase();
        if (actual !== v && actual !== SSHD_ALIASES[v]) add("ssh", k, `sshd runs with ${actual ?? "nothing"}, declared ${v}`);
    }
}

/**
 * The revision to declare: the one the host serves (its switch's state); a
 * host that serves none (the data host) takes the release host's.
 */
function servedRevision(s: Stack, p: Probe): string | undefined {
    if (!s.cfg.multiHost || has(s.cfg.host, "web") || has(s.cfg.host, "worker")) return p.revision;
    s.shared.served ??= { sha: s.on(releaseHost(s.source.config).name).probe().revision };
    return s.shared.served.sha;
}

/**
 * The stdout the engine holds for each command others read (lib/ops/declared.ts),
 * read on the host it runs on. The mesh's key step prints the host's
 * WireGuard public key: it is read with `wg pubkey` from the host's key file,
 * so only the public key leaves the host. `run` (repair): a command not
 * readable that way (a host whose key file is missing) runs its create
 * script, idempotent and printing the same stdout, as the engine runs every
 * key step before any config step.
 */
function hostOutputs(s: Stack, run: boolean): StdoutSource {
    return (read) => {
        const out: Record<string, string> = {};
        for (const c of read) {
            const known = s.shared.stdouts.get(c.name);
            if (known !== undefined) {
                out[c.name] = known;
                continue;
            }
            const h = s.source.config.hosts.find((x) => x.address === c.host);
            if (!h) continue;
            const on = s.on(h.name);
            let stdout = "";
            if (meshKeyStepOf(s.source.config, c)) {
                stdout = on.host.check(meshPublicKeyScript(on.cfg), `reading the WireGuard public key of host ${h.name}`);
                if (!publicKeyFromOutput(stdout)) stdout = "";
            }
            if (!stdout && run) {
                const r = on.host.run(c.script, c.stdin, 900_000);
                if (r.code !== 0) throw new Error(`berth: ${c.name} failed on host ${h.name} (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
                process.stderr.write(`repair: ${c.name} (on ${h.name}, its output is read by others): ok\n`);
                stdout = r.stdout;
            }
            s.shared.stdouts.set(c.name, stdout);
            out[c.name] = stdout;
        }
        return out;
    };
}

/** The host whose mesh key step `c` is (its create script is exactly that host's key script), if it is one. */
export function meshKeyStepOf(cfg: BerthConfig, c: ReadCommand): HostConfig | undefined {
    if (!cfg.mesh.enabled) return undefined;
    const h = cfg.hosts.find((x) => x.address === c.host);
    return h && c.script === meshKeyScript(forHost(cfg, h), c.name.replace(/-key$/, "")) ? h : undefined;
}

/** Read-only: the host's mesh public key from its key file (what its key step prints), or nothing without a key. */
export function meshPublicKeyScript(cfg: BerthConfig): string {
    const key = meshNames(cfg).key;
    return script(`if [ -s ${quote(key)} ]; then ${cmd("wg", "pubkey", raw("<"), key)}; fi`);
}

/** The declared state for the revision the host serves. */
async function declaredFor(s: Stack, served: string | undefined, run = false): Promise<Declared> {
    const ranges = s.cfg.dns.proxied && has(s.cfg.host, "web") ? cloudflareRangesOnHost(s) : s.cfg.dns.proxied ? [] : undefined;
    return declared(s.cfg, s.source.values, s.source.secretKeys, s.randoms(), served, ranges, hostOutputs(s, run));
}

/**
 * A proxied stack's nginx sites restore the visitor's address from
 * Cloudflare's published ranges (the provider's getIpRanges data source, read
 * where pulumi runs). Those ranges are Cloudflare's, not the program's: the
 * declaration takes the ones the host's HTTPS site carries, so verify holds
 * every other line of the sites against the program (a range Cloudflare
 * added since the last up is the next up's change, not drift).
 */
function cloudflareRangesOnHost(s: Stack): string[] {
    const out = s.host.check(script(`sed -nE 's/^[[:space:]]*set_real_ip_from[[:space:]]+([^;[:space:]]+);.*/\\1/p' ${quote(sitePath(s.cfg, "full"))} 2>/dev/null | awk '!seen[$0]++' || true`), "reading Cloudflare's ranges from the HTTPS site");
    return out.split("\n").map((l) => l.trim()).filter(Boolean);
}

function verifyRequest(s: Stack, d: Declared, color: string | undefined): ProbeRequest {
    return {
        files: d.files.filter((f) => !f.masked).map((f) => f.path),
        maskedFiles: d.files.filter((f) => f.masked).map((f) => f.path),
        links: d.files.filter((f) => f.path.startsWith("/etc/nginx/sites-available/")).map((f) => f.path.replace("/sites-available/", "/sites-enabled/")),
        units: declaredUnits(s.cfg, d.files, color).map(([u]) => u),
        containers: d.containers.map((c) => c.name),
        hostSettings: true,
    };
}

export async function verify(s: Stack, known?: Declared): Promise<OpOutput> {
    const first = s.probe();
    const d = known ?? (await declaredFor(s, servedRevision(s, first)));
    const p = s.probe(verifyRequest(s, d, first.color));
    const diffs = compare(s.cfg, d, p);
    const names = has(s.cfg.host, "web") ? s.cfg.hostnames.length : 0;
    const checked = { files: d.files.length, units: declaredUnits(s.cfg, d.files, p.color).length, containers: d.containers.length, names };
    const where = s.cfg.multiHost ? ` host ${s.cfg.host.name}` : "";
    return {
        code: diffs.length === 0 ? 0 : 1,
        data: { ok: diffs.length === 0, serving: p.revision ?? null, differences: diffs, checked, secretsCompared: d.secretsKnown },
        text: [
            ...diffs.map((x) => `drift: ${x.kind} ${x.subject}: ${x.message}`),
            diffs.length === 0
                ? `no drift on ${s.cfg.names.id}${where}: ${checked.files} files, ${checked.units} units, ${checked.containers} containers, ${checked.names} certificate name${checked.names === 1 ? "" : "s"}${names > 0 ? ", nginx" : ""}, firewall and sshd match the program`
                : `${diffs.length} difference${diffs.length === 1 ? "" : "s"} on ${s.cfg.names.id}${where} (berth repair -s ${s.cfg.stack}${where ? ` --host ${s.cfg.host.name}` : ""} re-converges the host)`,
            ...(d.secretsKnown ? [] : [`note: the stack's state was not available (${s.shared.randomsError ?? "unavailable"}); secret-bearing files were compared with the serving release's stamp only`]),
        ],
    };
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

/**
 * Re-converges the host without a release: every declared remote command's
 * create script runs again in the program's order (each is idempotent: what
 * matches is left alone), secret-bearing ones with their stdin; when an env
 * or unit file or a unit had drifted, the switch's per-instance stamps are
 * removed first so the switch restarts the serving release on the idle
 * instance (zero downtime); stopped containers are started; units declared
 * active are started. Then verify runs again.
 */
export async function repair(s: Stack, opts: OpOptions): Promise<OpOutput> {
    const first = s.probe();
    const randoms = s.randoms();
    if (!randoms) throw new Error(`berth: repair needs the stack's state for the generated passwords (the Pulumi CLI, or --state <applier state>): ${s.shared.randomsError ?? "unavailable"}`);
    // (a dry run changes nothing: a mesh host without its key is declared without it)
    let d = await declaredFor(s, servedRevision(s, first), opts.dryRun !== true);
    const before = compare(s.cfg, d, s.probe(verifyRequest(s, d, first.color)));
    const restart = before.some((x) => x.kind === "unit" || (x.kind === "file" && (x.subject === s.cfg.names.envFile || x.subject.startsWith(SYSTEMD_DIR))));
    const text = before.map((x) => `before: ${x.kind} ${x.subject}: ${x.message}`);
    if (opts.dryRun) return { code: 0, text: [...text, ...d.commands.map((c) => `would run ${c.name}`)], data: { before, commands: d.commands.map((c) => c.name) } };
    const ran: { name: string; ok: boolean; last: string }[] = [];
    const state = `${s.cfg.names.root}/state`;
    let commands = d.commands;
    for (let i = 0; i < commands.length; i++) {
        const c = commands[i];
        if (restart && /-switch$/.test(c.name)) {
            s.host.check(script(cmd("rm", "-f", `${state}/stamp`, `${state}/blue.stamp`, `${state}/green.stamp`)), "forgetting the switch stamps");
        }
        const r = s.host.run(c.script, c.stdin, 900_000);
        const last = (r.code === 0 ? r.stdout : r.stderr).trim().split("\n").pop() ?? "";
        ran.push({ name: c.name, ok: r.code === 0, last });
        process.stderr.write(`repair: ${c.name}: ${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`} ${last}\n`);
        if (r.code !== 0) {
            return { code: 1, text: [...text, `repair stopped: ${c.name} failed: ${r.stderr.trim().split("\n").slice(-5).join(" / ")}`], data: { before, ran, ok: false } };
        }
        // Its stdout is read by later commands (the mesh key step) and changed: declare
        // again with it, as the engine builds them from the new output, and go on.
        const read = d.read.find((x) => x.name === c.name);
        if (read && r.stdout !== read.stdout) {
            s.shared.stdouts.set(c.name, r.stdout);
            d = await declaredFor(s, servedRevision(s, first), true);
            commands = d.commands;
            i = commands.findIndex((x) => x.name === c.name);
        }
    }
    const mid = s.probe(verifyRequest(s, d, undefined));
    const color = mid.color;
    const units = declaredUnits(s.cfg, d.files, color).filter(([u]) => !u.includes("@"));
    s.host.check(
        script(
            ...d.containers.map((c) => `if [ "$(docker inspect -f '{{.State.Running}}' ${quote(c.name)} 2>/dev/null)" = false ]; then ${cmd("docker", "start", c.name)} >/dev/null; echo ${quote(`started ${c.name}`)}; fi`),
            ...units.map(([u, enabled]) => `if ! systemctl is-active --quiet ${quote(u)}; then ${cmd("systemctl", ...(enabled ? ["enable", "--now"] : ["start"]), u)}; echo ${quote(`started ${u}`)}; fi`),
            // A started container's health check needs its interval before it answers: the verify
            // below would report "health starting" as drift. Wait (bounded) until each has a verdict.
            ...d.containers.map(
                (c) =>
                    `for _ in $(seq 1 120); do [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' ${quote(c.name)} 2>/dev/null)" = starting ] || break; sleep 1; done`,
            ),
            raw("true").raw,
        ),
        "starting declared services",
    );
    const after = await verify(s, d);
    return { code: after.code, text: [...text, ...ran.map((r) => `ran ${r.name}: ${r.last}`), ...after.text], data: { before, ran, after: after.data } };
}

/**
 * The TEST APPLIER: runs berth's program under Pulumi's mock runtime and, for
 * every registered resource in dependency order, does what the real provider
 * would do against a real host. It exists because the Pulumi engine and its
 * provider plugins cannot be installed on the machines this project is built
 * on; where `pulumi` is on PATH, test/e2e/automation.ts runs the same
 * scenarios through the real engine instead.
 *
 * Semantics mirrored (checked against the providers' source):
 * - command:remote:Command (pulumi-command provider/pkg/provider/remote/
 *   commandController.go, commandOutputs.go): create runs `create`; an input
 *   change runs `update`, or `create` when no update is given; a change of
 *   `triggers` replaces (create the new one, then run the old one's `delete`,
 *   or the reverse with deleteBeforeReplace); delete runs `delete` when set.
 *   The command string is run by the remote user's shell (`session.Run`),
 *   `stdin` is written to the session; `environment` would be Setenv'd (berth
 *   never uses it). Failures report the command and its output.
 * - docker (pulumi-docker, terraform-provider-docker resource_docker_*):
 *   networks, volumes and containers are replaced on any change (their
 *   arguments are ForceNew); `uploads` are copied into the created container
 *   before it starts; `wait` waits for the health check to report healthy;
 *   RemoteImage uses a local image when present and only pulls otherwise,
 *   and keepLocally leaves it on delete. The engine is reached exactly like
 *   the provider does: `ssh <sshOpts> user@host docker ...` with the
 *   provider's own sshOpts, so the pinned KnownHostsCommand is exercised.
 * - random:RandomPassword: real random value; a change of keepers/length
 *   replaces it.
 * - cloudflare:DnsRecord: the record is written into pebble-challtestsrv (the
 *   test DNS server); content/proxied update in place, name/type replace.
 * - engine: resources removed from the program are deleted after the run;
 *   a destroy deletes in reverse order, refuses protected resources (like
 *   `pulumi destroy`) and forgets retainOnDelete resources without deleting
 *   them. A failed resource stops its dependents; its previous state is kept.
 *
 * What it does NOT prove: the engine's own diffing details (e.g. property
 * paths, ignoreChanges), provider plugin bugs, Pulumi Cloud/backends, the
 * Cloudflare API, and previews' rendering. Those are covered by the
 * Automation API run where the CLI exists.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { quote } from "../../lib/shell";
import { StackConfig, ROOT } from "../unit/harness";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface StoredResource {
    type: string;
    name: string;
    custom: boolean;
    inputs: any;
    outputs: Record<string, any>;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    /** Names of resources this one waited for (for destroy order). */
    dependsOn: string[];
    order: number;
    /** The provider reference the engine handed over (docker resources). */
    provider?: string;
}

export interface StateFile {
    resources: Record<string, StoredResource>;
}

export interface CommandRun {
    resource: string;
    phase: "create" | "update" | "delete";
    ms: number;
    exitCode: number;
    stdout: string;
    stderr: string;
}

export interface UpReport {
    ok: boolean;
    error?: string;
    seconds: number;
    commands: CommandRun[];
    /** create/update/replace/delete of docker networks, volumes, containers. */
    dockerChanges: string[];
    /** Every resource's action in this run. */
    actions: Record<string, "create" | "update" | "replace" | "same" | "delete">;
    outputs: Record<string, unknown>;
}

export interface ApplierOptions {
    statePath: string;
    /** pebble-challtestsrv management API (http://ip:8055), for DNS records. */
    dnsApi?: string;
    log?: (line: string) => void;
}

function unwrap(v: any): any {
    if (v && typeof v === "object" && v[SECRET_SIG] !== undefined) return unwrap(v.value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

function secretWrap(v: unknown): unknown {
    return { [SECRET_SIG]: SECRET_VALUE_SIG, value: v };
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

interface ProcResult {
    code: number;
    stdout: string;
    stderr: string;
}

function run(cmd: string, args: string[], stdin?: string | Buffer, timeoutMs = 30 * 60_000): Promise<ProcResult> {
    return new Promise((resolve, reject) => {
        const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
        p.stdout.on("data", (d) => out.push(d));
        p.stderr.on("data", (d) => err.push(d));
        p.on("error", reject);
        p.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
        });
        p.stdin.on("error", () => undefined);
        p.stdin.end(stdin ?? "");
    });
}

/** A minimal ustar archive holding one file (what `docker cp -` reads). */
export function tarOneFile(filePath: string, content: Buffer, mode = 0o644): Buffer {
    const name = filePath.replace(/^\/+/, "");
    if (Buffer.byteLength(name) > 99) throw new Error(`path too long for ustar: ${name}`);
    const h = Buffer.alloc(512);
    const field = (off: number, len: number, s: string) => h.write(s, off, len, "ascii");
    field(0, 100, name);
    field(100, 8, mode.toString(8).padStart(7, "0") + "\0");
    field(108, 8, "0000000\0");
    field(116, 8, "0000000\0");
    field(124, 12, content.length.toString(8).padStart(11, "0") + "\0");
    field(136, 12, Math.floor(Date.now() / 1000).toString(8).padStart(11, "0") + "\0");
    field(148, 8, "        ");
    field(156, 1, "0");
    field(257, 6, "ustar\0");
    field(263, 2, "00");
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
    return Buffer.concat([h, content, pad, Buffer.alloc(1024)]);
}

/** SSH access to a host as the command provider would dial it. */
class SshHost {
    private dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-applier-ssh-"));
    constructor(private conn: any) {}

    private args(extra: string[] = []): string[] {
        const kh = path.join(this.dir, "known_hosts");
        const port = Number(this.conn.port ?? 22);
        const host = String(this.conn.host);
        if (!this.conn.hostKey) throw new Error("applier: refusing to connect without a pinned hostKey");
        fs.writeFileSync(kh, `${port === 22 ? host : `[${host}]:${port}`} ${this.conn.hostKey}\n`);
        const args = ["-p", String(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${kh}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=15"];
        if (this.conn.privateKey) {
            const key = path.join(this.dir, "id");
            fs.writeFileSync(key, this.conn.privateKey.endsWith("\n") ? this.conn.privateKey : `${this.conn.privateKey}\n`, { mode: 0o600 });
            args.push("-o", "IdentitiesOnly=yes", "-i", key);
        }
        return [...args, ...extra, `${this.conn.user ?? "root"}@${host}`];
    }

    exec(command: string, stdin?: string): Promise<ProcResult> {
        return run("ssh", [...this.args(), "--", command], stdin);
    }

    dispose(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** The Docker engine as the docker provider reaches it: `ssh <sshOpts> user@host docker ...`. */
class DockerHost {
    constructor(private provider: { host: string; sshOpts: string[] }, private keyFile?: string) {}

    docker(args: string[], stdin?: string | Buffer): Promise<ProcResult> {
        const m = /^ssh:\/\/([^@]+)@([^:]+):(\d+)$/.exec(this.provider.host);
        if (!m) throw new Error(`applier: unsupported docker host ${this.provider.host}`);
        const sshArgs = [...this.provider.sshOpts, "-p", m[3]];
        // The provider authenticates with the user's ssh setup (agent); the
        // applier hands ssh the stack's key file instead.
        if (this.keyFile) sshArgs.push("-o", "IdentitiesOnly=yes", "-i", this.keyFile);
        return run("ssh", [...sshArgs, `${m[1]}@${m[2]}`, "--", ["docker", ...args].map(quote).join(" ")], stdin);
    }

    async must(args: string[], stdin?: string | Buffer): Promise<string> {
        const r = await this.docker(args, stdin);
        if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr.trim()}`);
        return r.stdout.trim();
    }
}

type Handler = {
    create(name: string, inputs: any, rawInputs: any): Promise<Record<string, any>>;
    update?(name: string, prev: StoredResource, inputs: any, rawInputs: any): Promise<Record<string, any>>;
    delete?(name: string, prev: StoredResource): Promise<void>;
    /** True when the change needs a replacement rather than an update. */
    replaces(prev: any, next: any): boolean;
};

export class Applier {
    private state: StateFile;
    private report!: UpReport;
    private dockerProviders = new Map<string, { host: string; sshOpts: string[] }>();
    private privateKey?: string;
    private done = new Map<string, Promise<void>>();

    constructor(private opts: ApplierOptions) {
        this.state = fs.existsSync(opts.statePath) ? JSON.parse(fs.readFileSync(opts.statePath, "utf8")) : { resources: {} };
    }

    get stored(): StateFile {
        return this.state;
    }

    private log(line: string): void {
        this.opts.log?.(line);
    }

    private save(): void {
        fs.mkdirSync(path.dirname(this.opts.statePath), { recursive: true });
        fs.writeFileSync(this.opts.statePath, JSON.stringify(this.state, null, 1), { mode: 0o600 });
    }

    // -- handlers -------------------------------------------------------------

    private async runCommand(name: string, phase: CommandRun["phase"], inputs: any, commandString: string | undefined): Promise<Record<string, any>> {
        if (!commandString) return { stdout: "", stderr: "" };
        const host = new SshHost(inputs.connection);
        const t0 = Date.now();
        try {
            const r = await host.exec(commandString, inputs.stdin || undefined);
            const rec: CommandRun = { resource: name, phase, ms: Date.now() - t0, exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
            this.report.commands.push(rec);
            this.log(`  ${phase} ${name} (${rec.ms} ms, exit ${r.code})`);
            if (r.code !== 0) {
                throw new Error(`${name}: ${phase} failed with exit ${r.code}:\n${r.stdout}${r.stderr}`);
            }
            return { stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") };
        } finally {
            host.dispose();
        }
    }

    private commandHandler: Handler = {
        create: (name, inputs) => this.runCommand(name, "create", inputs, inputs.create),
        update: (name, _prev, inputs) => this.runCommand(name, "update", inputs, inputs.update ?? inputs.create),
        delete: async (name, prev) => {
            await this.runCommand(name, "delete", prev.inputs, prev.inputs.delete);
        },
        replaces: (prev, next) => !equal(prev.triggers, next.triggers),
    };

    /** The engine of the docker provider a resource names (its provider reference holds the provider's URN). */
    private dockerFor(providerRef: string | undefined): DockerHost {
        const all = [...this.dockerProviders.entries()];
        const found = all.find(([n]) => providerRef?.includes(`::${n}::`)) ?? (all.length === 1 ? all[0] : undefined);
        if (!found) throw new Error(`applier: no docker provider registered for ${providerRef ?? "a resource without provider"}`);
        return new DockerHost(found[1], this.keyFile());
    }

    private providerOf = new Map<string, string | undefined>();

    private dockerHandlers(): Record<string, Handler> {
        const labelArgs = (labels: { label: string; value: string }[] = []) => labels.flatMap((l) => ["--label", `${l.label}=${l.value}`]);
        return {
            "docker:index/network:Network": {
                create: async (name, i) => {
                    const d = this.dockerFor(this.providerOf.get(name));
                    const exists = await d.docker(["network", "inspect", i.name]);
                    if (exists.code !== 0) await d.must(["network", "create", "--driver", i.driver ?? "bridge", ...labelArgs(i.labels), i.name]);
                    this.report.dockerChanges.push(`create network ${i.name}`);
                    return { ...i, id: await d.must(["network", "inspect", "-f", "{{.Id}}", i.name]) };
                },
                delete: async (name, prev) => {
                    await this.dockerFor(this.providerOf.get(name) ?? prev.provider).docker(["network", "rm", prev.inputs.name]);
                    this.report.dockerChanges.push(`delete network ${prev.inputs.name}`);
                },
                replaces: () => true,
            },
            "docker:index/volume:Volume": {
                create: async (name, i) => {
                    const d = this.dockerFor(this.providerOf.get(name));
                    const exists = await d.docker(["volume", "inspect", i.name]);
                    if (exists.code !== 0) await d.must(["volume", "create", ...labelArgs(i.labels), i.name]);
                    this.report.dockerChanges.push(`create volume ${i.name}`);
                    return { ...i };
                },
                delete: async (name, prev) => {
                    await this.dockerFor(this.providerOf.get(name) ?? prev.provider).must(["volume", "rm", prev.inputs.name]);
                    this.report.dockerChanges.push(`delete volume ${prev.inputs.name}`);
                },
                replaces: () => true,
            },
            "docker:index/remoteImage:RemoteImage": {
                create: async (name, i) => {
                    const d = this.dockerFor(this.providerOf.get(name));
                    let id = await d.docker(["image", "inspect", "-f", "{{.Id}}", i.name]);
                    if (id.code !== 0) {
                        await d.must(["pull", i.name]);
                        id = await d.docker(["image", "inspect", "-f", "{{.Id}}", i.name]);
                    }
                    return { ...i, imageId: id.stdout.trim(), repoDigest: "" };
                },
                delete: async () => undefined, // keepLocally
                replaces: () => true,
            },
            "docker:index/container:Container": {
                create: async (name, i) => {
                    const d = this.dockerFor(this.providerOf.get(name));
                    await d.docker(["rm", "-f", i.name]);
                    const args = ["create", "--name", i.name];
                    if (i.restart) args.push("--restart", i.restart);
                    for (const e of i.envs ?? []) args.push("-e", e);
                    for (const p of i.ports ?? []) args.push("-p", `${p.ip ? `${p.ip}:` : ""}${p.external}:${p.internal}/${p.protocol ?? "tcp"}`);
                    for (const v of i.volumes ?? []) args.push("-v", `${v.volumeName}:${v.containerPath}`);
                    const [net, ...moreNets] = i.networksAdvanced ?? [];
                    if (net) {
                        args.push("--network", net.name);
                        for (const a of net.aliases ?? []) args.push("--network-alias", a);
                    }
                    if (i.healthcheck) {
                        const [kind, ...rest] = i.healthcheck.tests;
                        if (kind !== "CMD-SHELL") throw new Error("applier: only CMD-SHELL health checks are mirrored");
                        args.push("--health-cmd", rest.join(" "), "--health-interval", i.healthcheck.interval, "--health-timeout", i.healthcheck.timeout, "--health-retries", String(i.healthcheck.retries), "--health-start-period", i.healthcheck.startPeriod);
                    }
                    args.push(...labelArgs(i.labels));
                    if (i.logDriver) args.push("--log-driver", i.logDriver);
                    for (const [k, v] of Object.entries<string>(i.logOpts ?? {})) args.push("--log-opt", `${k}=${v}`);
                    args.push(i.image, ...(i.command ?? []));
                    const id = await d.must(args);
                    for (const n of moreNets) await d.must(["network", "connect", ...(n.aliases ?? []).flatMap((a: string) => ["--alias", a]), n.name, i.name]);
                    for (const u of i.uploads ?? []) {
                        await d.must(["cp", "-", `${i.name}:/`], tarOneFile(u.file, Buffer.from(u.content ?? "", "utf8"), u.executable ? 0o755 : 0o644));
                    }
                    await d.must(["start", i.name]);
                    this.report.dockerChanges.push(`create container ${i.name}`);
                    if (i.wait) {
                        const deadline = Date.now() + 1000 * (i.waitTimeout ?? 60);
                        for (;;) {
                            const s = await d.must(["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", i.name]);
                            if (s === "healthy" || s === "running") break;
                            if (Date.now() > deadline) {
                                const logs = await d.docker(["logs", "--tail", "30", i.name]);
                                throw new Error(`container ${i.name} did not become healthy (${s}):\n${logs.stdout}${logs.stderr}`);
                            }
                            await new Promise((r) => setTimeout(r, 1000));
                        }
                    }
                    return { ...i, id };
                },
                delete: async (name, prev) => {
                    await this.dockerFor(this.providerOf.get(name) ?? prev.provider).docker(["rm", "-f", prev.inputs.name]);
                    this.report.dockerChanges.push(`delete container ${prev.inputs.name}`);
                },
                replaces: () => true,
            },
        };
    }

    private otherHandlers(): Record<string, Handler> {
        const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return {
            "random:index/randomPassword:RandomPassword": {
                create: async (_n, i) => {
                    const bytes = crypto.randomBytes(i.length);
                    const result = [...bytes].map((b) => alnum[b % alnum.length]).join("");
                    return { ...i, result };
                },
                replaces: () => true,
            },
            "cloudflare:index/dnsRecord:DnsRecord": {
                create: async (_n, i) => {
                    await this.dns(i.type === "AAAA" ? "add-aaaa" : "add-a", { host: `${i.name}.`, addresses: [i.content] });
                    return { ...i };
                },
                update: async (_n, _p, i) => {
                    await this.dns(i.type === "AAAA" ? "add-aaaa" : "add-a", { host: `${i.name}.`, addresses: [i.content] });
                    return { ...i };
                },
                delete: async (_n, prev) => {
                    await this.dns(prev.inputs.type === "AAAA" ? "clear-aaaa" : "clear-a", { host: `${prev.inputs.name}.` });
                },
                replaces: (p, n) => p.name !== n.name || p.type !== n.type || p.zoneId !== n.zoneId,
            },
            "pulumi:providers:docker": {
                create: async (name, i) => {
                    this.dockerProviders.set(name, { host: i.host, sshOpts: typeof i.sshOpts === "string" ? JSON.parse(i.sshOpts) : i.sshOpts });
                    return { ...i };
                },
                update: async (name, _p, i) => {
                    this.dockerProviders.set(name, { host: i.host, sshOpts: typeof i.sshOpts === "string" ? JSON.parse(i.sshOpts) : i.sshOpts });
                    return { ...i };
                },
                replaces: () => false,
            },
        };
    }

    private async dns(endpoint: string, body: unknown): Promise<void> {
        if (!this.opts.dnsApi) throw new Error("applier: a DNS record was registered but no test DNS API is configured");
        const r = await fetch(`${this.opts.dnsApi}/${endpoint}`, { method: "POST", body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`challtestsrv ${endpoint}: HTTP ${r.status}`);
    }

    private handlerFor(type: string): Handler | undefined {
        if (type === "command:remote:Command") return this.commandHandler;
        return { ...this.dockerHandlers(), ...this.otherHandlers() }[type];
    }

    // -- one resource ---------------------------------------------------------

    private async apply(key: string, type: string, name: string, rawInputs: any, meta: Meta, order: number): Promise<Record<string, any>> {
        const inputs = unwrap(rawInputs);
        const prev = this.state.resources[key];
        const h = this.handlerFor(type);
        const store = (outputs: Record<string, any>) => {
            this.state.resources[key] = {
                type,
                name,
                custom: meta.custom,
                inputs,
                outputs,
                protect: meta.protect,
                retainOnDelete: meta.retainOnDelete,
                deleteBeforeReplace: meta.deleteBeforeReplace,
                dependsOn: meta.dependsOn,
                order,
                provider: this.providerOf.get(name),
            };
            this.save();
        };
        if (!meta.custom || !h) {
            if (meta.custom && !h) throw new Error(`applier: no handler for ${type}`);
            store({ ...inputs });
            return { ...inputs };
        }
        if (!prev) {
            const out = await h.create(name, inputs, rawInputs);
            this.report.actions[key] = "create";
            store(out);
            return out;
        }
        if (equal(prev.inputs, inputs)) {
            this.report.actions[key] = "same";
            if (type === "pulumi:providers:docker") await h.create(name, inputs, rawInputs);
            store(prev.outputs);
            return prev.outputs;
        }
        if (h.replaces(prev.inputs, inputs)) {
            if (prev.protect) throw new Error(`${name}: refusing to replace a protected resource`);
            this.report.actions[key] = "replace";
            if (meta.deleteBeforeReplace) {
                await h.delete?.(name, prev);
                const out = await h.create(name, inputs, rawInputs);
                store(out);
                return out;
            }
            const out = await h.create(name, inputs, rawInputs);
            store(out);
            await h.delete?.(name, prev);
            return out;
        }
        this.report.actions[key] = "update";
        const out = h.update ? await h.update(name, prev, inputs, rawInputs) : await h.create(name, inputs, rawInputs);
        store(out);
        return out;
    }

    // -- whole runs -----------------------------------------------------------

    /** Runs index.ts with `cfg` and converges the host, like `pulumi up`. */
    async up(cfg: StackConfig): Promise<UpReport> {
        const t0 = Date.now();
        this.report = { ok: false, seconds: 0, commands: [], dockerChanges: [], actions: {}, outputs: {} };
        this.done.clear();
        this.privateKey = cfg.values["berth:privateKey"];
        const metas = new Map<string, Meta>();
        const seen = new Set<string>();
        const errors: string[] = [];
        let order = 0;

        for (const k of Object.keys(require.cache)) {
            if (k.startsWith(ROOT) && !k.includes(`${path.sep}node_modules${path.sep}`) && !k.includes(`${path.sep}test${path.sep}`)) delete require.cache[k];
        }
        pulumi.runtime.setAllConfig(cfg.values, cfg.secretKeys);
        const onRejection = (e: unknown) => {
            const msg = e instanceof Error ? e.message : String(e);
            if (!errors.includes(msg)) errors.push(msg);
        };
        process.on("unhandledRejection", onRejection);
        await pulumi.runtime.setMocks(
            {
                newResource: async (a) => {
                    const key = `${a.type}::${a.name}`;
                    seen.add(key);
                    const meta = metas.get(key) ?? { custom: a.custom ?? true, protect: false, retainOnDelete: false, deleteBeforeReplace: false, dependsOn: [], additionalSecretOutputs: [] };
                    meta.custom = a.custom ?? true;
                    if (a.provider) this.providerOf.set(a.name, a.provider);
                    let release!: (ok: boolean) => void;
                    const finished = new Promise<boolean>((r) => (release = r));
                    this.done.set(a.name, finished.then(() => undefined));
                    try {
                        for (const dep of meta.dependsOn) {
                            const p = this.done.get(dep) ?? this.componentDone(dep, metas);
                            await p;
                            if (this.failed.has(dep)) throw new Error(`${a.name}: not applied because ${dep} failed`);
                        }
                        const out = await this.apply(key, a.type, a.name, a.inputs, meta, order++);
                        release(true);
                        const state: Record<string, any> = { ...out };
                        for (const k of meta.additionalSecretOutputs) if (k in state) state[k] = secretWrap(state[k]);
                        return { id: `${a.name}-id`, state };
                    } catch (e) {
                        this.failed.add(a.name);
                        release(false);
                        onRejection(e);
                        throw e;
                    }
                },
                call: (a) => {
                    if (a.token === "cloudflare:index/getZone:getZone") return { id: "0".repeat(32), zoneId: "0".repeat(32) };
                    return a.inputs;
                },
            },
            "berth",
            cfg.stack,
            false,
        );
        try {
            const outputs = await pulumi.runtime.runInPulumiStack(async () => {
                pulumi.runtime.registerStackTransformation((t) => {
                    const o = t.opts as pulumi.CustomResourceOptions;
                    metas.set(`${t.type}::${t.name}`, {
                        custom: true,
                        protect: o.protect === true,
                        retainOnDelete: o.retainOnDelete === true,
                        deleteBeforeReplace: o.deleteBeforeReplace === true,
                        dependsOn: ([] as any[]).concat(o.dependsOn ?? []).map((d) => d?.__name).filter(Boolean),
                        additionalSecretOutputs: [...(o.additionalSecretOutputs ?? [])],
                    });
                    return undefined;
                });
                try {
                    return require(path.join(ROOT, "index.ts"));
                } catch (e) {
                    onRejection(e);
                    return {};
                }
            });
            await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
            await Promise.allSettled([...this.done.values()]);
            this.report.outputs = await resolveOutputs(outputs ?? {});
        } catch (e) {
            onRejection(e);
        } finally {
            process.off("unhandledRejection", onRejection);
        }
        // Resources no longer in the program are deleted, newest first.
        if (errors.length === 0) {
            const gone = Object.entries(this.state.resources)
                .filter(([k]) => !seen.has(k))
                .sort((a, b) => b[1].order - a[1].order);
            for (const [k, r] of gone) {
                try {
                    await this.deleteOne(k, r);
                } catch (e) {
                    onRejection(e);
                    break;
                }
            }
        }
        this.cleanup();
        this.report.ok = errors.length === 0;
        this.report.error = errors.length ? errors.join("\n") : undefined;
        this.report.seconds = (Date.now() - t0) / 1000;
        return this.report;
    }

    private failed = new Set<string>();
    private keyDir?: string;

    /** The stack's SSH key in a 0600 file for the docker ssh helper, removed after each run. */
    private keyFile(): string | undefined {
        if (!this.privateKey) return undefined;
        if (!this.keyDir) this.keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-applier-key-"));
        const f = path.join(this.keyDir, "id");
        if (!fs.existsSync(f)) fs.writeFileSync(f, this.privateKey.endsWith("\n") ? this.privateKey : `${this.privateKey}\n`, { mode: 0o600 });
        return f;
    }

    private cleanup(): void {
        if (this.keyDir) fs.rmSync(this.keyDir, { recursive: true, force: true });
        this.keyDir = undefined;
    }

    private componentDone(name: string, metas: Map<string, Meta>): Promise<void> {
        // A component in dependsOn means all of its children; berth passes
        // custom resources, so this only waits for what is already known.
        void metas;
        return this.done.get(name) ?? Promise.resolve();
    }

    private async deleteOne(key: string, r: StoredResource): Promise<void> {
        if (r.protect) throw new Error(`${r.name}: refusing to delete a protected resource (unprotect it first, like pulumi state unprotect)`);
        if (!r.retainOnDelete) {
            const h = this.handlerFor(r.type);
            if (r.custom && h?.delete) {
                this.report.actions[key] = "delete";
                await h.delete(r.name, r);
            }
        }
        delete this.state.resources[key];
        this.save();
    }

    /** Like `pulumi destroy`: refuses protected resources, keeps retainOnDelete ones. */
    async destroy(stackConfig: StackConfig): Promise<UpReport> {
        const t0 = Date.now();
        this.report = { ok: false, seconds: 0, commands: [], dockerChanges: [], actions: {}, outputs: {} };
        this.privateKey = stackConfig.values["berth:privateKey"];
        const all = Object.entries(this.state.resources).sort((a, b) => b[1].order - a[1].order);
        const protectedOnes = all.filter(([, r]) => r.protect).map(([, r]) => r.name);
        if (protectedOnes.length) {
            this.report.error = `refusing to destroy protected resources: ${protectedOnes.join(", ")}`;
            this.report.seconds = (Date.now() - t0) / 1000;
            return this.report;
        }
        for (const [, r] of all) if (r.type === "pulumi:providers:docker") this.dockerProviders.set(r.name, { host: r.inputs.host, sshOpts: typeof r.inputs.sshOpts === "string" ? JSON.parse(r.inputs.sshOpts) : r.inputs.sshOpts });
        try {
            for (const [k, r] of all) await this.deleteOne(k, r);
            this.report.ok = true;
        } catch (e) {
            this.report.error = (e as Error).message;
        }
        this.cleanup();
        this.report.seconds = (Date.now() - t0) / 1000;
        return this.report;
    }

    /** Like `pulumi state unprotect --all`. */
    unprotectAll(): void {
        for (const r of Object.values(this.state.resources)) r.protect = false;
        this.save();
    }
}

interface Meta {
    custom: boolean;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    dependsOn: string[];
    additionalSecretOutputs: string[];
}

async function resolveOutputs(mod: Record<string, unknown>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(mod)) {
        out[k] = pulumi.Output.isInstance(v) ? await new Promise((r) => (v as pulumi.Output<unknown>).apply((x) => r(x))) : v;
    }
    return out;
}

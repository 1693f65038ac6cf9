/**
 * Provider models for the engine model (test/e2e/engine.ts): what each
 * provider plugin berth uses does to a real host, read from its source.
 * References (details and line numbers in test/e2e/README.md):
 *
 * - command:remote:Command — pulumi-command v1.2.1
 *   provider/pkg/provider/remote/commandController.go, connection.go:
 *   create runs `create`; an input change runs `update`, or `create` when no
 *   `update` is set; a change of `triggers` replaces; delete runs `delete`
 *   when set, with the old inputs; `stdin` is written to the session only
 *   when non-empty; the command runs through the remote user's shell
 *   (session.Run). Authentication (connection.go): the `privateKey` first,
 *   then the ssh-agent at `agentSocketPath` or $SSH_AUTH_SOCK; nothing from
 *   ~/.ssh and no ssh_config (Go's x/crypto/ssh, not OpenSSH) — modelled
 *   with OpenSSH as `-F /dev/null`, the key as the only IdentityFile and
 *   IdentityAgent set to $SSH_AUTH_SOCK or none. Host key: with `hostKey`
 *   pinned, only that key is accepted and only its algorithm is offered
 *   (HostKeyAlgorithms = [key.Type()]), so a pinned `ssh-rsa` key asks for
 *   SHA-1 RSA signatures; without it any key is accepted.
 * - docker (pulumi-docker 5.x, bridging kreuzwerker/terraform-provider-docker
 *   v3/v4): the engine is reached through docker/cli's connhelper, which runs
 *   `ssh <sshOpts> -T -l <user> -p <port> -- <host> docker system dial-stdio`
 *   (cli/connhelper/connhelper.go, cli/connhelper/ssh/ssh.go) with the
 *   provider's `sshOpts` verbatim: OpenSSH with the user's ~/.ssh/config,
 *   ~/.ssh keys and agent, nothing added. The model does exactly that: a
 *   local socket whose every connection is such an ssh process, used by the
 *   docker CLI. Resources (resource_docker_*.go): every network and volume
 *   argument is ForceNew; a volume's ID is its name and `docker volume
 *   create` of an existing name returns the existing volume, so a
 *   same-name replacement's delete removes the live one; a network name
 *   that exists fails the create. Container: the arguments berth uses are
 *   ForceNew except `restart`, `wait`, `waitTimeout`, `mustRun` (and the
 *   resource limits), and the update applies only the restart policy and
 *   limits (ContainerUpdate); the create does not remove a leftover
 *   container of the same name (the create fails with a conflict); a
 *   container that is not healthy within `waitTimeout` after its start is a
 *   partial create: the bridge records its state together with the error
 *   (the engine's initErrors). RemoteImage: a local image is used when
 *   present, otherwise pulled; `keepLocally` leaves it on delete.
 * - random:RandomPassword (pulumi-random, terraform-provider-random): every
 *   argument is ForceNew; `result` is secret.
 * - cloudflare:DnsRecord (pulumi-cloudflare 6.x, TF provider v5
 *   dns_record/schema.go): only `zoneId` forces a replacement; name, type,
 *   content, proxied, ttl update in place. Records go to pebble-challtestsrv,
 *   the test DNS server. Each Cloudflare record is its own object (its own
 *   id): several A records of one name (one per web host: round robin) are
 *   created, updated and deleted one by one, and deleting one leaves the
 *   others. challtestsrv keeps a list of addresses per name instead (add-a
 *   appends, clear-a empties the name), so an update or delete reads the
 *   name's current addresses from the test DNS and writes the list back
 *   without this record's address (see TestDns).
 * - pulumi:providers:docker: a change of its configuration updates the
 *   provider in place and keeps its id (pulumi/pulumi pkg/resource/deploy/
 *   providers/registry.go Update: re-Configure, same req.ID), so its
 *   resources keep their provider reference and are diffed on their own
 *   inputs: a container whose inputs did not change is `same` even though
 *   the provider now points at another host. Its DiffConfig never asks for
 *   a replacement (pulumi-docker provider/hybrid.go DiffConfig → the
 *   bridge's, pulumi-terraform-bridge pkg/tfbridge/provider.go configDiffer:
 *   a replacement only for config keys with ForcesProviderReplace, which
 *   pulumi-docker's provider/resources.go sets for none), also when a
 *   resource moves to another docker provider resource (engine.ts
 *   providerChanged).
 *
 * Read, for a refresh (the engine side is engine.ts point 9):
 * - command:remote:Command has no Read: pulumi-command v1.2.1's Command
 *   implements infer.CustomResource, CustomUpdate and CustomDelete only
 *   (provider/pkg/provider/remote/commandController.go), and
 *   pulumi-go-provider v1.3.0's default Read (infer/resource.go
 *   derivedResourceController.Read, no CustomRead) returns the ID, state and
 *   inputs as given. A refresh leaves every command as it is: a hand-edited
 *   file on a host is invisible to it.
 * - random:RandomPassword: terraform-provider-random's Read is empty
 *   ("Read does not need to perform any operations",
 *   internal/provider/resource_password.go): state as it is.
 * - The bridge (pulumi-terraform-bridge pkg/tfbridge/provider.go Read):
 *   the TF Read's state becomes the outputs; a nil state (the TF resource
 *   called `d.SetId("")`; pkg/tfshim/sdk-v2/provider2.go Refresh returns
 *   nil for a null state; the plugin-framework bridge pkg/pf/tfbridge/
 *   provider_read.go likewise for RemoveResource) is an empty ReadResponse:
 *   the resource is gone. The inputs are ExtractInputsFromOutputs(isRefresh):
 *   only inputs already present, with their refreshed values
 *   (engine.ts bridgeRefreshInputs).
 * - docker (terraform-provider-docker v4.5.0, internal/provider/):
 *   Container (resource_docker_container_funcs.go resourceDockerContainerRead):
 *   looked up by ID in the list of all containers (fetchDockerContainer);
 *   absent → SetId("") → gone, and the next up creates it again. Present:
 *   `ports` (when set) is re-read from NetworkSettings.Ports if the
 *   container runs or `must_run` is true in state — empty for a stopped
 *   container (moby daemon/container_operations.go releaseNetwork:
 *   `container.NetworkSettings.Ports = nil`), and `ports` is ForceNew, so
 *   the next up replaces a stopped container that publishes ports; a stopped container gets `exit_code`
 *   and, when `must_run` was true, `must_run = false` (the next up's diff
 *   must_run false→true is an update whose resourceDockerContainerUpdate
 *   starts it); `name` (without the leading "/"), `image` (the container's
 *   image ID when the configured image starts with "sha256:", else
 *   Config.Image), `command`, `restart`, `max_retry_count`, `memory`,
 *   `memory_reservation`, `memory_swap`, `cpu_shares`, `cpu_set`,
 *   `log_driver`, `log_opts` (only when set), `healthcheck` (durations
 *   as Go's Duration.String()) are set from the inspected container;
 *   environment, labels, uploads and volumes are not read ("We decided not
 *   to set the environment variables and labels"). Fields berth does not
 *   set are not modelled. Volume (resource_docker_volume.go
 *   resourceDockerVolumeRead): VolumeInspect by ID (the name); not found →
 *   gone; name, labels (a set), driver read. Network
 *   (resource_docker_network_funcs.go resourceDockerNetworkReadRefreshFunc):
 *   NetworkInspect by ID; ANY error → "removed" (gone); name, labels,
 *   driver read. RemoteImage (resource_docker_image_funcs.go
 *   resourceDockerImageRead): the image `name` inspected locally; absent →
 *   gone (the next up pulls or finds it again); present → `image_id` and
 *   `repo_digest` (data_source_docker_image.go determineRepoDigest) from
 *   the local image, so a re-tagged image changes `imageId`, and with it
 *   the `image` of every container built from it (a replacement).
 * - cloudflare:DnsRecord (terraform-provider-cloudflare
 *   internal/services/dns_record/resource.go Read): GET of the record by
 *   id; a 404 → RemoveResource (gone). The test DNS has no record ids: a
 *   record whose address the name no longer answers is gone (recreated by
 *   the next up; a record whose address was changed out of band would be
 *   an update at Cloudflare and is a create here); otherwise its state is
 *   kept.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as dns from "node:dns";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { bridgeRefreshInputs, diffBy, Models, PartialFailure, ProviderContext, ReadResult, ResourceModel, StoredResource, unwrap } from "./engine";

export interface CommandRun {
    resource: string;
    phase: "create" | "update" | "delete";
    ms: number;
    /** When it started (ms since the epoch): the bench lays the commands of an up out in time. */
    startedAt?: number;
    exitCode: number;
    stdout: string;
    stderr: string;
}

export interface ProcResult {
    code: number;
    stdout: string;
    stderr: string;
}

export function run(cmd: string, args: string[], stdin?: string | Buffer, env?: NodeJS.ProcessEnv): Promise<ProcResult> {
    return new Promise((resolve, reject) => {
        const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: env ?? process.env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        p.stdout.on("data", (d) => out.push(d));
        p.stderr.on("data", (d) => err.push(d));
        p.on("error", reject);
        p.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
        p.stdin.on("error", () => undefined);
        p.stdin.end(stdin ?? "");
    });
}

// ---------------------------------------------------------------------------
// SSH as pulumi-command dials it
// ---------------------------------------------------------------------------

export interface CommandConnection {
    host: string;
    port?: number;
    user?: string;
    privateKey?: string;
    hostKey?: string;
    agentSocketPath?: string;
    perDialTimeout?: number;
}

/**
 * OpenSSH arguments equivalent to pulumi-command's dial (connection.go):
 * no ssh_config, the private key as the only identity file, the agent only
 * when one is given, the pinned key and only its algorithm.
 */
export function commandSshArgs(conn: CommandConnection, files: { keyFile?: string; knownHosts: string }, env: NodeJS.ProcessEnv = process.env): string[] {
    const port = Number(conn.port ?? 22);
    const args = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", `ConnectTimeout=${conn.perDialTimeout ?? 15}`, "-o", "GlobalKnownHostsFile=/dev/null"];
    if (conn.hostKey) {
        const [algorithm] = conn.hostKey.trim().split(/\s+/);
        args.push("-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${files.knownHosts}`, "-o", `HostKeyAlgorithms=${algorithm}`);
    } else {
        args.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
    }
    // privateKey first, then the agent (agentSocketPath or SSH_AUTH_SOCK); never ~/.ssh.
    args.push("-o", `IdentityFile=${files.keyFile ?? "/dev/null"}`, "-o", "IdentitiesOnly=yes");
    const agent = conn.agentSocketPath ?? env.SSH_AUTH_SOCK;
    args.push("-o", `IdentityAgent=${agent ? agent : "none"}`);
    if (!files.keyFile && !agent) args.push("-o", "PubkeyAuthentication=no");
    args.push("-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no");
    args.push("-p", String(port), "-l", conn.user ?? "root", "--", conn.host);
    return args;
}

/**
 * The docker CLI's ssh connection helper argv (docker/cli v28.5.2, as used by
 * terraform-provider-docker v4.5.0: connhelper.go 43-97, ssh/ssh.go 103-182):
 * `ssh -l USER -p PORT <sshOpts> "-o ConnectTimeout=30" -T -- HOST "docker system dial-stdio"`.
 */
export function connhelperArgs(dockerHost: string, sshOpts: string[]): string[] {
    const m = /^ssh:\/\/(?:([^@:]+)@)?([^:/]+)(?::(\d+))?\/?$/.exec(dockerHost);
    if (!m) throw new Error(`applier: unsupported docker host ${dockerHost}`);
    const flags = [...sshOpts];
    // addSSHTimeout: one element "-o ConnectTimeout=30" unless a flag mentions ConnectTimeout.
    if (!flags.some((f) => f.includes("ConnectTimeout"))) flags.push("-o ConnectTimeout=30");
    // disablePseudoTerminalAllocation: -T unless -t/-T given.
    if (!flags.some((f) => f === "-t" || f === "-T" || f === "-tt")) flags.push("-T");
    const spec: string[] = [];
    if (m[1]) spec.push("-l", m[1]);
    if (m[3]) spec.push("-p", m[3]);
    return [...spec, ...flags, "--", m[2], "docker system dial-stdio"];
}

/** A local socket whose connections are connhelper ssh processes: the docker CLI then talks to the remote engine. */
export class DockerEndpoint {
    private server: net.Server;
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-docker-"));
    readonly socket = path.join(this.dir, "docker.sock");
    private ready: Promise<void>;
    private children = new Set<ReturnType<typeof spawn>>();

    constructor(readonly host: string, readonly sshOpts: string[]) {
        const argv = connhelperArgs(host, sshOpts);
        fs.mkdirSync(path.join(this.dir, "config"));
        this.server = net.createServer((sock) => {
            const p = spawn("ssh", argv, { stdio: ["pipe", "pipe", "pipe"] });
            this.children.add(p);
            let err = "";
            p.stderr.on("data", (d) => (err += d));
            sock.pipe(p.stdin);
            p.stdout.pipe(sock);
            p.stdin.on("error", () => undefined);
            sock.on("error", () => p.kill());
            sock.on("close", () => p.kill());
            p.on("close", (code) => {
                this.children.delete(p);
                if (code && code !== 0 && err.trim()) this.lastError = err.trim();
                sock.destroy();
            });
        });
        this.ready = new Promise((resolve, reject) => {
            this.server.once("error", reject);
            this.server.listen(this.socket, () => resolve());
        });
    }

    lastError = "";

    async docker(args: string[], stdin?: string | Buffer): Promise<ProcResult> {
        await this.ready;
        const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: path.join(this.dir, "config") };
        delete env.DOCKER_HOST;
        delete env.DOCKER_CONTEXT;
        const r = await run("docker", ["-H", `unix://${this.socket}`, ...args], stdin, env);
        if (r.code !== 0 && this.lastError && /Cannot connect|error during connect|EOF/i.test(r.stderr)) r.stderr += `\n(ssh: ${this.lastError})`;
        return r;
    }

    async must(args: string[], stdin?: string | Buffer): Promise<string> {
        const r = await this.docker(args, stdin);
        if (r.code !== 0) throw new Error(`docker ${args[0]} ${args[1] ?? ""} failed: ${r.stderr.trim()}`);
        return r.stdout.trim();
    }

    /** `docker <kind> inspect <id>` for a provider's Read: the object, or undefined when the answer says it is `gone`; any other failure throws. */
    async inspect(kind: string, id: string, gone: RegExp): Promise<any | undefined> {
        const r = await this.docker([kind, "inspect", id]);
        if (r.code === 0) return JSON.parse(r.stdout)[0];
        if (gone.test(r.stderr)) return undefined;
        throw new Error(`docker ${kind} inspect ${id} failed: ${r.stderr.trim()}`);
    }

    close(): void {
        for (const c of this.children) c.kill();
        this.server.close();
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
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

/** Container arguments the provider updates in place; every other one replaces. */
export const CONTAINER_IN_PLACE = new Set([
    "rm", "start", "wait", "waitTimeout", "attach", "logs", "mustRun", "restart", "maxRetryCount", "removeVolumes", "tmpfs",
    "deviceReadBps", "deviceReadIops", "deviceWriteBps", "deviceWriteIops", "destroyGraceSeconds", "memory", "memoryReservation",
    "memorySwap", "cpuShares", "cpuSet", "healthcheck", "containerReadRefreshTimeoutMilliseconds", "init", "cpuPeriod", "cpuQuota",
]);
/** Of those, what resourceDockerContainerUpdate applies to the running container (one ContainerUpdate). */
export const CONTAINER_APPLIED = ["restart", "maxRetryCount", "cpuShares", "memory", "memoryReservation", "cpuSet", "memorySwap"];

export interface HostModelOptions {
    /** pebble-challtestsrv management API (http://ip:8055), for DNS records. */
    dnsApi?: string;
    log?: (line: string) => void;
    /** Every remote command run, with its outputs. */
    commands: CommandRun[];
    /** create/update/replace/delete of docker networks, volumes, containers. */
    dockerChanges: string[];
}

/** The provider models that act on real hosts. Call `close()` after the operation. */
export class HostModels {
    private endpoints = new Map<string, DockerEndpoint>();
    private tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-applier-ssh-"));

    constructor(private o: HostModelOptions) {}

    close(): void {
        for (const e of this.endpoints.values()) e.close();
        this.endpoints.clear();
        fs.rmSync(this.tmp, { recursive: true, force: true });
    }

    private engine(ctx: ProviderContext): DockerEndpoint {
        const cfg = ctx.providerConfig;
        if (!cfg?.host) throw new Error(`applier: ${ctx.urn} has no docker provider with a host`);
        const sshOpts: string[] = typeof cfg.sshOpts === "string" ? JSON.parse(cfg.sshOpts) : cfg.sshOpts ?? [];
        const key = `${cfg.host} ${JSON.stringify(sshOpts)}`;
        let e = this.endpoints.get(key);
        if (!e) {
            e = new DockerEndpoint(cfg.host, sshOpts);
            this.endpoints.set(key, e);
        }
        return e;
    }

    private async ssh(name: string, phase: CommandRun["phase"], conn: CommandConnection, command: string, stdin?: string): Promise<ProcResult> {
        const id = crypto.randomBytes(6).toString("hex");
        const knownHosts = path.join(this.tmp, `kh-${id}`);
        const port = Number(conn.port ?? 22);
        if (conn.hostKey) fs.writeFileSync(knownHosts, `${port === 22 ? conn.host : `[${conn.host}]:${port}`} ${conn.hostKey}\n`);
        let keyFile: string | undefined;
        if (conn.privateKey) {
            keyFile = path.join(this.tmp, `id-${id}`);
            fs.writeFileSync(keyFile, conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`, { mode: 0o600 });
        }
        // connection.go 139-142: a socket path that cannot be dialled fails the whole connection.
        const agent = conn.agentSocketPath ?? process.env.SSH_AUTH_SOCK;
        if (agent && !fs.existsSync(agent)) throw new Error(`${name}: failed to dial the SSH agent at ${agent}`);
        const t0 = Date.now();
        try {
            const r = await run("ssh", [...commandSshArgs(conn, { keyFile, knownHosts }), command], stdin || undefined);
            const rec: CommandRun = { resource: name, phase, ms: Date.now() - t0, startedAt: t0, exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
            this.o.commands.push(rec);
            this.o.log?.(`  ${phase} ${name} (${rec.ms} ms, exit ${r.code})`);
            return r;
        } finally {
            fs.rmSync(knownHosts, { force: true });
            if (keyFile) fs.rmSync(keyFile, { force: true });
        }
    }

    private async command(ctx: ProviderContext, phase: CommandRun["phase"], inputs: any, script: string | undefined): Promise<Record<string, any>> {
        if (!script) return { ...inputs, stdout: "", stderr: "" };
        const r = await this.ssh(ctx.name, phase, inputs.connection, script, inputs.stdin);
        if (r.code !== 0) throw new Error(`${ctx.name}: ${phase} failed: Process exited with status ${r.code}:\n${r.stdout}${r.stderr}`);
        return { ...inputs, stdout: r.stdout.replace(/\n$/, ""), stderr: r.stderr.replace(/\n$/, "") };
    }

    models(): Models {
        const all = () => true;
        const labelArgs = (labels: { label: string; value: string }[] = []) => labels.flatMap((l) => ["--label", `${l.label}=${l.value}`]);
        const command: ResourceModel = {
            diff: diffBy((k) => k === "triggers"),
            computed: ["stdout", "stderr"],
            create: (ctx, i) => this.command(ctx, "create", i, i.create),
            update: (ctx, _old, i) => this.command(ctx, "update", i, i.update ?? i.create),
            delete: async (ctx, old) => {
                const i = unwrap(old.inputs);
                await this.command(ctx, "delete", i, i.delete);
            },
        };
        const network: ResourceModel = {
            diff: diffBy(all),
            computed: ["id"],
            create: async (ctx, i) => {
                const d = this.engine(ctx);
                await d.must(["network", "create", "--driver", i.driver ?? "bridge", ...labelArgs(i.labels), i.name]);
                this.o.dockerChanges.push(`create network ${i.name}`);
                return { ...i, id: await d.must(["network", "inspect", "-f", "{{.Id}}", i.name]) };
            },
            delete: async (ctx, old) => {
                const i = unwrap(old.inputs);
                const d = this.engine(ctx);
                // A network that no longer inspects counts as removed; "active endpoints" is retried for 30 s.
                if ((await d.docker(["network", "inspect", String(old.outputs.id ?? i.name)])).code === 0) {
                    await retryWhile(() => d.docker(["network", "rm", i.name]), /active endpoints/i, 30_000, `docker network rm ${i.name}`);
                }
                this.o.dockerChanges.push(`delete network ${i.name}`);
            },
            read: async (ctx, old) => {
                const prev = unwrap(old.outputs);
                // resourceDockerNetworkReadRefreshFunc: any inspect error is "removed".
                const r = await this.engine(ctx).docker(["network", "inspect", String(prev.id ?? unwrap(old.inputs).name)]);
                if (r.code !== 0) return undefined;
                const n = JSON.parse(r.stdout)[0];
                return bridgeRead(old, { ...prev, name: n.Name, driver: n.Driver, labels: labelSet(n.Labels, prev.labels) });
            },
            bridged: true,
        };
        const volume: ResourceModel = {
            diff: diffBy(all),
            create: async (ctx, i) => {
                // Docker returns the existing volume for an existing name (the provider's ID is the name).
                await this.engine(ctx).must(["volume", "create", ...labelArgs(i.labels), i.name]);
                this.o.dockerChanges.push(`create volume ${i.name}`);
                return { ...i };
            },
            delete: async (ctx, old) => {
                const i = unwrap(old.inputs);
                // VolumeRemove(force) retried while "in use", 30 s (resource_docker_volume.go 362-445).
                await retryWhile(() => this.engine(ctx).docker(["volume", "rm", "-f", i.name]), /in use/i, 30_000, `docker volume rm ${i.name}`);
                this.o.dockerChanges.push(`delete volume ${i.name}`);
            },
            read: async (ctx, old) => {
                const prev = unwrap(old.outputs);
                const v = await this.engine(ctx).inspect("volume", String(prev.name), /no such volume|not found/i);
                if (v === undefined) return undefined;
                return bridgeRead(old, { ...prev, name: v.Name, driver: v.Driver, labels: labelSet(v.Labels, prev.labels) });
            },
            bridged: true,
        };
        const image: ResourceModel = {
            diff: diffBy((k) => ["name", "triggers", "pullTriggers", "platform", "build"].includes(k)),
            computed: ["imageId", "repoDigest"],
            create: async (ctx, i) => {
                const d = this.engine(ctx);
                let id = await d.docker(["image", "inspect", "-f", "{{.Id}}", i.name]);
                if (id.code !== 0) {
                    await d.must(["pull", i.name]);
                    id = await d.docker(["image", "inspect", "-f", "{{.Id}}", i.name]);
                }
                return { ...i, imageId: id.stdout.trim(), repoDigest: "" };
            },
            update: async (_ctx, old, i) => ({ ...unwrap(old.outputs), ...i }),
            delete: async (ctx, old) => {
                const i = unwrap(old.inputs);
                if (!i.keepLocally) await this.engine(ctx).docker(["rmi", i.name]);
            },
            read: async (ctx, old) => {
                const prev = unwrap(old.outputs);
                const im = await this.engine(ctx).inspect("image", String(prev.name), /no such image|not found/i);
                if (im === undefined) return undefined;
                return bridgeRead(old, { ...prev, imageId: im.Id, repoDigest: repoDigestOf(String(prev.name), im.RepoDigests ?? []) });
            },
            bridged: true,
        };
        const container: ResourceModel = {
            diff: diffBy((k) => !CONTAINER_IN_PLACE.has(k)),
            computed: ["id"],
            create: (ctx, i) => this.createContainer(ctx, i),
            update: async (ctx, old, i) => {
                const prev = unwrap(old.inputs);
                const d = this.engine(ctx);
                // resourceDockerContainerUpdate: must_run false→true starts it; restart policy and
                // limits go in one ContainerUpdate; every other in-place field is only recorded.
                if (!prev.mustRun && i.mustRun && i.start !== false) await d.must(["start", i.name]);
                if (CONTAINER_APPLIED.some((k) => JSON.stringify(prev[k]) !== JSON.stringify(i[k]))) {
                    const args = ["update"];
                    if (i.restart) args.push("--restart", i.restart === "on-failure" && i.maxRetryCount ? `on-failure:${i.maxRetryCount}` : i.restart);
                    if (i.cpuShares) args.push("--cpu-shares", String(i.cpuShares));
                    if (i.memory) args.push("--memory", `${i.memory}m`);
                    if (i.memoryReservation) args.push("--memory-reservation", `${i.memoryReservation}m`);
                    if (i.memorySwap) args.push("--memory-swap", `${i.memorySwap}m`);
                    if (i.cpuSet) args.push("--cpuset-cpus", i.cpuSet);
                    await d.must([...args, i.name]);
                }
                this.o.dockerChanges.push(`update container ${i.name}`);
                return { ...unwrap(old.outputs), ...i };
            },
            delete: async (ctx, old) => {
                const i = unwrap(old.inputs);
                const r = await this.engine(ctx).docker(["rm", "-f", ...(i.removeVolumes === false ? [] : ["-v"]), i.name]);
                // "No such container" counts as deleted (resourceDockerContainerDelete).
                if (r.code !== 0 && !/No such container/i.test(r.stderr)) throw new Error(`docker rm ${i.name} failed: ${r.stderr.trim()}`);
                this.o.dockerChanges.push(`delete container ${i.name}`);
            },
            read: async (ctx, old) => {
                const prev = unwrap(old.outputs);
                const id = String(prev.id ?? prev.name);
                const c = await this.engine(ctx).inspect("container", id, /no such (object|container)/i);
                if (c === undefined) return undefined;
                return bridgeRead(old, containerState(prev, c));
            },
            bridged: true,
        };
        const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const password: ResourceModel = {
            diff: diffBy(all),
            computed: ["result"],
            secretOutputs: ["result"],
            create: async (_ctx, i) => ({ ...i, result: [...crypto.randomBytes(i.length)].map((b) => alnum[b % alnum.length]).join("") }),
            bridged: true,
        };
        const dnsRecord: ResourceModel = {
            diff: diffBy((k) => k === "zoneId"),
            create: async (_ctx, i) => {
                await this.testDns().add(i);
                return { ...i };
            },
            update: async (_ctx, old, i) => {
                const prev = unwrap(old.inputs);
                // PATCH of the record: its address moves; proxied/ttl/comment leave the DNS answer as it is.
                if (prev.name !== i.name || prev.type !== i.type || prev.content !== i.content) {
                    await this.testDns().remove(prev);
                    await this.testDns().add(i);
                }
                return { ...i };
            },
            delete: async (_ctx, old) => {
                await this.testDns().remove(unwrap(old.inputs));
            },
            read: async (_ctx, old) => {
                const prev = unwrap(old.outputs);
                const now = await this.testDns().addresses(prev.type, prev.name);
                return now.includes(canonicalAddress(prev.content)) ? { outputs: prev, inputs: unwrap(old.inputs) } : undefined;
            },
            bridged: true,
        };
        const provider: ResourceModel = {
            diff: diffBy(() => false),
            diffConfigReplaces: () => false,
            create: async (_ctx, i) => ({ ...i }),
            update: async (_ctx, _old, i) => ({ ...i }),
        };
        return {
            "command:remote:Command": command,
            "docker:index/network:Network": network,
            "docker:index/volume:Volume": volume,
            "docker:index/remoteImage:RemoteImage": image,
            "docker:index/container:Container": container,
            "random:index/randomPassword:RandomPassword": password,
            "cloudflare:index/dnsRecord:DnsRecord": dnsRecord,
            "pulumi:providers:docker": provider,
        };
    }

    private async createContainer(ctx: ProviderContext, i: any): Promise<Record<string, any>> {
        const d = this.engine(ctx);
        const labelArgs = (labels: { label: string; value: string }[] = []) => labels.flatMap((l) => ["--label", `${l.label}=${l.value}`]);
        const args = ["create", "--name", i.name];
        if (i.restart) args.push("--restart", i.restart);
        for (const e of i.envs ?? []) args.push("-e", e);
        for (const p of i.ports ?? []) args.push("-p", `${p.ip ? `${p.ip}:` : ""}${p.external}:${p.internal}/${p.protocol ?? "tcp"}`);
        for (const v of i.volumes ?? []) args.push("-v", `${v.volumeName}:${v.containerPath}`);
        const [firstNet, ...moreNets] = i.networksAdvanced ?? [];
        if (firstNet) {
            args.push("--network", firstNet.name);
            for (const a of firstNet.aliases ?? []) args.push("--network-alias", a);
        }
        if (i.healthcheck) {
            const [kind, ...rest] = i.healthcheck.tests;
            if (kind !== "CMD-SHELL") throw new Error("applier: only CMD-SHELL health checks are modelled");
            args.push("--health-cmd", rest.join(" "), "--health-interval", i.healthcheck.interval, "--health-timeout", i.healthcheck.timeout, "--health-retries", String(i.healthcheck.retries), "--health-start-period", i.healthcheck.startPeriod);
        }
        args.push(...labelArgs(i.labels));
        if (i.logDriver) args.push("--log-driver", i.logDriver);
        for (const [k, v] of Object.entries<string>(i.logOpts ?? {})) args.push("--log-opt", `${k}=${v}`);
        args.push(i.image, ...(i.command ?? []));
        // No removal of a leftover container first: the provider's create fails on the name conflict.
        const id = await d.must(args);
        for (const n of moreNets) await d.must(["network", "connect", ...(n.aliases ?? []).flatMap((a: string) => ["--alias", a]), n.name, i.name]);
        for (const u of i.uploads ?? []) {
            await d.must(["cp", "-", `${i.name}:/`], tarOneFile(u.file, Buffer.from(u.content ?? "", "utf8"), u.executable ? 0o755 : 0o644));
        }
        await d.must(["start", i.name]);
        this.o.dockerChanges.push(`create container ${i.name}`);
        const outputs = { ...i, id };
        if (i.wait) {
            // Create 584-628: poll every second until Health.Status is "healthy" ("unhealthy" does not
            // end the wait); no health check at all is an immediate error; the container stays.
            const deadline = Date.now() + 1000 * (i.waitTimeout ?? 60);
            for (;;) {
                const s = await d.must(["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}", i.name]);
                if (s === "healthy") break;
                if (s === "no-healthcheck") throw new PartialFailure(`container ${i.name} failed to be in healthy state: it has no health check`, outputs);
                if (Date.now() > deadline) {
                    const logs = await d.docker(["logs", "--tail", "30", i.name]);
                    // The container exists: a partial create (the bridge returns its state with the error).
                    throw new PartialFailure(`container ${i.name} did not become healthy within ${i.waitTimeout ?? 60}s (${s}):\n${logs.stdout}${logs.stderr}`, outputs);
                }
                await new Promise((r) => setTimeout(r, 1000));
            }
        }
        return outputs;
    }

    private dnsModel?: TestDns;

    private testDns(): TestDns {
        if (!this.o.dnsApi) throw new Error("applier: a DNS record was registered but no test DNS API is configured");
        this.dnsModel ??= new TestDns(this.o.dnsApi);
        return this.dnsModel;
    }
}

/**
 * Where pebble-challtestsrv answers DNS queries for the records written to
 * its management API `dnsApi`: test/e2e/host/acme.sh starts it on the same
 * address, two ports below (DNS_PORT = DNS_API_PORT - 2 in every services
 * set; `acme.sh info` prints it as dnsServer).
 */
export function testDnsServer(dnsApi: string): string {
    const u = new URL(dnsApi);
    return `${u.hostname}:${Number(u.port) - 2}`;
}

/** A DNS record as the DnsRecord model sees it (its inputs). */
export interface DnsRecordInputs {
    name: string;
    type: string;
    content: string;
}

/**
 * Cloudflare's per-record semantics on pebble-challtestsrv, whose
 * management API only appends addresses to a name (add-a/add-aaaa) or
 * removes all of them (clear-a/clear-aaaa). Removing one record reads the
 * name's addresses from the test DNS server (what every earlier operation,
 * of this stack or another, left there), clears the name and adds back all
 * but one occurrence of the record's address. Operations are serialized
 * (one applier process runs one at a time), so a create between the read
 * and the write cannot be lost.
 */
export class TestDns {
    private queue: Promise<unknown> = Promise.resolve();
    private resolver: dns.promises.Resolver;

    constructor(readonly api: string, server = testDnsServer(api)) {
        this.resolver = new dns.promises.Resolver({ timeout: 2000, tries: 3 });
        this.resolver.setServers([server]);
    }

    add(r: DnsRecordInputs): Promise<void> {
        return this.serial(() => this.post(`add-${kind(r)}`, { host: `${r.name}.`, addresses: [r.content] }));
    }

    remove(r: DnsRecordInputs): Promise<void> {
        return this.serial(async () => {
            const now = await this.addresses(r.type, r.name);
            const i = now.indexOf(canonicalAddress(r.content));
            if (i < 0) return; // already gone (Cloudflare: a 404 on delete is a deleted record)
            now.splice(i, 1);
            await this.post(`clear-${kind(r)}`, { host: `${r.name}.` });
            if (now.length) await this.post(`add-${kind(r)}`, { host: `${r.name}.`, addresses: now });
        });
    }

    /** The name's addresses of that type as the test DNS answers them now (canonical form, duplicates kept). */
    async addresses(type: string, name: string): Promise<string[]> {
        try {
            const a = type === "AAAA" ? await this.resolver.resolve6(name) : await this.resolver.resolve4(name);
            return a.map(canonicalAddress);
        } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === dns.NODATA || code === dns.NOTFOUND) return [];
            throw new Error(`test DNS: looking up ${type} ${name}: ${(e as Error).message}`);
        }
    }

    private serial<T>(f: () => Promise<T>): Promise<T> {
        const next = this.queue.then(f, f);
        this.queue = next.catch(() => undefined);
        return next;
    }

    private async post(endpoint: string, body: unknown): Promise<void> {
        const r = await fetch(`${this.api}/${endpoint}`, { method: "POST", body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`challtestsrv ${endpoint}: HTTP ${r.status}`);
    }
}

function kind(r: { type: string }): "a" | "aaaa" {
    return r.type === "AAAA" ? "aaaa" : "a";
}

/** One spelling per address (IPv6 compressed and lower case, as the resolver returns it). */
function canonicalAddress(a: string): string {
    return net.isIPv6(a) ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
}

export type { StoredResource };

/** A bridged provider's Read result: the TF state as outputs, the inputs extracted from it (engine.ts bridgeRefreshInputs). */
function bridgeRead(old: StoredResource, state: Record<string, any>): ReadResult {
    return { outputs: state, inputs: bridgeRefreshInputs(unwrap(old.inputs), state) };
}

/** mapToLabelSet: a TypeSet, so the old order is kept when the set is the same. */
function labelSet(labels: Record<string, string> | null | undefined, prev: { label: string; value: string }[] | undefined): { label: string; value: string }[] {
    const now = Object.entries(labels ?? {}).map(([label, value]) => ({ label, value })).sort((a, b) => a.label.localeCompare(b.label));
    const key = (l: { label: string; value: string }[]) => JSON.stringify([...l].map((x) => [x.label, x.value]).sort());
    return prev && key(prev) === key(now) ? prev : now;
}

/** data_source_docker_image.go determineRepoDigest. */
export function repoDigestOf(name: string, digests: string[]): string {
    if (digests.length === 0) return "";
    if (digests.length === 1) return digests[0];
    const colon = name.indexOf(":");
    const bare = colon >= 0 ? name.slice(0, colon) : name;
    return digests.find((d) => d.startsWith(bare)) ?? "";
}

/** Go's time.Duration.String() of nanoseconds (what the provider writes for a health check's durations). */
export function goDuration(ns: number): string {
    if (ns === 0) return "0s";
    const neg = ns < 0 ? "-" : "";
    let n = Math.abs(ns);
    const frac = (v: number, unit: number) => {
        const whole = Math.floor(v / unit);
        const rest = String(v % unit).padStart(String(unit).length - 1, "0").replace(/0+$/, "");
        return rest ? `${whole}.${rest}` : String(whole);
    };
    if (n < 1e3) return `${neg}${n}ns`;
    if (n < 1e6) return `${neg}${frac(n, 1e3)}µs`;
    if (n < 1e9) return `${neg}${frac(n, 1e6)}ms`;
    let out = "";
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    if (h) out += `${h}h`;
    if (h || m) out += `${m}m`;
    return `${neg}${out}${frac(n, 1e9)}s`;
}

/** flattenContainerPorts: every binding of every published port, sorted by port and protocol. */
function flattenPorts(ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null | undefined): { internal: number; external: number; ip: string; protocol: string }[] {
    const keys = Object.keys(ports ?? {}).sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b));
    return keys.flatMap((k) => {
        const [internal, protocol] = k.split("/");
        return (ports![k] ?? []).map((b) => ({ internal: Number(internal), external: Number(b.HostPort), ip: b.HostIp, protocol }));
    });
}

/**
 * resourceDockerContainerRead on `docker container inspect` output (`prev`:
 * the state before). Exported for test/unit/engine.test.ts.
 */
export function containerState(prev: Record<string, any>, c: any): Record<string, any> {
    const st: Record<string, any> = { ...prev };
    const mustRun = prev.mustRun ?? true; // schema Default: true
    const running = !!c.State?.Running;
    // Ports only when running or must_run (the must_run of the state, read before it is changed below).
    if ((running || mustRun) && Array.isArray(prev.ports) && prev.ports.length) st.ports = flattenPorts(c.NetworkSettings?.Ports);
    if (!running) {
        st.exitCode = c.State?.ExitCode ?? 0;
        if (mustRun) st.mustRun = false;
    }
    st.id = c.Id;
    st.name = String(c.Name ?? "").replace(/^\/+/, "");
    st.image = String(prev.image ?? "").startsWith("sha256:") ? c.Image : c.Config?.Image;
    if (c.Config?.Cmd) st.command = c.Config.Cmd;
    const hc = c.HostConfig ?? {};
    st.restart = hc.RestartPolicy?.Name ?? "";
    st.maxRetryCount = hc.RestartPolicy?.MaximumRetryCount ?? 0;
    const mib = 1024 * 1024;
    st.memory = Math.floor((hc.Memory ?? 0) / mib);
    st.memoryReservation = hc.MemoryReservation > 0 ? Math.floor(hc.MemoryReservation / mib) : hc.MemoryReservation ?? 0;
    st.memorySwap = hc.MemorySwap > 0 ? Math.floor(hc.MemorySwap / mib) : hc.MemorySwap ?? 0;
    st.cpuShares = hc.CpuShares ?? 0;
    st.cpuSet = hc.CpusetCpus ?? "";
    st.logDriver = hc.LogConfig?.Type ?? "";
    if (prev.logOpts && Object.keys(prev.logOpts).length) st.logOpts = hc.LogConfig?.Config ?? {};
    const h = c.Config?.Healthcheck;
    if (h) {
        st.healthcheck = {
            tests: h.Test ?? [],
            interval: goDuration(h.Interval ?? 0),
            timeout: goDuration(h.Timeout ?? 0),
            startPeriod: goDuration(h.StartPeriod ?? 0),
            startInterval: goDuration(h.StartInterval ?? 0),
            retries: h.Retries ?? 0,
        };
    }
    return st;
}

async function retryWhile(f: () => Promise<ProcResult>, pending: RegExp, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
        const r = await f();
        if (r.code === 0) return;
        if (!pending.test(r.stderr) || Date.now() > deadline) throw new Error(`${what} failed: ${r.stderr.trim()}`);
        await new Promise((res) => setTimeout(res, 2000));
    }
}

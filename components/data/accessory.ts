/**
 * Accessory: one `berth:accessories` entry, a container service on the data
 * host's Docker engine (the engine, network and lifecycle rules of
 * DataServices), published on the data address (loopback, or the data host's
 * private address behind components/data/dataFirewall.ts) on its named port
 * slot (lib/ports.ts), never on a public address.
 *
 * Postgres and Redis are the first two entries of the same mechanism: a
 * `ServiceSpec` (pure data, built by `postgresSpec`/`redisSpec` in
 * dataServices.ts and `accessorySpec` here) turned into Docker resources by
 * the one function `serviceResources`. DataServices calls it for Postgres and
 * Redis with today's resource names (their URNs are an API); an Accessory
 * calls it for its entry under its own name.
 *
 * - image: pulled by reference (`image`), or built on the host
 *   (`build: {from, debianPackages, command}`): a generated Dockerfile, FROM
 *   a Debian image already on the host (or pullable there), tagged
 *   `berth-<id>-<name>:<digest of the Dockerfile>` (lib/names.ts
 *   accessoryNames), so the tag, and with it the container, changes exactly
 *   when the Dockerfile does. The container runs `command` with /bin/sh -c.
 * - env: plain `env`; `secretEnv` (values from berth:secretEnv) and the
 *   generated password (`password.env`) go to Docker's API as one secret
 *   input, never on a command line or in a script.
 * - health: `health` is a Docker health check the container create waits
 *   for (`wait`); without it, a probe on the host waits until the service
 *   accepts TCP connections on the container's own address (the published
 *   port answers as soon as Docker's proxy listens, so it proves nothing).
 *   The app's env file waits for either (components/environment.ts), and
 *   with it the release and the switch.
 * - volumes: Docker volumes `<app>-<stack>-<volume>`, labelled `berth.data`;
 *   protected and retained on production like Postgres's. Not backed up.
 * - url: `<scheme>://[<user>]:<password>@<address>:<port><path>` (secret
 *   when it carries the password), given to the app under `urlEnv`.
 */
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import * as command from "@pulumi/command";
import type { AccessoryConfig, BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { accessoryNames } from "../../lib/names";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { cmd, quote, script } from "../../lib/shell";

/** What the builders read of the configuration: the stack, the data host, the secret values accessories name. */
export const ACCESSORY_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "secretEnv"] as const;
export type AccessoryScope = Pick<BerthConfig, (typeof ACCESSORY_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface AccessoryArgs extends AccessoryScope {
    /** The entry (lib/config.ts `cfg.accessories[name]`; `hostPort` is its port slot). */
    accessory: AccessoryConfig;
    /** Address it is published on and the app connects to (lib/plan.ts: loopback, or the data host's private address). */
    address: string;
    /** This host's SSH connection (its Host's `connection`): the build and the probe run there. */
    connection: pulumi.Input<Connection>;
    /** The data host's Docker engine and network (DataServices `provider`, `network`). */
    provider: docker.Provider;
    network: docker.Network;
    /** What must be up first (Docker installed, the data firewall). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Accessory extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The local build (with `build`). */
    public readonly build?: command.remote.Command;
    /** Waits until the service accepts connections (without `health`; with it the container create waits). */
    public readonly probe?: command.remote.Command;
    /** The environment variable the app reads the URL from. */
    public readonly urlEnv: string;
    /** The URL the app is given (secret when it carries the generated password). */
    public readonly url: pulumi.Output<string>;
    /** Ready when this is: the probe, else the (health-waited) container. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: AccessoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:Accessory", name, {}, opts);
        const cfg: AccessoryScope = args;
        const a = args.accessory;
        const spec = accessorySpec(cfg, a, args.address, name);
        const sudo = cfg.host.sudo;
        if (spec.image.kind === "build") {
            this.build = remoteScript(
                `${name}-build`,
                {
                    connection: args.connection,
                    sudo,
                    create: buildScript(spec.image.tag, spec.image.dockerfile),
                    delete: buildDeleteScript(spec.image.repository),
                    lifecycle: lifecycle(cfg, "command"),
                },
                { parent: this, dependsOn: args.dependsOn },
            );
        }
        const made = serviceResources(cfg, spec, {
            parent: this,
            provider: args.provider,
            network: args.network,
            dependsOn: [...(this.build ? [this.build] : [])],
        });
        this.container = made.container;
        if (spec.health === undefined) {
            this.probe = remoteScript(
                `${name}-probe`,
                {
                    connection: args.connection,
                    sudo,
                    create: probeScript(spec.container, a.port, a.name),
                    lifecycle: lifecycle(cfg, "command"),
                    triggers: [this.container.id],
                },
                { parent: this, dependsOn: [this.container] },
            );
        }
        this.ready = [this.probe ?? this.container];
        this.urlEnv = a.urlEnv;
        const url = (password?: string) => accessoryUrl(a, args.address, password);
        this.url = made.password ? pulumi.secret(made.password.result.apply(url)) : pulumi.output(url());
        this.registerOutputs({ container: this.container.name, url: this.url });
    }
}

/** The accessories' URLs by their `urlEnv` (secret when any carries a password). */
export function accessoryEnv(accessories: readonly Accessory[]): pulumi.Output<Record<string, string>> {
    return pulumi.all(Object.fromEntries(accessories.map((a) => [a.urlEnv, a.url]))) as pulumi.Output<Record<string, string>>;
}

/** A label of a container, volume or network. */
export interface Label {
    readonly label: string;
    readonly value: string;
}

/**
 * One container service as data: what `serviceResources` makes of it. The
 * resource names are part of the spec because they are URNs (Postgres's and
 * Redis's are today's).
 */
export interface ServiceSpec {
    /** Pulumi resource names. */
    readonly resources: { readonly container: string; readonly image: string; readonly password?: string };
    /** The Docker container's name. */
    readonly container: string;
    readonly labels: readonly Label[];
    /** Pulled (`ref`) or built on the host (the tag the build makes, the Dockerfile it builds). */
    readonly image: { readonly kind: "pull"; readonly ref: string } | { readonly kind: "build"; readonly repository: string; readonly tag: string; readonly dockerfile: string };
    readonly command?: readonly string[];
    /** `KEY=value` lines that are not secret. */
    readonly env: readonly string[];
    /** `KEY=value` lines from berth:secretEnv (secret). */
    readonly secretEnv: readonly string[];
    /**
     * A generated password: its RandomPassword's keepers; where the container
     * gets it: an environment variable (`env`), and/or a file uploaded with
     * `before + password + after` as content.
     */
    readonly password?: {
        readonly keepers?: Readonly<Record<string, string>>;
        readonly env?: string;
        readonly upload?: { readonly file: string; readonly before: string; readonly after: string };
    };
    readonly port: { readonly internal: number; readonly external: number; readonly ip: string };
    /** Its name on the stack's Docker network. */
    readonly networkAlias: string;
    /** Docker volumes: resource name, Docker name, path in the container, labels. */
    readonly volumes: readonly { readonly resource: string; readonly name: string; readonly path: string; readonly labels: readonly Label[] }[];
    readonly health?: { readonly tests: readonly string[]; readonly startPeriod: string };
}

/** What `serviceResources` made. */
export interface ServiceResources {
    readonly container: docker.Container;
    readonly image: docker.RemoteImage;
    readonly volumes: docker.Volume[];
    readonly password?: random.RandomPassword;
}

/**
 * The one code path from a `ServiceSpec` to Docker resources on the data
 * host's engine: the password, the volumes (fixed names: labels never
 * replace them), the image and the container (replaced delete-first: its
 * name and port are fixed), with lib/lifecycle.ts's rules.
 */
export function serviceResources(
    cfg: Pick<BerthConfig, "production" | "protect">,
    spec: ServiceSpec,
    on: { parent: pulumi.Resource; provider: docker.Provider; network: docker.Network; dependsOn?: pulumi.Resource[] },
): ServiceResources {
    const onEngine = { parent: on.parent, provider: on.provider };
    const p = spec.password;
    const password =
        p && spec.resources.password
            ? new random.RandomPassword(
                  spec.resources.password,
                  { length: 40, special: false, ...(p.keepers ? { keepers: { ...p.keepers } } : {}) },
                  { parent: on.parent, ...lifecycle(cfg, "password") },
              )
            : undefined;
    const volumes = spec.volumes.map(
        (v) => new docker.Volume(v.resource, { name: v.name, labels: [...v.labels] }, { ...onEngine, ignoreChanges: ["labels"], ...lifecycle(cfg, "volume") }),
    );
    const ref = spec.image.kind === "pull" ? spec.image.ref : spec.image.tag;
    const image = new docker.RemoteImage(spec.resources.image, { name: ref, keepLocally: true }, { ...onEngine, ...(on.dependsOn?.length ? { dependsOn: on.dependsOn } : {}) });
    const secretEnv = password && p?.env ? password.result.apply((pw) => [...spec.secretEnv, `${p.env}=${pw}`]) : spec.secretEnv.length > 0 ? pulumi.output([...spec.secretEnv]) : undefined;
    const envs = secretEnv ? pulumi.secret(secretEnv.apply((s) => [...spec.env, ...s])) : spec.env.length > 0 ? [...spec.env] : undefined;
    const upload = password && p?.upload;
    const container = new docker.Container(
        spec.resources.container,
        {
            restart: "unless-stopped",
            // The provider's wait is for a health check: on a container without one it fails the create
            // ("failed to be in healthy state: it has no health check"); such an accessory has its probe instead.
            ...(spec.health ? { wait: true, waitTimeout: 180 } : {}),
            logDriver: "json-file",
            logOpts: { "max-size": "10m", "max-file": "3" },
            mustRun: true,
            name: spec.container,
            image: image.imageId,
            ...(spec.command ? { command: [...spec.command] } : {}),
            ...(envs ? { envs } : {}),
            ...(upload ? { uploads: [{ file: upload.file, content: pulumi.secret(pulumi.interpolate`${upload.before}${password!.result}${upload.after}`) }] } : {}),
            ports: [{ internal: spec.port.internal, external: spec.port.external, ip: spec.port.ip, protocol: "tcp" }],
            networksAdvanced: [{ name: on.network.name, aliases: [spec.networkAlias] }],
            volumes: spec.volumes.map((v, i) => ({ volumeName: volumes[i].name, containerPath: v.path })),
            ...(spec.health
                ? { healthcheck: { tests: [...spec.health.tests], interval: "5s", timeout: "5s", startPeriod: spec.health.startPeriod, retries: 12 } }
                : {}),
            labels: [...spec.labels],
        },
        { ...onEngine, deleteBeforeReplace: true, ...lifecycle(cfg, "container") },
    );
    return { container, image, volumes, password };
}

// ---------------------------------------------------------------------------
// Pure builders
// ---------------------------------------------------------------------------

/** Labels of everything berth runs on a stack's Docker engine. */
export function labels(cfg: Pick<BerthConfig, "app" | "stack" | "production" | "project">, role: string): Label[] {
    return [
        { label: "berth.app", value: cfg.app },
        { label: "berth.stack", value: cfg.stack },
        { label: "berth.role", value: role },
        { label: "berth.production", value: String(cfg.production) },
        { label: "berth.managed-by", value: `berth/${cfg.project}` },
    ];
}

/** The data label volumes carry (what backups and `docker volume ls` look for). */
export const DATA_LABEL: Label = { label: "berth.data", value: "true" };

/** An accessory entry as a `ServiceSpec`; `name` is its component's name (its children are `<name>-container`, ...). */
export function accessorySpec(cfg: Pick<AccessoryScope, "project" | "stack" | "production" | "names" | "app" | "secretEnv">, a: AccessoryConfig, address: string, name: string): ServiceSpec {
    const n = accessoryNames(cfg.names, a.name);
    const dockerfile = a.build ? accessoryDockerfile(cfg, a) : undefined;
    const lbl = [...labels(cfg, "accessory"), { label: "berth.accessory", value: a.name }];
    return {
        resources: { container: `${name}-container`, image: `${name}-image`, password: a.password ? `${name}-password` : undefined },
        container: n.container,
        labels: lbl,
        image: dockerfile === undefined ? { kind: "pull", ref: a.image! } : { kind: "build", repository: n.image, tag: `${n.image}:${imageDigest(dockerfile)}`, dockerfile },
        command: a.command === undefined ? undefined : ["/bin/sh", "-c", a.command],
        env: Object.entries(a.env).map(([k, v]) => `${k}=${v}`),
        secretEnv: a.secretEnv.map((k) => `${k}=${cfg.secretEnv[k]}`),
        password: a.password && { keepers: { rotation: a.password.rotation }, env: a.password.env },
        port: { internal: a.port, external: a.hostPort, ip: address },
        networkAlias: a.name,
        volumes: Object.entries(a.volumes).map(([v, path]) => ({ resource: `${name}-volume-${v}`, name: n.volume(v), path, labels: [...lbl, DATA_LABEL] })),
        health: a.health === undefined ? undefined : { tests: ["CMD-SHELL", a.health], startPeriod: "10s" },
    };
}

/** The URL the app is given: `<scheme>://[[user]:password@]address:port[path]`. */
export function accessoryUrl(a: Pick<AccessoryConfig, "urlScheme" | "urlPath" | "hostPort" | "password">, address: string, password?: string): string {
    const auth = a.password && password !== undefined ? `${encodeURIComponent(a.password.user ?? "")}:${encodeURIComponent(password)}@` : "";
    const host = address.includes(":") ? `[${address}]` : address;
    return `${a.urlScheme}://${auth}${host}:${a.hostPort}${a.urlPath ?? ""}`;
}

/** The base image of a build when `build.from` is not set. */
export const DEFAULT_BUILD_BASE = "debian:trixie-slim";

/**
 * The Dockerfile of a built accessory: Debian's packages (no
 * recommends, apt lists removed) on `build.from`, then `build.command` as a
 * RUN line. No build context (`docker build -`): nothing is copied in.
 */
export function accessoryDockerfile(cfg: Pick<BerthConfig, "project" | "stack">, a: AccessoryConfig): string {
    const b = a.build!;
    return [
        managedBy(cfg),
        `# Accessory ${a.name}: built on the host from Debian packages.`,
        `FROM ${b.from ?? DEFAULT_BUILD_BASE}`,
        "ARG DEBIAN_FRONTEND=noninteractive",
        `RUN apt-get update -q && apt-get install -y -q --no-install-recommends ${b.debianPackages.join(" ")} && apt-get clean && rm -rf /var/lib/apt/lists/*`,
        b.command !== undefined ? `RUN ${b.command}` : undefined,
        "",
    ]
        .filter((l) => l !== undefined)
        .join("\n");
}

/** The tag of a build: the first 16 hex digits of the Dockerfile's sha256. */
export function imageDigest(dockerfile: string): string {
    return crypto.createHash("sha256").update(dockerfile, "utf8").digest("hex").slice(0, 16);
}

const DOCKERFILE_MARKER = "BERTH_DOCKERFILE";

/**
 * Builds `tag` from `dockerfile` unless the host has it (the tag is the
 * Dockerfile's digest, so an existing tag is this very build), then removes
 * the repository's other tags no container uses (`docker image rm` refuses
 * an image in use). Docker's build output goes to stderr; stdout says
 * `built <tag>` or `unchanged <tag>`.
 */
export function buildScript(tag: string, dockerfile: string): string {
    if (dockerfile.split("\n").includes(DOCKERFILE_MARKER)) throw new Error(`berth: a Dockerfile line is ${DOCKERFILE_MARKER}`);
    const repository = tag.slice(0, tag.lastIndexOf(":"));
    return script(
        `tag=${quote(tag)}`,
        'if docker image inspect "$tag" >/dev/null 2>&1; then',
        '    echo "unchanged $tag"',
        "else",
        `    docker build --tag "$tag" - >&2 <<'${DOCKERFILE_MARKER}'`,
        dockerfile.trimEnd(),
        DOCKERFILE_MARKER,
        '    echo "built $tag"',
        "fi",
        `docker image ls --format '{{.Repository}}:{{.Tag}}' ${quote(repository)} | while read -r old; do`,
        '    if [ "$old" != "$tag" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi',
        "done",
    );
}

/** Removes the accessory's built images (its container is gone first: it depends on the build). */
export function buildDeleteScript(repository: string): string {
    return script(
        `docker image ls --format '{{.Repository}}:{{.Tag}}' ${quote(repository)} | while read -r old; do`,
        '    docker image rm "$old" >/dev/null 2>&1 || true',
        "done",
    );
}

/** Seconds the probe waits for the service to accept connections. */
export const PROBE_SECONDS = 120;

/**
 * Waits until something in the container accepts TCP connections on
 * `port` at the container's own address (bash's /dev/tcp from the host; the
 * published port would answer as soon as Docker's proxy listens).
 */
export function probeScript(container: string, port: number, accessory: string): string {
    return script(
        `container=${quote(container)}`,
        `port=${port}`,
        `for _ in $(seq 1 ${PROBE_SECONDS}); do`,
        `    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$container" 2>/dev/null | awk '{print $1}')"`,
        "    # shellcheck disable=SC2016 # $1 and $2 are the inner bash's arguments",
        `    if [ -n "$ip" ] && timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$port" 2>/dev/null; then echo "ready $container:$port"; exit 0; fi`,
        "    sleep 1",
        "done",
        `echo ${quote(`berth: accessory ${accessory}: nothing accepts connections on port ${port} in container ${container} after ${PROBE_SECONDS}s`)} >&2`,
        cmd("docker", "logs", "--tail", "20", container) + " >&2 || true",
        "exit 1",
    );
}

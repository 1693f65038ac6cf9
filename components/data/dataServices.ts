/**
 * DataServices: Postgres and Redis as Docker containers on the host's engine,
 * driven by @pulumi/docker over SSH with the host key pinned. Ports are
 * published only on 127.0.0.1 (Docker's published ports bypass ufw) — on a
 * multi-host stack only on the data host's private address, guarded by
 * components/data/dataFirewall.ts (lib/topology.ts dataAddress) — data
 * lives in named volumes. What destroy/replace may do to each resource comes
 * from lib/lifecycle.ts (production: volumes `protect` + `retainOnDelete`,
 * containers and network `protect` while `berth:protect`, passwords retained).
 *
 * Volume and network have fixed names (the volume's ID is its name) and the
 * Docker provider replaces them when their labels change; a replacement would
 * create "the new one" under the same name and then delete the old one, i.e.
 * `docker volume rm` the live volume. Their labels are therefore
 * `ignoreChanges`: set at creation, never a reason to replace (a flipped
 * `berth.production` label on an existing volume stays as created).
 */
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { dockerSshOpts, knownHostsPattern } from "../../lib/names";
import { managedBy } from "../../lib/remote";

export { dockerSshOpts, knownHostsPattern };

/** What the builders read of the configuration: the stack, the data host, the Postgres and Redis settings. */
export const DATA_SERVICES_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "postgres", "redis"] as const;
export type DataServicesScope = Pick<BerthConfig, (typeof DATA_SERVICES_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface DataServicesArgs extends DataServicesScope {
    /** Address the data services listen on and the app connects to (lib/plan.ts: loopback, or the data host's private address). */
    address: string;
    /** Resources that must be ready before the engine is used (Docker installed). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

/** Where the secrets are uploaded inside the containers (never env vars, never argv). */
export const POSTGRES_PASSWORD_FILE = "/etc/berth-postgres-password";
export const REDIS_CONF_FILE = "/etc/berth-redis.conf";

export class DataServices extends pulumi.ComponentResource {
    public readonly provider: docker.Provider;
    public readonly network: docker.Network;
    public readonly postgresVolume: docker.Volume;
    public readonly redisVolume: docker.Volume;
    public readonly postgres: docker.Container;
    public readonly redis: docker.Container;
    /** Superuser password of the Postgres container (secret). */
    public readonly postgresSuperPassword: pulumi.Output<string>;
    /** Redis `requirepass` (secret). */
    public readonly redisPassword: pulumi.Output<string>;
    /** redis://:password@<data address>:port/0 (secret). */
    public readonly redisUrl: pulumi.Output<string>;

    constructor(name: string, args: DataServicesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:DataServices", name, {}, opts);
        const cfg: DataServicesScope = args;
        const n = cfg.names;
        const child = { parent: this };

        this.provider = new docker.Provider(
            `${name}-engine`,
            { host: dockerHost(cfg), sshOpts: dockerSshOpts(cfg) },
            { parent: this, dependsOn: args.dependsOn },
        );
        const onEngine = { parent: this, provider: this.provider };
        const password = { ...child, ...lifecycle(cfg, "password") };
        // Fixed names: labels never replace them (see the header).
        const fixedName = { ignoreChanges: ["labels"] };

        const superPassword = new random.RandomPassword(`${name}-postgres-superuser`, { length: 40, special: false }, password);
        const redisPassword = new random.RandomPassword(
            `${name}-redis-password`,
            { length: 40, special: false, keepers: { rotation: cfg.redis.passwordRotation } },
            password,
        );
        this.postgresSuperPassword = superPassword.result;
        this.redisPassword = redisPassword.result;

        this.network = new docker.Network(`${name}-network`, { name: n.network, driver: "bridge", labels: labels(cfg, "network") }, { ...onEngine, ...fixedName, ...lifecycle(cfg, "network") });
        this.postgresVolume = new docker.Volume(
            `${name}-postgres-volume`,
            { name: n.postgresVolume, labels: [...labels(cfg, "database"), { label: "berth.data", value: "true" }] },
            { ...onEngine, ...fixedName, ...lifecycle(cfg, "volume") },
        );
        this.redisVolume = new docker.Volume(
            `${name}-redis-volume`,
            { name: n.redisVolume, labels: [...labels(cfg, "cache"), { label: "berth.data", value: "true" }] },
            { ...onEngine, ...fixedName, ...lifecycle(cfg, "volume") },
        );

        const postgresImage = new docker.RemoteImage(`${name}-postgres-image`, { name: cfg.postgres.image, keepLocally: true }, onEngine);
        const redisImage = new docker.RemoteImage(`${name}-redis-image`, { name: cfg.redis.image, keepLocally: true }, onEngine);
        const common = {
            restart: "unless-stopped",
            wait: true,
            waitTimeout: 180,
            logDriver: "json-file",
            logOpts: { "max-size": "10m", "max-file": "3" },
            mustRun: true,
        };

        this.postgres = new docker.Container(
            `${name}-postgres`,
            {
                ...common,
                name: n.postgresContainer,
                image: postgresImage.imageId,
                envs: postgresEnv(),
                uploads: [{ file: POSTGRES_PASSWORD_FILE, content: pulumi.secret(superPassword.result) }],
                ports: [{ internal: 5432, external: cfg.postgres.port, ip: args.address, protocol: "tcp" }],
                networksAdvanced: [{ name: this.network.name, aliases: ["postgres"] }],
                volumes: [{ volumeName: this.postgresVolume.name, containerPath: "/var/lib/postgresql/data" }],
                healthcheck: {
                    tests: ["CMD-SHELL", "pg_isready -q -U postgres -h 127.0.0.1 -p 5432"],
                    interval: "5s",
                    timeout: "5s",
                    startPeriod: "20s",
                    retries: 12,
                },
                labels: labels(cfg, "database"),
            },
            { ...onEngine, deleteBeforeReplace: true, ...lifecycle(cfg, "container") },
        );

        this.redis = new docker.Container(
            `${name}-redis`,
            {
                ...common,
                name: n.redisContainer,
                image: redisImage.imageId,
                command: ["redis-server", REDIS_CONF_FILE],
                uploads: [{ file: REDIS_CONF_FILE, content: pulumi.secret(pulumi.interpolate`${redisConf(cfg)}requirepass ${redisPassword.result}\n`) }],
                ports: [{ internal: 6379, external: cfg.redis.port, ip: args.address, protocol: "tcp" }],
                networksAdvanced: [{ name: this.network.name, aliases: ["redis"] }],
                volumes: [{ volumeName: this.redisVolume.name, containerPath: "/data" }],
                healthcheck: {
                    tests: ["CMD-SHELL", REDIS_HEALTHCHECK],
                    interval: "5s",
                    timeout: "5s",
                    startPeriod: "10s",
                    retries: 12,
                },
                labels: labels(cfg, "cache"),
            },
            { ...onEngine, deleteBeforeReplace: true, ...lifecycle(cfg, "container") },
        );

        this.redisUrl = pulumi.secret(pulumi.interpolate`redis://:${redisPassword.result}@${args.address}:${cfg.redis.port}/0`);

        this.registerOutputs({
            postgres: this.postgres.name,
            redis: this.redis.name,
            redisUrl: this.redisUrl,
        });
    }
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** `ssh://user@host:port` for the Docker provider. */
export function dockerHost(cfg: DataServicesScope): string {
    return `ssh://${cfg.host.sshUser}@${cfg.host.address}:${cfg.host.sshPort}`;
}

export function labels(cfg: DataServicesScope, role: string): { label: string; value: string }[] {
    return [
        { label: "berth.app", value: cfg.app },
        { label: "berth.stack", value: cfg.stack },
        { label: "berth.role", value: role },
        { label: "berth.production", value: String(cfg.production) },
        { label: "berth.managed-by", value: `berth/${cfg.project}` },
    ];
}

export function postgresEnv(): string[] {
    return [
        "POSTGRES_USER=postgres",
        `POSTGRES_PASSWORD_FILE=${POSTGRES_PASSWORD_FILE}`,
        "POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256",
        "PGDATA=/var/lib/postgresql/data/pgdata",
    ];
}

/** Redis configuration without the password line (added as a secret). */
export function redisConf(cfg: DataServicesScope): string {
    return [
        managedBy(cfg),
        "bind 0.0.0.0",
        "port 6379",
        "protected-mode no",
        "dir /data",
        "appendonly yes",
        "appendfsync everysec",
        "",
    ].join("\n");
}

/** Health check reading the password from the uploaded file (not argv). */
export const REDIS_HEALTHCHECK = `REDISCLI_AUTH="$(sed -n 's/^requirepass //p' ${REDIS_CONF_FILE})" redis-cli ping | grep -q PONG`;

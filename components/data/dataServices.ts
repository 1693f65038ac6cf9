/**
 * DataServices: Postgres and Redis as Docker containers on the host's engine,
 * driven by @pulumi/docker over SSH with the host key pinned. They are the
 * first two entries of the accessory mechanism (`postgresSpec`, `redisSpec`
 * below, made by components/data/accessory.ts `serviceResources`), under
 * this component and with their resource names of old (URNs are an API). Ports are
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
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { dockerHost, dockerSshOpts, knownHostsPattern } from "../../lib/names";
import { CONTAINER_PORTS } from "../../lib/ports";
import { managedBy } from "../../lib/remote";
import { DATA_LABEL, labels, serviceResources, ServiceSpec } from "./accessory";

export { dockerHost, dockerSshOpts, knownHostsPattern, labels };

/** What the builders read of the configuration: the stack, the data host, the Postgres and Redis settings. */
export const DATA_SERVICES_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "postgres", "redis", "database"] as const;
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
    /** Undefined with `berth:database` sqlite (no Postgres at all). */
    public readonly postgresVolume?: docker.Volume;
    public readonly redisVolume: docker.Volume;
    public readonly postgres?: docker.Container;
    public readonly redis: docker.Container;
    /** Superuser password of the Postgres container (secret; undefined with sqlite). */
    public readonly postgresSuperPassword?: pulumi.Output<string>;
    /** Redis `requirepass` (secret). */
    public readonly redisPassword: pulumi.Output<string>;
    /** redis://:password@<data address>:port/0 (secret). */
    public readonly redisUrl: pulumi.Output<string>;

    constructor(name: string, args: DataServicesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:DataServices", name, {}, opts);
        const cfg: DataServicesScope = args;
        const n = cfg.names;

        this.provider = new docker.Provider(
            `${name}-engine`,
            { host: dockerHost(cfg), sshOpts: dockerSshOpts(cfg) },
            { parent: this, dependsOn: args.dependsOn },
        );
        // Fixed name: labels never replace it (see the header).
        this.network = new docker.Network(
            `${name}-network`,
            { name: n.network, driver: "bridge", labels: labels(cfg, "network") },
            { parent: this, provider: this.provider, ignoreChanges: ["labels"], ...lifecycle(cfg, "network") },
        );
        // Postgres and Redis: the first two entries of the accessory mechanism (components/data/accessory.ts).
        const on = { parent: this, provider: this.provider, network: this.network };
        // berth:database sqlite: no Postgres (its files are on the app host).
        const postgres = cfg.database !== "sqlite" ? serviceResources(cfg, postgresSpec(cfg, args.address, name), on) : undefined;
        const redis = serviceResources(cfg, redisSpec(cfg, args.address, name), on);
        this.postgresVolume = postgres?.volumes[0];
        this.postgres = postgres?.container;
        this.postgresSuperPassword = postgres?.password!.result;
        this.redisVolume = redis.volumes[0];
        this.redis = redis.container;
        this.redisPassword = redis.password!.result;

        this.redisUrl = pulumi.secret(pulumi.interpolate`redis://:${this.redisPassword}@${args.address}:${cfg.redis.port}/0`);

        this.registerOutputs({
            postgres: this.postgres?.name,
            redis: this.redis.name,
            redisUrl: this.redisUrl,
        });
    }
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** Postgres as a service entry: today's resource names, container, volume, image and secrets (URNs and inputs unchanged). */
export function postgresSpec(cfg: DataServicesScope, address: string, name: string): ServiceSpec {
    const n = cfg.names;
    return {
        resources: { container: `${name}-postgres`, image: `${name}-postgres-image`, password: `${name}-postgres-superuser` },
        container: n.postgresContainer,
        labels: labels(cfg, "database"),
        image: { kind: "pull", ref: cfg.postgres.image },
        env: postgresEnv(),
        secretEnv: [],
        password: { upload: { file: POSTGRES_PASSWORD_FILE, before: "", after: "" } },
        port: { internal: CONTAINER_PORTS.postgres, external: cfg.postgres.port, ip: address },
        networkAlias: "postgres",
        volumes: [{ resource: `${name}-postgres-volume`, name: n.postgresVolume, path: "/var/lib/postgresql/data", labels: [...labels(cfg, "database"), DATA_LABEL] }],
        health: { tests: ["CMD-SHELL", `pg_isready -q -U postgres -h 127.0.0.1 -p ${CONTAINER_PORTS.postgres}`], startPeriod: "20s" },
    };
}

/** Redis as a service entry: the password in the uploaded configuration, AOF on its volume. */
export function redisSpec(cfg: DataServicesScope, address: string, name: string): ServiceSpec {
    const n = cfg.names;
    return {
        resources: { container: `${name}-redis`, image: `${name}-redis-image`, password: `${name}-redis-password` },
        container: n.redisContainer,
        labels: labels(cfg, "cache"),
        image: { kind: "pull", ref: cfg.redis.image },
        command: ["redis-server", REDIS_CONF_FILE],
        env: [],
        secretEnv: [],
        password: { keepers: { rotation: cfg.redis.passwordRotation }, upload: { file: REDIS_CONF_FILE, before: `${redisConf(cfg)}requirepass `, after: "\n" } },
        port: { internal: CONTAINER_PORTS.redis, external: cfg.redis.port, ip: address },
        networkAlias: "redis",
        volumes: [{ resource: `${name}-redis-volume`, name: n.redisVolume, path: "/data", labels: [...labels(cfg, "cache"), DATA_LABEL] }],
        health: { tests: ["CMD-SHELL", REDIS_HEALTHCHECK], startPeriod: "10s" },
    };
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
        `port ${CONTAINER_PORTS.redis}`,
        "protected-mode no",
        "dir /data",
        "appendonly yes",
        "appendfsync everysec",
        "",
    ].join("\n");
}

/** Health check reading the password from the uploaded file (not argv). */
export const REDIS_HEALTHCHECK = `REDISCLI_AUTH="$(sed -n 's/^requirepass //p' ${REDIS_CONF_FILE})" redis-cli ping | grep -q PONG`;

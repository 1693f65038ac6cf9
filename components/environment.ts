/**
 * Environment: one stack's whole target state on its host, composed from the
 * other components. index.ts builds exactly one of these.
 *
 * Order on the host (each arrow a dependency the engine enforces):
 *   Host ─┬─> DataServices ─> PostgresRole ─┐
 *         ├─> AppUnits (env file, units) ───┼─> Release (checkout+build ─> release command)
 *         └─> NginxSite(http) ─> Certificate (after DNS) ─> NginxSite(https)
 *   release command + units + https site ─> Switch (health-checked, zero downtime)
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { ResolvedRevision } from "../lib/revision";
import { AppUnits } from "./appUnits";
import { Backup } from "./backup";
import { Certificate } from "./certificate";
import { DataServices } from "./dataServices";
import { Dns } from "./dns";
import { Host } from "./host";
import { NginxSite } from "./nginxSite";
import { PostgresRole } from "./postgresRole";
import { Release } from "./release";
import { Switch } from "./switch";

export interface EnvironmentArgs {
    /** Validated stack configuration (lib/config.ts). */
    config: BerthConfig;
    /** The release to serve: configured ref and the commit it resolved to. */
    revision: ResolvedRevision;
}

export class Environment extends pulumi.ComponentResource {
    public readonly host: Host;
    public readonly data: DataServices;
    public readonly role: PostgresRole;
    /** With `berth:backup`: restic backups, restore script, restore test. */
    public readonly backup?: Backup;
    public readonly dns?: Dns;
    public readonly units: AppUnits;
    public readonly release: Release;
    public readonly httpSite: NginxSite;
    public readonly certificate: Certificate;
    public readonly httpsSite: NginxSite;
    public readonly switch: Switch;
    /** https:// URL of every host name. */
    public readonly urls: string[];
    /** postgres:// URL of the app role (secret). */
    public readonly databaseUrl: pulumi.Output<string>;
    /** redis:// URL with password (secret). */
    public readonly redisUrl: pulumi.Output<string>;

    constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:env:Environment", name, {}, opts);
        const cfg = args.config;
        const child = { parent: this };

        this.host = new Host(`${name}-host`, { config: cfg }, child);
        const connection = this.host.connection;
        this.data = new DataServices(`${name}-data`, { config: cfg, dependsOn: [this.host.dockerEngine] }, child);
        this.role = new PostgresRole(`${name}-postgres-role`, { config: cfg, connection, container: this.data.postgres }, child);
        if (cfg.dns.enabled) {
            this.dns = new Dns(`${name}-dns`, { config: cfg }, child);
        }

        const secretKeyBase = new random.RandomPassword(`${name}-secret-key-base`, { length: 96, special: false }, { ...child, ...lifecycle(cfg, "password") });
        this.units = new AppUnits(
            `${name}-units`,
            {
                config: cfg,
                connection,
                env: pulumi.secret(
                    pulumi
                        .all([this.role.databaseUrl, this.data.redisUrl, secretKeyBase.result])
                        .apply(([databaseUrl, redisUrl, skb]) => appEnv(cfg, { databaseUrl, redisUrl, secretKeyBase: skb })),
                ),
                hostReady: this.host.ready,
            },
            child,
        );

        if (cfg.backup) {
            this.backup = new Backup(`${name}-backup`, { config: cfg, connection, hostReady: [...this.host.ready, this.data.postgres] }, child);
        }

        this.release = new Release(
            `${name}-release`,
            {
                config: cfg,
                connection,
                revision: args.revision,
                hostReady: this.host.ready,
                envFile: this.units.envFile,
                role: this.role.command,
                backup: this.backup?.ready,
            },
            child,
        );

        this.httpSite = new NginxSite(`${name}-site-http`, { config: cfg, connection, phase: "challenge", dependsOn: this.host.ready }, child);
        this.certificate = new Certificate(
            `${name}-certificate`,
            { config: cfg, connection, dependsOn: [this.httpSite.command, ...(this.dns?.records ?? [])] },
            child,
        );
        this.httpsSite = new NginxSite(`${name}-site-https`, { config: cfg, connection, phase: "full", dependsOn: [this.certificate.command] }, child);

        this.switch = new Switch(
            `${name}-switch`,
            {
                config: cfg,
                connection,
                sha: this.release.sha,
                envHash: this.units.envHash,
                unitsHash: this.units.unitsHash,
                dependsOn: [this.release.migrate, this.units.units, this.units.envFile, this.httpsSite.command],
            },
            child,
        );

        this.urls = cfg.hostnames.map((h) => `https://${h}`);
        this.databaseUrl = this.role.databaseUrl;
        this.redisUrl = this.data.redisUrl;
        this.registerOutputs({ urls: this.urls, revision: this.release.sha, databaseUrl: this.databaseUrl, redisUrl: this.redisUrl });
    }
}

/**
 * The app's environment: the user's variables and secrets, plus what berth
 * owns (reserved names the config validator refuses from the user).
 */
export function appEnv(cfg: BerthConfig, s: { databaseUrl: string; redisUrl: string; secretKeyBase: string }): Record<string, string> {
    const owned: Record<string, string> =
        cfg.release.preset === "rails"
            ? { RAILS_ENV: "production", RACK_ENV: "production", SECRET_KEY_BASE: s.secretKeyBase }
            : { SECRET_KEY_BASE: s.secretKeyBase };
    return { ...cfg.env, ...cfg.secretEnv, ...owned, DATABASE_URL: s.databaseUrl, REDIS_URL: s.redisUrl };
}

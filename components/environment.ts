/**
 * Environment: one stack's whole target state on its host, composed from the
 * other components. index.ts builds exactly one of these.
 */
import * as pulumi from "@pulumi/pulumi";
import { BerthConfig } from "../lib/config";
import { DataServices } from "./dataServices";
import { Dns } from "./dns";
import { Host } from "./host";
import { PostgresRole } from "./postgresRole";

export interface EnvironmentArgs {
    /** Validated stack configuration (lib/config.ts). */
    config: BerthConfig;
}

export class Environment extends pulumi.ComponentResource {
    public readonly host: Host;
    public readonly data: DataServices;
    public readonly role: PostgresRole;
    public readonly dns?: Dns;
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
        this.data = new DataServices(`${name}-data`, { config: cfg, dependsOn: [this.host.dockerEngine] }, child);
        this.role = new PostgresRole(
            `${name}-postgres-role`,
            { config: cfg, connection: this.host.connection, container: this.data.postgres },
            child,
        );
        if (cfg.dns.enabled) {
            this.dns = new Dns(`${name}-dns`, { config: cfg }, child);
        }

        this.urls = cfg.hostnames.map((h) => `https://${h}`);
        this.databaseUrl = this.role.databaseUrl;
        this.redisUrl = this.data.redisUrl;
        this.registerOutputs({ urls: this.urls, databaseUrl: this.databaseUrl, redisUrl: this.redisUrl });
    }
}

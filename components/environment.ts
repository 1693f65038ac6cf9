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
import * as cloudflare from "@pulumi/cloudflare";
import { BerthConfig, HostConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { ResolvedRevision } from "../lib/revision";
import { AppUnits } from "./app/appUnits";
import { Backup } from "./data/backup";
import { Certificate } from "./web/certificate";
import { DataServices } from "./data/dataServices";
import { Dns } from "./web/dns";
import { Host } from "./host/host";
import { NginxSite } from "./web/nginxSite";
import { PostgresRole } from "./data/postgresRole";
import { Release } from "./app/release";
import { Switch } from "./app/switch";
import { DataFirewall } from "./data/dataFirewall";
import { Mesh } from "./host/mesh";
import { meshNames } from "../lib/mesh";
import { appHosts, dataHost, dataIsRemote, forHost, perHostAliases, perHostName, releaseHost, webHosts } from "../lib/topology";

export interface EnvironmentArgs {
    /** Validated stack configuration (lib/config.ts). */
    config: BerthConfig;
    /** The release to serve: configured ref and the commit it resolved to. */
    revision: ResolvedRevision;
}

/** What one app (web/worker) host runs. */
export interface AppHost {
    readonly host: Host;
    readonly units: AppUnits;
    readonly release: Release;
    readonly switch: Switch;
    /** Web hosts only. */
    readonly httpSite?: NginxSite;
    readonly certificate?: Certificate;
    readonly httpsSite?: NginxSite;
}

export class Environment extends pulumi.ComponentResource {
    /** The first web host's Host (the only host of a `berth:host` stack). */
    public readonly host: Host;
    /** Every host's Host, by host name. */
    public readonly hosts: Record<string, Host>;
    /** Multi-host stacks without private addresses: the WireGuard mesh. */
    public readonly mesh?: Mesh;
    /** The data host's containers (undefined with external data). */
    public readonly data?: DataServices;
    public readonly dataFirewall?: DataFirewall;
    public readonly role?: PostgresRole;
    /** With `berth:backup`: restic backups, restore script, restore test. */
    public readonly backup?: Backup;
    public readonly dns?: Dns;
    /** Every app host's components, by host name. */
    public readonly apps: Record<string, AppHost>;
    /** The first web host's components (what a `berth:host` stack has). */
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
        /** A per-host component's name and options (lib/topology.ts: same URNs on a single host). */
        const per = <T>(base: string, h: HostConfig, make: (name: string, opts: pulumi.ComponentResourceOptions) => T): T =>
            make(perHostName(cfg, `${name}-${base}`, h), { ...child, aliases: perHostAliases(cfg, `${name}-${base}`, h) });

        this.hosts = {};
        for (const h of cfg.hosts) {
            this.hosts[h.name] = per("host", h, (n, o) => new Host(n, { config: forHost(cfg, h) }, o));
        }
        this.host = this.hosts[cfg.host.name];
        if (cfg.mesh.enabled) {
            this.mesh = new Mesh(
                `${name}-mesh`,
                { members: cfg.hosts.map((h) => ({ cfg: forHost(cfg, h), connection: this.hosts[h.name].connection, dependsOn: this.hosts[h.name].ready })) },
                child,
            );
        }
        /** Everything that must be up on a host before the stack's services use it (mesh included). */
        const ready = (h: HostConfig): pulumi.Resource[] => [...this.hosts[h.name].ready, ...(this.mesh?.ready[h.name] ?? [])];

        // Data: containers on the data host, or external services by URL.
        const d = dataHost(cfg);
        const dc = d && forHost(cfg, d);
        let databaseUrl: pulumi.Output<string>;
        let redisUrl: pulumi.Output<string>;
        if (d && dc) {
            const dHost = this.hosts[d.name];
            // Several hosts: the data ports open on the private address only after the
            // firewall admits exactly the app hosts (mesh: only through the mesh interface).
            if (dataIsRemote(cfg)) {
                this.dataFirewall = new DataFirewall(
                    `${name}-data-firewall`,
                    {
                        cfg: dc,
                        connection: dHost.connection,
                        allowed: appHosts(cfg).filter((h) => h.name !== d.name).map((h) => h.privateAddress!),
                        ports: [cfg.postgres.port, cfg.redis.port],
                        inInterface: cfg.mesh.enabled ? meshNames(cfg).iface : undefined,
                        dependsOn: ready(d),
                    },
                    child,
                );
            }
            const dataAfter = [dHost.dockerEngine!, ...(this.mesh?.ready[d.name] ?? []), ...(this.dataFirewall?.ready ?? [])];
            const data = per("data", d, (n, o) => new DataServices(n, { config: dc, dependsOn: dataAfter }, o));
            this.data = data;
            this.role = per("postgres-role", d, (n, o) => new PostgresRole(n, { config: dc, connection: dHost.connection, container: data.postgres }, o));
            databaseUrl = this.role.databaseUrl;
            redisUrl = this.data.redisUrl;
        } else {
            const rh = releaseHost(cfg);
            if (cfg.external.postgresAdminUrl) {
                this.role = new PostgresRole(`${name}-postgres-role`, {
                    config: forHost(cfg, rh),
                    connection: this.hosts[rh.name].connection,
                    external: { adminUrl: cfg.external.postgresAdminUrl },
                    dependsOn: ready(rh),
                }, child);
                databaseUrl = this.role.databaseUrl;
            } else {
                databaseUrl = pulumi.secret(cfg.external.postgresUrl!);
            }
            redisUrl = pulumi.secret(cfg.external.redisUrl!);
        }
        if (cfg.dns.enabled) {
            this.dns = new Dns(`${name}-dns`, { config: cfg }, child);
        }

        const secretKeyBase = new random.RandomPassword(`${name}-secret-key-base`, { length: 96, special: false }, { ...child, ...lifecycle(cfg, "password") });
        const env = pulumi.secret(
            pulumi.all([databaseUrl, redisUrl, secretKeyBase.result]).apply(([databaseUrl, redisUrl, skb]) => appEnv(cfg, { databaseUrl, redisUrl, secretKeyBase: skb })),
        );

        const apps = appHosts(cfg);
        const rh = releaseHost(cfg);
        // Several app hosts: builds everywhere first, then the release command once, then
        // every host prepares before any host switches. One app host: the single-host order.
        const fleet = apps.length > 1;
        // The backup named after the release runs where the database is; inside the
        // release command when that is the same host.
        const backupApart = d !== undefined && d.name !== rh.name;
        if (cfg.backup && d && dc) {
            this.backup = per("backup", d, (n, o) => new Backup(n, { config: dc, connection: this.hosts[d.name].connection, hostReady: [...ready(d), this.data!.postgres] }, o));
        }

        // Per app host: env file and units, then the release (built on every host).
        const units: Record<string, AppUnits> = {};
        const releases: Record<string, Release> = {};
        for (const h of apps) {
            const hc = forHost(cfg, h);
            const connection = this.hosts[h.name].connection;
            units[h.name] = per("units", h, (n, o) => new AppUnits(n, { config: hc, connection, env, hostReady: ready(h) }, o));
        }
        for (const h of apps) {
            const hc = forHost(cfg, h);
            const connection = this.hosts[h.name].connection;
            const here = h.name === rh.name;
            releases[h.name] = per("release", h, (n, o) =>
                new Release(
                    n,
                    {
                        config: hc,
                        connection,
                        revision: args.revision,
                        hostReady: ready(h),
                        envFile: units[h.name].envFile,
                        role: this.role?.command,
                        backup: backupApart ? undefined : this.backup?.ready,
                        runReleaseCommand: !fleet && !backupApart && here,
                    },
                    o,
                ),
            );
        }
        // Several app hosts, or the database on another host: the release command waits for
        // every host's build (and the data host's backup named after the release).
        const rel = releases[rh.name];
        if (!rel.migrate) {
            const builds = apps.filter((h) => h.name !== rh.name).map((h) => releases[h.name].checkout);
            const backup = backupApart ? this.backup?.addReleaseBackup(rel.sha, [...builds, rel.checkout]) : undefined;
            rel.addReleaseCommand([...builds, ...(backup ? [backup] : [])], { backup: !backupApart });
        }

        // Web hosts: challenge site, certificate, HTTPS site. With several web hosts
        // (dns-01) the certificates are requested one host after the other, so one
        // host's clean-up never removes a TXT record another host is validating.
        const sites: Record<string, { http: NginxSite; cert: Certificate; https: NginxSite }> = {};
        // Proxied through Cloudflare: nginx restores the visitor's address from
        // Cloudflare's published ranges (the provider's data source, read at every
        // preview and up). Not proxied: no invoke at all, the sites are unchanged.
        const realIpFrom = cfg.dns.proxied
            ? cloudflare.getIpRangesOutput({}, child).apply((r) => [...(r.ipv4Cidrs ?? []), ...(r.ipv6Cidrs ?? [])])
            : undefined;
        let previousCert: Certificate | undefined;
        for (const h of webHosts(cfg)) {
            const hc = forHost(cfg, h);
            const connection = this.hosts[h.name].connection;
            const http = per("site-http", h, (n, o) => new NginxSite(n, { config: hc, connection, phase: "challenge", dependsOn: ready(h), realIpFrom }, o));
            const after = previousCert;
            const cert = per("certificate", h, (n, o) =>
                new Certificate(n, { config: hc, connection, dependsOn: [http.command, ...(this.dns?.records ?? []), ...(after ? [after.command] : [])] }, o),
            );
            previousCert = cert;
            const https = per("site-https", h, (n, o) => new NginxSite(n, { config: hc, connection, phase: "full", dependsOn: [cert.command], realIpFrom }, o));
            sites[h.name] = { http, cert, https };
        }

        // Switch: single host, one command; several, every host prepares (starts and
        // checks the release) before any host moves traffic.
        const migrate = rel.migrate!;
        const switches: Record<string, Switch> = {};
        for (const h of apps) {
            const hc = forHost(cfg, h);
            const site = sites[h.name];
            switches[h.name] = per("switch", h, (n, o) =>
                new Switch(
                    n,
                    {
                        config: hc,
                        connection: this.hosts[h.name].connection,
                        sha: rel.sha,
                        envHash: units[h.name].envHash,
                        unitsHash: units[h.name].unitsHash,
                        // The single host's list is the one it always had (URNs and step order unchanged).
                        dependsOn: fleet
                            ? [migrate, releases[h.name].checkout, units[h.name].units, units[h.name].envFile, ...(site ? [site.https.command] : [])]
                            : [migrate, units[h.name].units, units[h.name].envFile, site!.https.command],
                        prepare: fleet,
                    },
                    o,
                ),
            );
        }
        if (fleet) {
            const prepared = apps.map((h) => switches[h.name].prepare!);
            for (const h of apps) switches[h.name].switchAfter(prepared);
        }

        this.apps = Object.fromEntries(
            apps.map((h) => [h.name, { host: this.hosts[h.name], units: units[h.name], release: releases[h.name], switch: switches[h.name], httpSite: sites[h.name]?.http, certificate: sites[h.name]?.cert, httpsSite: sites[h.name]?.https }]),
        );
        const first = this.apps[cfg.host.name];
        this.units = first.units;
        this.release = first.release;
        this.switch = first.switch;
        this.httpSite = first.httpSite!;
        this.certificate = first.certificate!;
        this.httpsSite = first.httpsSite!;

        this.urls = cfg.hostnames.map((h) => `https://${h}`);
        this.databaseUrl = databaseUrl;
        this.redisUrl = redisUrl;
        this.registerOutputs({ urls: this.urls, revision: this.release.sha, databaseUrl: this.databaseUrl, redisUrl: this.redisUrl });
    }
}

/**
 * The app's environment: the user's variables and secrets, plus what berth
 * owns (reserved names the config validator refuses from the user).
 */
export function appEnv(cfg: BerthConfig, s: { databaseUrl: string; redisUrl: string; secretKeyBase: string }): Record<string, string> {
    const rails = cfg.release.preset === "rails";
    // Rails before 7.1 logs to log/production.log (never rotated by berth) unless told to log to
    // STDOUT, which the journal keeps: the default of the Rails preset, for the units, the build
    // and the release command alike; berth:env may still set it.
    const defaults: Record<string, string> = rails ? { RAILS_LOG_TO_STDOUT: "1" } : {};
    const owned: Record<string, string> = rails ? { RAILS_ENV: "production", RACK_ENV: "production" } : {};
    // berth:secretEnv.SECRET_KEY_BASE (an app moving to berth keeps its sessions) wins over the generated one.
    const secretKeyBase = cfg.secretEnv.SECRET_KEY_BASE ?? s.secretKeyBase;
    return { ...defaults, ...cfg.env, ...cfg.secretEnv, ...owned, SECRET_KEY_BASE: secretKeyBase, DATABASE_URL: s.databaseUrl, REDIS_URL: s.redisUrl };
}

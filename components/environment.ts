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
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { argsFor, plan, Plan, PlanHost } from "../lib/plan";
import { presetOf } from "../lib/presets";
import { appDatabases, databaseEnv, sqliteUrl } from "../lib/databases";
import { ResolvedRevision } from "../lib/revision";
import { APP_UNITS_SCOPE, AppUnits, sha256 } from "./app/appUnits";
import { Backup, BACKUP_SCOPE } from "./data/backup";
import { REVIEW_SEED_SCOPE, ReviewSeed } from "./data/reviewSeed";
import { Certificate, CERTIFICATE_SCOPE } from "./web/certificate";
import { DATA_SERVICES_SCOPE, DataServices } from "./data/dataServices";
import { Dns, DNS_SCOPE } from "./web/dns";
import { Host, HOST_SCOPE } from "./host/host";
import { NGINX_SITE_SCOPE, NginxSite } from "./web/nginxSite";
import { BASIC_AUTH_SCOPE, BasicAuth } from "./web/basicAuth";
import { POSTGRES_ROLE_SCOPE, PostgresRole } from "./data/postgresRole";
import { Release, RELEASE_SCOPE } from "./app/release";
import { Switch, SWITCH_SCOPE } from "./app/switch";
import { Processes, PROCESSES_SCOPE } from "./app/processes";
import { Schedules, SCHEDULES_SCOPE } from "./app/schedules";
import { DATA_FIREWALL_SCOPE, DataFirewall } from "./data/dataFirewall";
import { Accessory, ACCESSORY_SCOPE, accessoryEnv } from "./data/accessory";
import { Mesh, MESH_SCOPE } from "./host/mesh";
import { Alerts, ALERTS_SCOPE } from "./host/alerts";
import { frontendBuildStep, soakAndPublishStep } from "./app/frontendStep";
import type { Frontend } from "./web/frontend";
import type { Soak } from "./app/soak";

export interface EnvironmentArgs {
    /** Validated stack configuration (lib/config.ts); lib/plan.ts turns it into the plan this composes. */
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

/** The data step's components and the URLs the app is given. */
interface DataStep {
    data?: DataServices;
    dataFirewall?: DataFirewall;
    role?: PostgresRole;
    databaseUrl: pulumi.Output<string>;
    redisUrl: pulumi.Output<string>;
    /** `berth:accessories` on the data host. */
    accessories?: Accessory[];
}

/** The app step: per app host, env file and units, and the release (built on every host). */
interface AppStep {
    units: Record<string, AppUnits>;
    /** berth:processes: the template units, on every app host (with no type, it removes those no longer configured). */
    processes: Record<string, Processes>;
    releases: Record<string, Release>;
}

type WebSites = Record<string, { http: NginxSite; cert?: Certificate; https: NginxSite }>;

/** What every step reads: the plan, the environment's name and children options, and each host's Host. */
class Steps {
    readonly child: { parent: pulumi.Resource };
    readonly hosts: Record<string, Host> = {};
    mesh?: Mesh;
    /** What the app's env file waits for: every accessory ready (dataStep). */
    accessoriesReady: pulumi.Resource[] = [];

    constructor(
        readonly parent: pulumi.Resource,
        readonly name: string,
        readonly plan: Plan,
    ) {
        this.child = { parent };
    }

    /** A per-host component's name and options (lib/plan.ts: same URNs on a single host). */
    per<T>(base: string, h: PlanHost, make: (name: string, opts: pulumi.ComponentResourceOptions) => T): T {
        const full = `${this.name}-${base}`;
        return make(h.resourceName(full), { ...this.child, aliases: h.aliases(full) });
    }

    /** Everything that must be up on a host before the stack's services use it (mesh included). */
    ready(h: PlanHost): pulumi.Resource[] {
        return [...this.hosts[h.name].ready, ...(this.mesh?.ready[h.name] ?? [])];
    }

    connection(h: PlanHost) {
        return this.hosts[h.name].connection;
    }
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
    /** Undefined on a review stack that serves its source stack's wildcard (berth:review.certificate). */
    public readonly certificate?: Certificate;
    public readonly httpsSite: NginxSite;
    public readonly switch: Switch;
    /** With `berth:schedules`: the timers on the release host. */
    public readonly schedules?: Schedules;
    /** With `berth:alerts`: every host's check timer and alerts, by host name. */
    public readonly alerts?: Record<string, Alerts>;
    /** With `berth:frontend`: the static site (built before the switch, published after the soak) and the soak. */
    public readonly frontend?: Frontend;
    public readonly soak?: Soak;
    /** https:// URL of every host name. */
    public readonly urls: string[];
    /** postgres:// URL of the app role (secret). */
    public readonly databaseUrl: pulumi.Output<string>;
    /** redis:// URL with password (secret). */
    public readonly redisUrl: pulumi.Output<string>;

    constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:env:Environment", name, {}, opts);
        const p = plan(args.config);
        const steps = new Steps(this, name, p);
        hostStep(steps);
        this.hosts = steps.hosts;
        this.host = this.hosts[p.first.name];
        this.mesh = steps.mesh;

        const data = dataStep(steps);
        ({ data: this.data, dataFirewall: this.dataFirewall, role: this.role, databaseUrl: this.databaseUrl, redisUrl: this.redisUrl } = data);
        if (p.sites.dns) {
            this.dns = new Dns(`${name}-dns`, argsFor(p, p.first, DNS_SCOPE), steps.child);
        }
        const env = appEnvStep(steps, data);
        if (p.backup) {
            const d = p.backup.host;
            this.backup = steps.per("backup", d, (n, o) =>
                new Backup(n, { ...argsFor(p, d, BACKUP_SCOPE), connection: steps.connection(d), hostReady: [...steps.ready(d), ...(this.data?.postgres ? [this.data.postgres] : [])] }, o),
            );
        }
        const seed = reviewSeedStep(steps, [...(this.data?.postgres ? [this.data.postgres] : []), ...(data.role ? [data.role.command] : [])]);
        const app = appStep(steps, env, args.revision, data.role, this.backup, seed?.ready);
        const sites = webStep(steps, this.dns);
        const fh = p.first.name;
        this.frontend = frontendBuildStep(steps, args.revision, app.releases[fh], app.units[fh].envFile);
        const switches = switchStep(steps, app, sites, this.frontend?.build);
        this.soak = this.frontend && soakAndPublishStep(steps, this.frontend, switches[fh], sites[fh].https.command);
        this.schedules = scheduleStep(steps, app, switches);
        this.alerts = alertStep(steps, switches);

        this.apps = Object.fromEntries(
            p.apps.map((h) => {
                const site = sites[h.name];
                const entry: AppHost = { host: this.hosts[h.name], units: app.units[h.name], release: app.releases[h.name], switch: switches[h.name], httpSite: site?.http, certificate: site?.cert, httpsSite: site?.https };
                return [h.name, entry];
            }),
        );
        const first = this.apps[p.first.name];
        this.units = first.units;
        this.release = first.release;
        this.switch = first.switch;
        this.httpSite = first.httpSite!;
        this.certificate = first.certificate;
        this.httpsSite = first.httpsSite!;
        this.urls = [...p.sites.urls];
        this.registerOutputs({ urls: this.urls, revision: this.release.sha, databaseUrl: this.databaseUrl, redisUrl: this.redisUrl });
    }
}

/** Every host's Host, then (multi-host stacks without private addresses) the WireGuard mesh. */
function hostStep(s: Steps): void {
    const p = s.plan;
    for (const h of p.hosts) {
        s.hosts[h.name] = s.per("host", h, (n, o) => new Host(n, argsFor(p, h, HOST_SCOPE), o));
    }
    if (p.mesh) {
        s.mesh = new Mesh(
            `${s.name}-mesh`,
            { members: p.hosts.map((h) => ({ cfg: argsFor(p, h, MESH_SCOPE), connection: s.connection(h), dependsOn: s.hosts[h.name].ready })) },
            s.child,
        );
    }
}

/** Data: containers on the data host (behind the data firewall when app hosts are elsewhere), or external services by URL. */
function dataStep(s: Steps): DataStep {
    const p = s.plan;
    const d = p.data;
    if (d.kind === "external" && p.config.database === "sqlite") {
        return { databaseUrl: pulumi.secret(sqliteUrl(appDatabases(p.config)[0].sqliteFile)), redisUrl: pulumi.secret(d.redisUrl ?? "") };
    }
    if (d.kind === "external") {
        const rh = d.roleHost;
        const role = rh
            ? new PostgresRole(
                  `${s.name}-postgres-role`,
                  { ...argsFor(p, rh, POSTGRES_ROLE_SCOPE), connection: s.connection(rh), external: { adminUrl: d.postgresAdminUrl! }, dependsOn: s.ready(rh) },
                  s.child,
              )
            : undefined;
        return { role, databaseUrl: role ? role.databaseUrl : pulumi.secret(d.postgresUrl!), redisUrl: pulumi.secret(d.redisUrl!) };
    }
    const h = d.host;
    const dHost = s.hosts[h.name];
    // Several hosts: the data ports open on the private address only after the
    // firewall admits exactly the app hosts (mesh: only through the mesh interface).
    const dataFirewall = d.firewall
        ? new DataFirewall(
              `${s.name}-data-firewall`,
              {
                  ...argsFor(p, h, DATA_FIREWALL_SCOPE),
                  connection: dHost.connection,
                  allowed: [...d.firewall.allowed],
                  ports: [...d.firewall.ports],
                  inInterface: d.firewall.inInterface,
                  containerPorts: d.firewall.containerPorts && [...d.firewall.containerPorts],
                  dependsOn: s.ready(h),
              },
              s.child,
          )
        : undefined;
    const dataAfter = [dHost.dockerEngine!, ...(s.mesh?.ready[h.name] ?? []), ...(dataFirewall?.ready ?? [])];
    const data = s.per("data", h, (n, o) => new DataServices(n, { ...argsFor(p, h, DATA_SERVICES_SCOPE), address: d.address, dependsOn: dataAfter }, o));
    const accessories = accessoryStep(s, d, data, dataAfter);
    if (!data.postgres) {
        // berth:database sqlite: Redis here, the database in files on the app host (lib/databases.ts).
        return { data, dataFirewall, accessories, databaseUrl: pulumi.secret(sqliteUrl(appDatabases(p.config)[0].sqliteFile)), redisUrl: data.redisUrl };
    }
    const role = s.per("postgres-role", h, (n, o) =>
        new PostgresRole(n, { ...argsFor(p, h, POSTGRES_ROLE_SCOPE), address: d.address, connection: dHost.connection, container: data.postgres }, o),
    );
    return { data, dataFirewall, role, accessories, databaseUrl: role.databaseUrl, redisUrl: data.redisUrl };
}

/** `berth:accessories`: one Accessory each on the data host, on its engine and network; the app's env file waits until each is ready. */
function accessoryStep(s: Steps, d: Extract<Plan["data"], { kind: "containers" }>, data: DataServices, after: pulumi.Input<pulumi.Resource>[]): Accessory[] {
    const p = s.plan;
    const h = d.host;
    const made = d.accessories.map((a) =>
        s.per(`accessory-${a.name}`, h, (n, o) =>
            new Accessory(n, { ...argsFor(p, h, ACCESSORY_SCOPE), accessory: a, address: d.address, connection: s.connection(h), provider: data.provider, network: data.network, dependsOn: after }, o),
        ),
    );
    s.accessoriesReady = made.flatMap((a) => a.ready);
    return made;
}

/** The app's env file content (secret): the generated secret key base and the data URLs. */
function appEnvStep(s: Steps, data: DataStep): pulumi.Output<Record<string, string>> {
    const cfg = s.plan.config;
    const secretKeyBase = new random.RandomPassword(`${s.name}-secret-key-base`, { length: 96, special: false }, { ...s.child, ...lifecycle(cfg, "password") });
    return pulumi.secret(
        pulumi
            .all([data.databaseUrl, data.redisUrl, secretKeyBase.result, accessoryEnv(data.accessories ?? [])])
            // Accessory URLs (their urlEnv: never a name berth sets, lib/config.ts); berth's own variables win.
            .apply(([databaseUrl, redisUrl, skb, urls]) => ({ ...urls, ...appEnv(cfg, { databaseUrl, redisUrl, secretKeyBase: skb }) })),
    );
}

/**
 * Per app host: env file and units, then the release (built on every host).
 * Several app hosts, or the database on another host: builds everywhere
 * first, then the release command once (after the data host's backup named
 * after the release); one app host: the single-host order.
 */
/** A review stack (berth:review.pr): its databases restored from the source stack's latest backup, before the release command. */
function reviewSeedStep(s: Steps, after: pulumi.Resource[]): ReviewSeed | undefined {
    const p = s.plan;
    if (p.config.review?.pr === undefined || p.data.kind !== "containers") return undefined;
    const d = p.data.host;
    return s.per("review-seed", d, (n, o) => new ReviewSeed(n, { ...argsFor(p, d, REVIEW_SEED_SCOPE), connection: s.connection(d), after: [...s.ready(d), ...after] }, o));
}

function appStep(s: Steps, env: pulumi.Output<Record<string, string>>, revision: ResolvedRevision, role?: PostgresRole, backup?: Backup, seedReady?: pulumi.Resource[]): AppStep {
    const p = s.plan;
    const rh = p.releaseHost;
    // The backup named after the release runs where the database is; inside the
    // release command when that is the same host.
    const backupApart = p.config.database !== "sqlite" && p.data.kind === "containers" && p.data.host.name !== rh.name;
    const units: Record<string, AppUnits> = {};
    const processes: Record<string, Processes> = {};
    const releases: Record<string, Release> = {};
    for (const h of p.apps) {
        units[h.name] = s.per("units", h, (n, o) => new AppUnits(n, { ...argsFor(p, h, APP_UNITS_SCOPE), connection: s.connection(h), env, hostReady: [...s.ready(h), ...s.accessoriesReady] }, o));
    }
    // Every app host, with or without process types: the units script also removes the types
    // no longer configured, the last one included (on production a dropped resource would only be
    // forgotten, retainOnDelete, and its instances kept running).
    for (const h of p.apps) {
        processes[h.name] = s.per("processes", h, (n, o) => new Processes(n, { ...argsFor(p, h, PROCESSES_SCOPE), connection: s.connection(h), hostReady: s.ready(h) }, o));
    }
    for (const h of p.apps) {
        releases[h.name] = s.per("release", h, (n, o) =>
            new Release(
                n,
                {
                    ...argsFor(p, h, RELEASE_SCOPE),
                    connection: s.connection(h),
                    revision,
                    hostReady: s.ready(h),
                    envFile: units[h.name].envFile,
                    role: role?.command,
                    backupReady: seedReady ? [...(backupApart ? [] : (backup?.ready ?? [])), ...seedReady] : backupApart ? undefined : backup?.ready,
                    runReleaseCommand: !p.fleet && !backupApart && h.runsReleaseCommand,
                },
                o,
            ),
        );
    }
    const rel = releases[rh.name];
    if (!rel.migrate) {
        const builds = p.apps.filter((h) => h.name !== rh.name).map((h) => releases[h.name].checkout);
        // The data host's backup runs alongside the builds (other hosts, independent steps): the
        // release command still waits for both. A build that fails leaves one extra snapshot.
        const named = backupApart ? backup?.addReleaseBackup(rel.sha, []) : undefined;
        rel.addReleaseCommand([...builds, ...(named ? [named] : []), ...(seedReady ?? [])], { backup: !backupApart });
    }
    return { units, processes, releases };
}

/**
 * Web hosts: challenge site, certificate, HTTPS site. With several web hosts
 * (dns-01) the certificates are requested one host after the other, so one
 * host's clean-up never removes a TXT record another host is validating.
 */
function webStep(s: Steps, dns?: Dns): WebSites {
    const p = s.plan;
    const sites: WebSites = {};
    // Proxied through Cloudflare: nginx restores the visitor's address from
    // Cloudflare's published ranges (the provider's data source, read at every
    // preview and up). Not proxied: no invoke at all, the sites are unchanged.
    const realIpFrom = p.sites.proxied
        ? cloudflare.getIpRangesOutput({}, s.child).apply((r) => [...(r.ipv4Cidrs ?? []), ...(r.ipv6Cidrs ?? [])])
        : undefined;
    let previousCert: Certificate | undefined;
    for (const h of p.webs) {
        const scope = argsFor(p, h, NGINX_SITE_SCOPE);
        const connection = s.connection(h);
        const http = s.per("site-http", h, (n, o) => new NginxSite(n, { ...scope, connection, phase: "challenge", dependsOn: s.ready(h), realIpFrom }, o));
        const after = previousCert;
        // A review stack under its source's wildcard (berth:review.certificate) requests nothing: its site serves that lineage.
        const cert =
            p.config.certificate.from === undefined
                ? s.per("certificate", h, (n, o) =>
                      new Certificate(n, { ...argsFor(p, h, CERTIFICATE_SCOPE), connection, dependsOn: [http.command, ...(dns?.records ?? []), ...(after ? [after.command] : [])] }, o),
                  )
                : undefined;
        previousCert = cert;
        // berth:basicAuth (only stacks that set it have this resource): the password file before the site that asks for it.
        const gate = p.config.basicAuth && s.per("basic-auth", h, (n, o) => new BasicAuth(n, { ...argsFor(p, h, BASIC_AUTH_SCOPE), connection, dependsOn: s.ready(h) }, o));
        const https = s.per("site-https", h, (n, o) => new NginxSite(n, { ...scope, connection, phase: "full", dependsOn: [...(cert ? [cert.command] : [http.command]), ...(gate ? [gate.command] : [])], realIpFrom }, o));
        sites[h.name] = { http, cert, https };
    }
    return sites;
}

/** Switch: single host, one command; several, every host prepares (starts and checks the release) before any host moves traffic. */
function switchStep(s: Steps, app: AppStep, sites: WebSites, frontendBuild?: pulumi.Resource): Record<string, Switch> {
    const p = s.plan;
    const rel = app.releases[p.releaseHost.name];
    const migrate = rel.migrate!;
    const switches: Record<string, Switch> = {};
    for (const h of p.apps) {
        const site = sites[h.name];
        const units = app.units[h.name];
        // berth:processes: their units and counts join the units' hash (a change is a new switch, which restarts them).
        // A host without process types keeps the units' hash alone (no new switch when berth starts
        // declaring its Processes there); removing the last type is a change of hash, a new switch.
        const procs = app.processes[h.name];
        const unitsHash = procs && h.processes.length > 0 ? pulumi.all([units.unitsHash, procs.unitsHash]).apply(([a, b]) => sha256(`${a}\0${b}`)) : units.unitsHash;
        switches[h.name] = s.per("switch", h, (n, o) =>
            new Switch(
                n,
                {
                    ...argsFor(p, h, SWITCH_SCOPE),
                    connection: s.connection(h),
                    sha: rel.sha,
                    envHash: units.envHash,
                    unitsHash,
                    // The single host's list is the one it always had (URNs and step order unchanged).
                    dependsOn: [
                        ...(p.fleet
                            ? [migrate, app.releases[h.name].checkout, units.units, units.envFile, ...(site ? [site.https.command] : [])]
                            : [migrate, units.units, units.envFile, site!.https.command]),
                        ...(procs ? [procs.units] : []),
                        ...(frontendBuild ? [frontendBuild] : []),
                    ],
                    prepare: p.fleet,
                },
                o,
            ),
        );
    }
    if (p.fleet) {
        const prepared = p.apps.map((h) => switches[h.name].prepare!);
        for (const h of p.apps) switches[h.name].switchAfter(prepared);
    }
    return switches;
}

/** berth:schedules: the timers on the release host, once a release is current there (after its switch). */
function scheduleStep(s: Steps, app: AppStep, switches: Record<string, Switch>): Schedules | undefined {
    const sp = s.plan.schedules;
    if (!sp) return undefined;
    const h = sp.host;
    return new Schedules(
        `${s.name}-schedules`,
        { ...argsFor(s.plan, h, SCHEDULES_SCOPE), connection: s.connection(h), dependsOn: [switches[h.name].command, app.units[h.name].envFile] },
        s.child,
    );
}

/** berth:alerts: on every host, after its switch on an app host (health is watched once something serves). */
function alertStep(s: Steps, switches: Record<string, Switch>): Record<string, Alerts> | undefined {
    const p = s.plan;
    if (!p.config.alerts) return undefined;
    return Object.fromEntries(
        p.hosts.map((h) => [
            h.name,
            s.per("alerts", h, (n, o) => new Alerts(n, { ...argsFor(p, h, ALERTS_SCOPE), connection: s.connection(h), dependsOn: [...s.ready(h), ...(switches[h.name] ? [switches[h.name].command] : [])] }, o)),
        ]),
    );
}

/**
 * The app's environment: the user's variables and secrets, plus what berth
 * owns (reserved names the config validator refuses from the user).
 */
export function appEnv(cfg: BerthConfig, s: { databaseUrl: string; redisUrl: string; secretKeyBase: string }): Record<string, string> {
    // The preset's defaults (berth:env may override them) and the variables it owns (lib/presets).
    const { defaultEnv: defaults, ownedEnv: owned } = presetOf(cfg);
    // berth:secretEnv.SECRET_KEY_BASE (an app moving to berth keeps its sessions) wins over the generated one.
    const secretKeyBase = cfg.secretEnv.SECRET_KEY_BASE ?? s.secretKeyBase;
    // The databases' URLs (lib/databases.ts: DATABASE_URL, one <NAME>_DATABASE_URL per berth:databases); no REDIS_URL without a Redis (sqlite, no data host).
    const redis: Record<string, string> = s.redisUrl ? { REDIS_URL: s.redisUrl } : {};
    return { ...defaults, ...cfg.env, ...cfg.secretEnv, ...owned, SECRET_KEY_BASE: secretKeyBase, ...databaseEnv(cfg, s.databaseUrl), ...redis };
}

/**
 * The plan: the validated configuration (lib/config.ts) turned, once, into
 * what runs where. Pure: no Pulumi, no I/O.
 *
 * Every component takes narrow Args (only the settings it reads); the
 * per-host ones (`host`, `release`) come from the host's plan entry, so
 * `host` always means "the host this component runs on" and never "the
 * first web host" (components/environment.ts composes the plan's steps).
 *
 * Resource names keep lib/topology.ts's rules (URNs are an API): a
 * `berth:host` stack names its components as it always did; a
 * `berth:hosts` stack suffixes them with the host's name, and its first web
 * host answers to the single-host names by alias.
 */
import type { AccessoryConfig, BerthConfig, HostConfig, ProcessConfig, Role, ScheduleConfig } from "./config";
import { DATA_CONTAINER_PORTS } from "./ports";
import { meshNames } from "./names";
import { presetOf, type Preset } from "./presets";
import { processesOn } from "./units/process";
import { appHosts, dataAddress, dataHost, dataIsRemote, perHostAliases, perHostName, releaseHost, webHosts } from "./topology";

/** One host of the stack and what it runs. */
export interface PlanHost {
    /** The host's name (`main` on a `berth:host` stack). */
    readonly name: string;
    /** Address, SSH connection facts, private address and roles (lib/config.ts). */
    readonly host: HostConfig;
    readonly roles: readonly Role[];
    /** nginx, certificate and web instances. */
    readonly web: boolean;
    /** Runs the worker unit. */
    readonly worker: boolean;
    /** Runs the Postgres and Redis containers. */
    readonly data: boolean;
    /** Runs the app (web or worker): env file, units, release, switch. */
    readonly app: boolean;
    /** The one host that runs the release command (the first web host). */
    readonly runsReleaseCommand: boolean;
    /** The first web host: on a `berth:hosts` stack its components carry the single-host names as aliases. */
    readonly firstWeb: boolean;
    /** The release settings as this host runs them: no worker command without the worker role. */
    readonly release: BerthConfig["release"];
    /** The process types this host runs as template units (lib/units/process.ts processesOn; none with berth:workerCommand). */
    readonly processes: readonly ProcessConfig[];
    /** A per-host component's name: `base` on a `berth:host` stack, `base-<host>` on a `berth:hosts` stack. */
    readonly resourceName: (base: string) => string;
    /** A per-host component's aliases (the first web host of a `berth:hosts` stack answers to `base`). */
    readonly aliases: (base: string) => { name: string }[];
}

/** Postgres and Redis: containers on the data host, or external services by URL. */
export type DataPlan =
    | {
          readonly kind: "containers";
          readonly host: PlanHost;
          /** Address the containers listen on and the app connects to (loopback, or the data host's private address). */
          readonly address: string;
          /** Some app host is elsewhere: the data ports open to exactly those hosts (DataFirewall). */
          readonly firewall?: { readonly allowed: readonly string[]; readonly ports: readonly number[]; readonly inInterface?: string; readonly containerPorts?: readonly number[] };
          /** `berth:accessories` on this host (components/data/accessory.ts), each published on `address` at its port slot (`hostPort`). */
          readonly accessories: readonly AccessoryConfig[];
      }
    | {
          readonly kind: "external";
          /** Where the external role is managed from (`postgresAdminUrl` set): the release host. */
          readonly roleHost?: PlanHost;
          readonly postgresAdminUrl?: string;
          readonly postgresUrl?: string;
          readonly redisUrl?: string;
      };

export interface Plan {
    /** The validated configuration the plan was made from (stack-wide settings). */
    readonly config: BerthConfig;
    /** Every host, in `berth:hosts` order. */
    readonly hosts: readonly PlanHost[];
    /** The first web host (the only host of a `berth:host` stack). */
    readonly first: PlanHost;
    /** Hosts that run the app (web or worker). */
    readonly apps: readonly PlanHost[];
    readonly webs: readonly PlanHost[];
    /** The host running the release command. */
    readonly releaseHost: PlanHost;
    /** Several app hosts: build everywhere, one release command, every host prepares before any switches. */
    readonly fleet: boolean;
    /** The WireGuard mesh joins every host. */
    readonly mesh: boolean;
    readonly data: DataPlan;
    /** With `berth:backup` and a data host: where backups run; `apart` when that is not the release host. */
    readonly backup?: { readonly host: PlanHost; readonly apart: boolean };
    /** With `berth:schedules`: the timers, on the release host only (once per stack). */
    readonly schedules?: { readonly host: PlanHost; readonly list: readonly ScheduleConfig[] };
    /** Sites: every host name and its https:// URL; Cloudflare records when `dns.enabled`. */
    readonly sites: { readonly hostnames: readonly string[]; readonly urls: readonly string[]; readonly dns: boolean; readonly proxied: boolean };
    /** The app's preset (lib/presets). */
    readonly preset: Preset;
}

/** The plan of a validated configuration. */
export function plan(config: BerthConfig): Plan {
    const firstName = webHosts(config)[0].name;
    const releaseName = releaseHost(config).name;
    const entry = (h: HostConfig): PlanHost => {
        const has = (r: Role) => h.roles.includes(r);
        const release = !config.multiHost || has("worker") ? config.release : Object.freeze({ ...config.release, workerCommand: undefined });
        return Object.freeze({
            name: h.name,
            host: h,
            roles: h.roles,
            web: has("web"),
            worker: has("worker"),
            data: has("data"),
            app: has("web") || has("worker"),
            runsReleaseCommand: h.name === releaseName,
            firstWeb: h.name === firstName,
            release,
            processes: has("web") || has("worker") ? processesOn({ processes: config.processes, host: h, release }) : [],
            resourceName: (base: string) => perHostName(config, base, h),
            aliases: (base: string) => perHostAliases(config, base, h),
        });
    };
    const hosts = config.hosts.map(entry);
    const byName = (name: string) => hosts.find((h) => h.name === name)!;
    const apps = appHosts(config).map((h) => byName(h.name));
    const rh = byName(releaseName);
    const d = dataHost(config);
    const data = dataPlan(config, apps, d && byName(d.name), rh);
    return Object.freeze({
        config,
        hosts,
        first: byName(config.host.name),
        apps,
        webs: webHosts(config).map((h) => byName(h.name)),
        releaseHost: rh,
        fleet: apps.length > 1,
        mesh: config.mesh.enabled,
        data,
        backup: backupPlan(config, d && byName(d.name), rh),
        schedules: Object.keys(config.schedules).length > 0 ? { host: rh, list: Object.values(config.schedules) } : undefined,
        sites: { hostnames: config.hostnames, urls: config.hostnames.map((h) => `https://${h}`), dns: config.dns.enabled, proxied: config.dns.proxied },
        preset: presetOf(config),
    });
}

/** Backups run where the database is: the data host, or (berth:database sqlite) the one app host. */
function backupPlan(config: BerthConfig, d: PlanHost | undefined, rh: PlanHost): Plan["backup"] {
    const h = config.database === "sqlite" ? rh : d;
    return config.backup && h ? { host: h, apart: h.name !== rh.name } : undefined;
}

/** Postgres and Redis: containers on the data host `d`, or external services (the role managed from the release host). */
function dataPlan(config: BerthConfig, apps: readonly PlanHost[], d: PlanHost | undefined, rh: PlanHost): DataPlan {
    if (!d) {
        const e = config.external;
        return { kind: "external", roleHost: e.postgresAdminUrl ? rh : undefined, postgresAdminUrl: e.postgresAdminUrl, postgresUrl: e.postgresUrl, redisUrl: e.redisUrl };
    }
    // Accessories run on the data host (lib/config.ts refuses any other); their ports join Postgres's and Redis's.
    const accessories = Object.values(config.accessories).filter((a) => a.hosts.includes(d.name));
    const firewall = dataIsRemote(config)
        ? {
              allowed: apps.filter((h) => h.name !== d.name).map((h) => h.host.privateAddress!),
              ports: [config.postgres.port, config.redis.port, ...accessories.map((a) => a.hostPort)],
              inInterface: config.mesh.enabled ? meshNames(config).iface : undefined,
              containerPorts: accessories.length > 0 ? [...DATA_CONTAINER_PORTS, ...accessories.map((a) => a.port)] : undefined,
          }
        : undefined;
    return { kind: "containers", host: d, address: dataAddress(config), firewall, accessories };
}

/**
 * A component's narrow Args: exactly `keys` of the configuration, with the
 * per-host settings (`host`, `release`) taken from the host's plan entry.
 */
export function argsFor<K extends keyof BerthConfig>(p: Plan, h: PlanHost, keys: readonly K[]): Pick<BerthConfig, K> {
    const perHost: Partial<BerthConfig> = { host: h.host, release: h.release };
    return Object.fromEntries(keys.map((k) => [k, k in perHost ? perHost[k] : p.config[k]])) as Pick<BerthConfig, K>;
}

/**
 * The whole configuration as seen from one host of the plan, for the CLI
 * (cli/), which calls script builders with a full configuration: `host` is
 * that host and `release` is the release as it runs there (no worker command
 * without the worker role). Components never use it: they take narrow Args
 * (`argsFor`).
 */
export function hostView(p: Plan, h: PlanHost): BerthConfig {
    return h.name === p.first.name && !p.config.multiHost ? p.config : Object.freeze({ ...p.config, host: h.host, release: h.release });
}

/** `hostView` of the host named `name` (undefined when the stack has none). */
export function viewOf(config: BerthConfig, name: string): BerthConfig | undefined {
    const p = plan(config);
    const h = p.hosts.find((x) => x.name === name);
    return h && hostView(p, h);
}

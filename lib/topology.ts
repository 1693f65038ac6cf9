/**
 * The stack's topology: which host runs what. Pure functions of the
 * validated configuration (lib/config.ts); components ask these, never
 * `cfg.hosts` directly.
 *
 * A stack with `berth:host` has one host, "main", with every role; its
 * resources keep the names (and URNs) they had before berth knew several
 * hosts. A stack with `berth:hosts` names each host's resources after the
 * host (`<id>-host-<name>`, ...), and the first web host also carries the
 * single-host names as `aliases`, so a stack that grows from `berth:host` to
 * `berth:hosts` keeps its first host's resources.
 */
import type { BerthConfig, HostConfig, Role } from "./config";

export function hostsWith(cfg: Pick<BerthConfig, "hosts">, role: Role): HostConfig[] {
    return cfg.hosts.filter((h) => h.roles.includes(role));
}

/** Hosts that run the app (web or worker): each gets the release, env file and units. */
export function appHosts(cfg: Pick<BerthConfig, "hosts">): HostConfig[] {
    return cfg.hosts.filter((h) => h.roles.includes("web") || h.roles.includes("worker"));
}

export function webHosts(cfg: Pick<BerthConfig, "hosts">): HostConfig[] {
    return hostsWith(cfg, "web");
}

/** The host running the Postgres and Redis containers, if any (else external data). */
export function dataHost(cfg: BerthConfig): HostConfig | undefined {
    return hostsWith(cfg, "data")[0];
}

/** The one host that runs the release command (migrations): the first web host. */
export function releaseHost(cfg: BerthConfig): HostConfig {
    return webHosts(cfg)[0];
}

export function has(host: HostConfig, role: Role): boolean {
    return host.roles.includes(role);
}

/**
 * Name of a per-host component: the single-host name on a `berth:host`
 * stack, `<base>-<host>` on a `berth:hosts` stack.
 */
export function perHostName(cfg: BerthConfig, base: string, host: HostConfig): string {
    return cfg.multiHost ? `${base}-${host.name}` : base;
}

/**
 * `aliases` for a per-host component: the first web host of a `berth:hosts`
 * stack answers to the single-host name, so its resources (whose names
 * start with the component's name, see the SDK's inherited child aliases)
 * are adopted rather than replaced when a stack moves to `berth:hosts`.
 */
export function perHostAliases(cfg: BerthConfig, base: string, host: HostConfig): { name: string }[] {
    return cfg.multiHost && host.name === webHosts(cfg)[0].name ? [{ name: base }] : [];
}

/**
 * Address the data services listen on, and app hosts connect to: loopback
 * on a single host; the data host's private (provider or mesh) address on a
 * multi-host stack.
 */
export function dataAddress(cfg: BerthConfig): string {
    const d = dataHost(cfg);
    return d?.privateAddress && dataIsRemote(cfg) ? d.privateAddress : "127.0.0.1";
}

/** True when some app host is not the data host: the data path crosses the private network. */
export function dataIsRemote(cfg: BerthConfig): boolean {
    const d = dataHost(cfg);
    return d !== undefined && appHosts(cfg).some((h) => h.name !== d.name);
}

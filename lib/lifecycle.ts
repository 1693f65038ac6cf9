/**
 * What `pulumi destroy` (and a replacement, or a resource dropped from the
 * program) may do to each kind of resource: the one place that decides it.
 * Every component takes its resource options from `lifecycle(cfg, kind)`.
 *
 * On a production stack (`berth:production`) nothing berth declares is ever
 * taken down by the engine, so `pulumi destroy -s production` leaves the site
 * answering HTTPS and the data in place:
 *
 * - `command` (every remote.Command: packages, ssh hardening, firewall,
 *   docker engine, app user, env file, units, deploy key, release checkout and
 *   command, certificate, nginx sites, switch, role): `retainOnDelete`, and
 *   `remoteScript` registers no `delete` script for a retained command (so a
 *   later `pulumi state unprotect`/option change cannot run one either). The
 *   engine only forgets them; what they made stays on the host.
 * - `dnsRecord` (Cloudflare) and `password` (random): `retainOnDelete`: the
 *   records keep pointing at the host; the passwords the running services use
 *   are only forgotten.
 * - `container` and `network` (Docker): `protect` while `berth:protect` is
 *   true (default: `berth:production`). The engine refuses to delete them (the
 *   destroy fails for them and carries on with the rest) and they keep running.
 *   Replacing one (an image bump, a Redis password rotation, a changed port)
 *   is then refused too: set `berth:protect` false for that one `pulumi up`
 *   (unprotect + replace in one update is allowed), then unset it again.
 * - `volume`: `protect` and `retainOnDelete` on production, whatever
 *   `berth:protect` says: the data outlives even an unprotected destroy.
 *
 * Non-production stacks get no such options (destroy removes everything),
 * except containers/network when `berth:protect` is set true explicitly.
 */
import type { BerthConfig } from "./config";

export type ResourceKind = "command" | "dnsRecord" | "password" | "container" | "network" | "volume";

export interface Lifecycle {
    /** The engine refuses to delete or replace the resource. */
    readonly protect?: boolean;
    /** Delete (destroy, replace, removal) only forgets the resource. */
    readonly retainOnDelete?: boolean;
}

export function lifecycle(cfg: Pick<BerthConfig, "production" | "protect">, kind: ResourceKind): Lifecycle {
    switch (kind) {
        case "command":
        case "dnsRecord":
        case "password":
            return cfg.production ? { retainOnDelete: true } : {};
        case "container":
        case "network":
            return cfg.protect ? { protect: true } : {};
        case "volume":
            return cfg.production ? { protect: true, retainOnDelete: true } : {};
    }
}

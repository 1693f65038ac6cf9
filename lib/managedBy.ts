/**
 * The header lines of the files berth writes on a host. Apart from
 * lib/remote.ts (which re-exports them) so that what only renders text —
 * the unit builders the CLI reads (`berth status`, `rollback`, ...) — does
 * not load the Pulumi SDK.
 */
import type { BerthConfig } from "./config";

/** The first line of every file berth writes on a host. */
export function managedBy(cfg: Pick<BerthConfig, "project" | "stack">, comment = "#"): string {
    return `${comment} Managed by berth (project ${cfg.project}, stack ${cfg.stack}). Changes are overwritten by pulumi up.`;
}

/**
 * The header of a host-wide file (one path per host whatever the stack, e.g.
 * apt's periodic settings): every berth stack on the host writes the same
 * text, so two stacks sharing a host do not rewrite it in turn and neither
 * one's `verify` reports the other's header as drift.
 */
export function managedByHost(comment = "#"): string {
    return `${comment} Managed by berth (host-wide: every berth stack on this host writes this same file). Changes are overwritten by pulumi up.`;
}

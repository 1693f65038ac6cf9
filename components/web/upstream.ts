/**
 * The nginx upstream of a stack, apart from the site component
 * (components/web/nginxSite.ts re-exports it) so that the switch's scripts,
 * which the CLI builds too (`berth rollback`), load no Pulumi SDK.
 */
import type { BerthConfig } from "../../lib/config";
import { managedBy } from "../../lib/managedBy";

type UpstreamScope = Pick<BerthConfig, "project" | "stack" | "names">;

/** nginx identifier for this stack (upstream, shm zone, map variables). */
export function nginxIdent(cfg: Pick<UpstreamScope, "names">): string {
    return `berth_${cfg.names.id.replace(/-/g, "_")}`;
}

/**
 * The upstream file (owned by the switch once it exists): one stable
 * address, the symlink `names.webSocket` that the switch points at the
 * serving instance's socket. nginx resolves the path at every connect, so a
 * switch moves new requests without a reload (a reload closes client
 * connections mid-request). No upstream `keepalive`: a cached connection
 * would keep sending requests to the old instance after a switch; a unix
 * socket connect costs next to nothing.
 */
export function upstreamFile(cfg: UpstreamScope): string {
    return [
        managedBy(cfg),
        `upstream ${nginxIdent(cfg)} {`,
        `    server unix:${cfg.names.webSocket} max_fails=0;`,
        "}",
        "",
    ].join("\n");
}

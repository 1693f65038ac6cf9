/**
 * A data host that moves to another machine under the same resource names
 * (`berth:host` set to a new VPS, or a `berth:hosts` entry's address changed):
 * the Docker provider of the data services keeps its URN, so Pulumi updates
 * it in place to the new host and keeps its id (pulumi/pulumi
 * pkg/resource/deploy/providers/registry.go Update), and every container,
 * volume, network and image under it keeps its provider reference and is
 * diffed on its own inputs, which did not change: nothing is created on the
 * new host (its app would have no database), and the state would keep
 * describing the old host's objects through a provider that now points at the
 * new one (a later replace or destroy would act on the new host). The
 * bridge's DiffConfig never asks to replace the provider (pulumi-terraform-
 * bridge pkg/tfbridge/provider.go configDiffer: pulumi-docker marks no key
 * ForcesProviderReplace). `berth prepare` (run before every preview and up)
 * therefore refuses such a change, naming the state edit of README "Moving a
 * stack to a new VPS": forget the old host's Docker resources
 * (`pulumi state delete --target-dependents`), then up creates them on the new
 * host and the data is restored there from the dump.
 */
import type { BerthConfig } from "./config";
import { dockerHost } from "./names";
import { plan } from "./plan";
import type { StateResource } from "./sshIdentity";
import { urnName } from "./urn";

/** One problem per Docker provider of the state that this configuration points at another host; empty when none. */
export function dataHostMoves(cfg: BerthConfig, resources: readonly StateResource[]): string[] {
    const p = plan(cfg);
    if (p.data.kind !== "containers") return [];
    const h = p.data.host;
    const base = `${cfg.names.id}-data`;
    // The provider's name under the data services component (components/data/dataServices.ts `${name}-engine`), and its aliases' names.
    const names = new Set([h.resourceName(base), ...h.aliases(base).map((a) => a.name)].map((n) => `${n}-engine`));
    const want = dockerHost(h);
    const key = cfg.multiHost ? `berth:hosts (${h.name})` : "berth:host";
    const out: string[] = [];
    for (const r of resources) {
        if (r.type !== "pulumi:providers:docker" || r.delete || !r.urn || !names.has(urnName(r.urn))) continue;
        const had = r.inputs?.host;
        if (typeof had !== "string" || had === want) continue;
        out.push(
            [
                `${key}: the data services' Docker resources (Postgres, Redis, their volumes${Object.keys(cfg.accessories).length ? ", accessories" : ""}) are recorded on ${had}, and this configuration points their provider at ${want}.`,
                "Pulumi would update the provider in place and keep them as recorded: nothing would be created on the new host, and the state would describe the old host's data through a provider that reaches the new one.",
                `Move the data as README "Moving a stack to a new VPS" says: maintenance on, dump, then forget the old host's Docker resources (they stay on the old host, untouched):`,
                `  pulumi state delete --target-dependents --force --yes --stack ${cfg.stack} '${r.urn}'`,
                "then berth prepare, pulumi up and the restore on the new host.",
            ].join("\n"),
        );
    }
    return out;
}

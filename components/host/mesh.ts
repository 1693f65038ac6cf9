/**
 * Mesh: a WireGuard network between a stack's hosts (`berth:mesh`, used when
 * the hosts have no provider private network). Each host gets the mesh
 * address config gave it (`HostConfig.privateAddress`, from its name), one
 * interface per stack (`bm-<8 hex>`, components/host/meshScripts.ts) and a peer entry for every
 * other host; the data host publishes Postgres and Redis on its mesh address
 * and components/data/dataFirewall.ts admits only the app hosts.
 *
 * Two remote commands per member:
 * - `<name>-<host>-key`: packages (wireguard-tools, wireguard-go), the
 *   host's private key (made there, 0600 root, never printed), and the public
 *   key on stdout, which the other members' configs use;
 * - `<name>-<host>-config`: `/etc/wireguard/<iface>.conf` (0600; the host
 *   puts its private key in from the key file), ufw open for the mesh port
 *   from the peers' public addresses only, `wg-quick@<iface>` enabled and
 *   (re)started or reloaded only when the file changed.
 *
 * A change in the peer list (a host added, removed or readdressed) changes
 * every other member's config script, so exactly those configs update.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import {
    meshConfigDeleteScript,
    meshConfigScript,
    meshKeyDeleteScript,
    meshKeyScript,
    meshKeysMissingScript,
    publicKeyFromOutput,
} from "./meshScripts";
import { Connection, remoteScript } from "../../lib/remote";

/** What the mesh builders read of the configuration: the stack, the member host, the mesh settings. */
export const MESH_SCOPE = ["project", "stack", "production", "protect", "names", "host", "mesh"] as const;
export type MeshMemberScope = Pick<BerthConfig, (typeof MESH_SCOPE)[number]>;

export interface MeshMember {
    /** The member's settings (lib/plan.ts: `cfg.host` is the member host). */
    cfg: MeshMemberScope;
    /** The member's SSH connection (its Host's). */
    connection: pulumi.Input<Connection>;
    /** What must be done on the host first (its Host's `ready`: packages, ufw). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export interface MeshArgs {
    /** Every host of the stack, each with its settings, connection and readiness. */
    members: MeshMember[];
}

export class Mesh extends pulumi.ComponentResource {
    /** Per host name: the commands after which that host's end of the mesh is up. */
    public readonly ready: Record<string, pulumi.Resource[]>;
    /** Per host name: its WireGuard public key (not secret; "" when its key step printed none). */
    public readonly publicKeys: Record<string, pulumi.Output<string>>;
    public readonly keys: Record<string, command.remote.Command>;
    public readonly configs: Record<string, command.remote.Command>;

    constructor(name: string, args: MeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:host:Mesh", name, {}, opts);
        const members = args.members;
        checkMembers(name, members);

        this.ready = {};
        this.publicKeys = {};
        this.keys = {};
        this.configs = {};
        const identity = (m: MeshMember) => `${name}-${m.cfg.host.name}`;

        for (const m of members) {
            const h = m.cfg.host;
            const key = remoteScript(
                `${name}-${h.name}-key`,
                {
                    connection: m.connection,
                    sudo: h.sudo,
                    create: meshKeyScript(m.cfg, identity(m)),
                    delete: meshKeyDeleteScript(m.cfg, identity(m)),
                    lifecycle: lifecycle(m.cfg, "command"),
                },
                { parent: this, dependsOn: m.dependsOn },
            );
            this.keys[h.name] = key;
            this.publicKeys[h.name] = key.stdout.apply((out) => publicKeyFromOutput(out) ?? "");
        }

        for (const m of members) {
            const h = m.cfg.host;
            const others = members.filter((o) => o !== m);
            const create = configScript(m, others, this.publicKeys, identity(m));
            const config = remoteScript(
                `${name}-${h.name}-config`,
                {
                    connection: m.connection,
                    sudo: h.sudo,
                    create,
                    delete: meshConfigDeleteScript(m.cfg, identity(m)),
                    lifecycle: lifecycle(m.cfg, "command"),
                },
                { parent: this, dependsOn: [...m.dependsOn, this.keys[h.name], ...others.map((o) => this.keys[o.cfg.host.name])] },
            );
            this.configs[h.name] = config;
            this.ready[h.name] = [this.keys[h.name], config];
        }

        this.registerOutputs({
            publicKeys: this.publicKeys,
        });
    }
}

/** A mesh's members: each host once, all of one stack, each with its mesh address. */
function checkMembers(name: string, members: readonly MeshMember[]): void {
    const names = members.map((m) => m.cfg.host.name);
    if (new Set(names).size !== names.length) throw new Error(`berth: mesh ${name}: a host is listed twice (${names.join(", ")})`);
    const ids = new Set(members.map((m) => `${m.cfg.project}/${m.cfg.stack}`));
    if (ids.size > 1) throw new Error(`berth: mesh ${name}: members from different stacks (${[...ids].join(", ")})`);
    for (const m of members) {
        if (m.cfg.host.privateAddress === undefined) throw new Error(`berth: mesh ${name}: host ${m.cfg.host.name} has no mesh address`);
    }
}

/**
 * A member's config script, from the other members' public keys; if a key
 * step printed none, a script that fails on the host, naming it.
 */
function configScript(m: MeshMember, others: readonly MeshMember[], publicKeys: Record<string, pulumi.Output<string>>, identity: string): pulumi.Output<string> {
    return pulumi.all(others.map((o) => publicKeys[o.cfg.host.name])).apply((keys) => {
        const missing = others.filter((_, i) => keys[i] === "").map((o) => o.cfg.host.name);
        if (missing.length > 0) return meshKeysMissingScript(m.cfg, missing);
        const peers = others.map((o, i) => ({
            name: o.cfg.host.name,
            address: o.cfg.host.address,
            privateAddress: o.cfg.host.privateAddress!,
            publicKey: keys[i],
        }));
        return meshConfigScript(m.cfg, peers, identity);
    });
}

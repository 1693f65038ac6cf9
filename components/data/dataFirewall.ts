/**
 * DataFirewall: on the data host of a multi-host stack, Postgres, Redis and
 * the accessories (components/data/accessory.ts) are published by Docker on
 * the host's private address (provider network or
 * the WireGuard mesh). Docker's published ports bypass ufw (DNAT in
 * PREROUTING, then FORWARD through Docker's own chains), so this filters them
 * in DOCKER-USER: new connections to the published ports only from the app
 * hosts' private addresses (and, on the mesh, only through the mesh
 * interface), everything else to them dropped, as are connections routed
 * straight to the containers' addresses.
 *
 * One remote command installs a dedicated chain's script and a oneshot unit
 * that re-applies it before every docker start (reboot, `systemctl restart
 * docker`); the chain is replaced atomically (iptables-restore --noflush), so
 * re-running never duplicates a rule and never leaves a gap. The containers
 * bind to the private address only, so nothing listens on the public address
 * and ufw needs no rule for them.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { dataFirewallDeleteScript, dataFirewallInstallScript } from "../host/meshScripts";
import { Connection, remoteScript } from "../../lib/remote";

/** What the builders read of the configuration: the stack, the data host. */
export const DATA_FIREWALL_SCOPE = ["project", "stack", "production", "protect", "names", "host", "mesh"] as const;
export type DataFirewallScope = Pick<BerthConfig, (typeof DATA_FIREWALL_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface DataFirewallArgs extends DataFirewallScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** Private addresses of the app hosts. */
    allowed: pulumi.Input<string[]>;
    /** Published host ports: postgres, redis, then each accessory's port slot (lib/plan.ts `data.firewall.ports`). */
    ports: number[];
    /** Mesh only: the interface allowed connections arrive on (lib/plan.ts: `meshNames(cfg).iface`). */
    inInterface?: string;
    /** Ports inside the containers (default 5432 and 6379; with accessories, theirs too: lib/plan.ts `data.firewall.containerPorts`). */
    containerPorts?: number[];
    /** What must be up on the data host first (its Host's `ready`, the mesh). */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class DataFirewall extends pulumi.ComponentResource {
    public readonly rules: command.remote.Command;
    /** Create the data containers after these. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: DataFirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:data:DataFirewall", name, {}, opts);
        const cfg: DataFirewallScope = args;
        const identity = `${name}-rules`;
        const rules = { ports: args.ports, inInterface: args.inInterface, containerPorts: args.containerPorts };
        this.rules = remoteScript(
            `${name}-rules`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: pulumi.output(args.allowed).apply((allowed) => dataFirewallInstallScript(cfg, { ...rules, allowed }, identity)),
                delete: dataFirewallDeleteScript(cfg, identity),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.ready = [this.rules];
        this.registerOutputs({ rules: this.rules.id });
    }
}

/**
 * Dns: Cloudflare records for the domain and every extra host name: an A
 * record, plus AAAA when the host has IPv6, proxied per configuration. The
 * zone is given by id or looked up by name.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudflare from "@pulumi/cloudflare";
import { BerthConfig } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";

export interface DnsArgs {
    /** Validated stack configuration (`dns.enabled` must be true). */
    config: BerthConfig;
}

export interface RecordSpec {
    /** Logical resource name suffix, stable for a host name and type. */
    key: string;
    name: string;
    type: "A" | "AAAA";
    content: string;
}

export class Dns extends pulumi.ComponentResource {
    public readonly zoneId: pulumi.Output<string>;
    public readonly records: cloudflare.DnsRecord[];

    constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:dns:Dns", name, {}, opts);
        const cfg = args.config;
        this.zoneId = cfg.dns.zoneId
            ? pulumi.output(cfg.dns.zoneId)
            : cloudflare.getZoneOutput({ filter: { name: cfg.dns.zone, match: "all" } }, { parent: this }).apply((z) => z.zoneId ?? z.id);

        this.records = recordSpecs(cfg).map(
            (r) =>
                new cloudflare.DnsRecord(
                    `${name}-${r.key}`,
                    {
                        zoneId: this.zoneId,
                        name: r.name,
                        type: r.type,
                        content: r.content,
                        proxied: cfg.dns.proxied,
                        ttl: 1,
                        comment: `berth ${cfg.project}/${cfg.stack}`,
                    },
                    { parent: this, deleteBeforeReplace: true, ...lifecycle(cfg, "dnsRecord") },
                ),
        );
        this.registerOutputs({ zoneId: this.zoneId, records: this.records.map((r) => r.name) });
    }
}

/** The records one stack owns, in a stable order. */
export function recordSpecs(cfg: BerthConfig): RecordSpec[] {
    const out: RecordSpec[] = [];
    for (const h of cfg.hostnames) {
        out.push({ key: `${h}-a`, name: h, type: "A", content: cfg.host.address });
        if (cfg.host.ipv6) out.push({ key: `${h}-aaaa`, name: h, type: "AAAA", content: cfg.host.ipv6 });
    }
    return out;
}

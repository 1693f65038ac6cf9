/**
 * Dns: Cloudflare records for the domain and every extra host name: an A
 * record per web host (round robin when there are several), plus AAAA when
 * the host has IPv6, proxied per configuration. The
 * zone is given by id or looked up by name.
 */
import * as pulumi from "@pulumi/pulumi";
import * as cloudflare from "@pulumi/cloudflare";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { webHosts } from "../../lib/topology";

/** What the builders read of the configuration: the stack, every host (the web hosts' addresses), the names and the DNS settings. */
export const DNS_SCOPE = ["project", "stack", "production", "protect", "names", "hosts", "multiHost", "hostnames", "dns"] as const;
export type DnsScope = Pick<BerthConfig, (typeof DNS_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface DnsArgs extends DnsScope {
}

export interface RecordSpec {
    /** Logical resource name suffix, stable for a host name, type and (multi-host) web host. */
    key: string;
    /** The single-host key this record had (first web host of a multi-host stack): its alias. */
    aliasKey?: string;
    name: string;
    type: "A" | "AAAA";
    content: string;
}

export class Dns extends pulumi.ComponentResource {
    public readonly zoneId: pulumi.Output<string>;
    public readonly records: cloudflare.DnsRecord[];

    constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:dns:Dns", name, {}, opts);
        const cfg: DnsScope = args;
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
                    { parent: this, deleteBeforeReplace: true, ...lifecycle(cfg, "dnsRecord"), aliases: r.aliasKey ? [{ name: `${name}-${r.aliasKey}` }] : [] },
                ),
        );
        this.registerOutputs({ zoneId: this.zoneId, records: this.records.map((r) => r.name) });
    }
}

/** The records one stack owns, in a stable order. */
export function recordSpecs(cfg: DnsScope): RecordSpec[] {
    const out: RecordSpec[] = [];
    const web = webHosts(cfg);
    for (const h of cfg.hostnames) {
        // Round robin: one record per web host (Cloudflare keeps each as its own object).
        for (const [i, host] of web.entries()) {
            const suffix = cfg.multiHost ? `-${host.name}` : "";
            const alias = (k: string) => (cfg.multiHost && i === 0 ? { aliasKey: k } : {});
            out.push({ key: `${h}-a${suffix}`, name: h, type: "A", content: host.address, ...alias(`${h}-a`) });
            if (host.ipv6) out.push({ key: `${h}-aaaa${suffix}`, name: h, type: "AAAA", content: host.ipv6, ...alias(`${h}-aaaa`) });
        }
    }
    return out;
}

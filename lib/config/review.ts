/**
 * `berth:review` and `berth:reviewSeed`: review apps (a stack `pr-<n>` per
 * pull request of the app's repository, lib/review/stackFile.ts,
 * cli/commands/review.ts).
 *
 * On staging (the source stack) `berth:review` says where review stacks
 * live: `domain` (each is served at `pr-<n>.<domain>`) and `max` (how many
 * may be open at once). A generated review stack's file carries the same
 * object plus `pr` (its number), `source` (the stack it was copied from) and
 * `productionHosts` (the addresses of the production stack's hosts when it
 * was made: the program and the policy pack refuse a review stack on one).
 * `berth:reviewSeed` (secret) is the source stack's `berth:backup`, copied:
 * the review stack's database is restored from its latest backup run
 * (components/data/reviewSeed.ts); a review stack takes no backups itself.
 *
 * `certificate`: `own` (default) gives each review stack its own lineage
 * (HTTP-01, or the stack's DNS-01); `wildcard` makes the source stack's
 * lineage also cover `*.<domain>` (DNS-01 only: a CA validates a wildcard
 * over DNS), and a review stack then requests nothing: its HTTPS site serves
 * the source stack's lineage on the same host (no issuance per pull request,
 * no CA rate limit, no wait). `certificateOf` turns that into the one fact
 * the certificate, the site and the alert check read.
 */
import { z } from "zod";
import { deriveNames } from "../names";
import { hostname, positiveInt, show, str } from "./schemas";

/** A review stack's name: `pr-<n>`. */
export const REVIEW_STACK = /^pr-([1-9][0-9]{0,6})$/;

export const ReviewSchema = z
    .object(
        {
            domain: hostname(),
            max: positiveInt(50).default(3),
            certificate: z.enum(["own", "wildcard"], { error: (iss) => `${show(iss.input)} is not a review certificate (own or wildcard)` }).default("own"),
            pr: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(1, { error: "must be 1 or more" }).optional(),
            source: str((v) => /^[a-z0-9][a-z0-9-]*$/.test(v), "a stack name").optional(),
            productionHosts: z.array(z.string({ error: "must be a string" }), { error: "must be a list of addresses" }).optional(),
        },
        { error: "must be an object" },
    )
    .strict();

export type ReviewRaw = z.infer<typeof ReviewSchema>;

/** `berth:review` as the program reads it. */
export interface ReviewConfig {
    readonly domain: string;
    readonly max: number;
    /** `own`: each review stack requests its certificate; `wildcard`: the source stack's covers `*.<domain>` and review stacks serve it. */
    readonly certificate: "own" | "wildcard";
    /** Set on a review stack: its pull request's number. */
    readonly pr?: number;
    /** The stack a review stack was copied from (staging). */
    readonly source?: string;
    /** Addresses of the production stack's hosts: a review stack may not run on any. */
    readonly productionHosts: readonly string[];
}

/**
 * Checks `berth:review` against the rest (every problem pushed, naming its
 * key): a review stack is named `pr-<n>` with that number, is never
 * production, never runs on a production host, and is served at
 * `pr-<n>.<review.domain>`; `reviewSeed` only on a review stack.
 */
export function buildReview(
    raw: { review?: ReviewRaw; reviewSeed?: unknown; domain: string },
    ctx: { stack: string; production: boolean; challenge: "http-01" | "dns-01"; hostAddresses: readonly { name: string; address: string }[] },
    errors: string[],
): ReviewConfig | undefined {
    const r = raw.review;
    if (raw.reviewSeed !== undefined && r?.pr === undefined) errors.push("berth:reviewSeed: only a review stack (berth:review.pr) is seeded from another stack's backup");
    if (!r) return undefined;
    if (r.certificate === "wildcard" && r.pr === undefined && ctx.challenge !== "dns-01") {
        errors.push(`berth:review.certificate: wildcard needs DNS-01 on this stack (a CA validates *.${r.domain} only over DNS): set berth:acme.challenge dns-01 and berth:dns01, or use own`);
    }
    if (r.certificate === "wildcard" && r.pr !== undefined && r.source === undefined) {
        errors.push("berth:review.source: a review stack under the wildcard certificate names the stack that holds it (berth review up writes it)");
    }
    if (r.pr !== undefined) {
        const m = REVIEW_STACK.exec(ctx.stack);
        if (!m || Number(m[1]) !== r.pr) errors.push(`berth:review.pr: ${r.pr} is for the stack pr-${r.pr}, not ${show(ctx.stack)}`);
        if (ctx.production) errors.push("berth:review.pr: a review stack is never production (remove berth:production)");
        const want = `pr-${r.pr}.${r.domain}`;
        if (raw.domain !== want) errors.push(`berth:domain: a review stack is served at ${want} (berth:review.domain), not ${show(raw.domain)}`);
        const prod = new Set(r.productionHosts ?? []);
        for (const h of ctx.hostAddresses) {
            if (prod.has(h.address)) errors.push(`berth:review.productionHosts: host ${h.name} (${h.address}) runs production; review stacks run on staging's hosts only`);
        }
    }
    return { domain: r.domain, max: r.max, certificate: r.certificate, pr: r.pr, source: r.source, productionHosts: r.productionHosts ?? [] };
}

/** The certificate the HTTPS site serves (BerthConfig.certificate). */
export interface SiteCertificate {
    /** certbot's lineage: `/etc/letsencrypt/live/<lineage>`. */
    readonly lineage: string;
    /**
     * Unset: this stack requests and renews the lineage (a Certificate per
     * web host) for `domains` (certbot's `-d` list). Set: a review stack
     * under that stack's wildcard; it requests nothing, and its site checks
     * the lineage covers `domains` (its own host names) before serving it.
     */
    readonly from?: string;
    readonly domains: readonly string[];
}

/**
 * The stack's host names, plus `*.<review.domain>` on a source stack with
 * `certificate: wildcard`; a review stack under such a wildcard serves its
 * source's lineage (that stack's `names.certName`, lib/names.ts).
 */
export function certificateOf(review: ReviewConfig | undefined, own: { app: string; certName: string; hostnames: readonly string[] }): SiteCertificate {
    if (review?.certificate !== "wildcard") return { lineage: own.certName, domains: own.hostnames };
    if (review.pr !== undefined && review.source !== undefined) return { lineage: deriveNames(own.app, review.source).certName, from: review.source, domains: own.hostnames };
    return { lineage: own.certName, domains: [...own.hostnames, `*.${review.domain}`] };
}

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
 */
import { z } from "zod";
import { hostname, positiveInt, show, str } from "./schemas";

/** A review stack's name: `pr-<n>`. */
export const REVIEW_STACK = /^pr-([1-9][0-9]{0,6})$/;

export const ReviewSchema = z
    .object(
        {
            domain: hostname(),
            max: positiveInt(50).default(3),
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
    ctx: { stack: string; production: boolean; hostAddresses: readonly { name: string; address: string }[] },
    errors: string[],
): ReviewConfig | undefined {
    const r = raw.review;
    if (raw.reviewSeed !== undefined && r?.pr === undefined) errors.push("berth:reviewSeed: only a review stack (berth:review.pr) is seeded from another stack's backup");
    if (!r) return undefined;
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
    return { domain: r.domain, max: r.max, pr: r.pr, source: r.source, productionHosts: r.productionHosts ?? [] };
}

/**
 * Uptime from outside (issue 19 item 6): what `.github/workflows/uptime.yml`
 * probes, read from the stack files themselves (no backend credentials):
 * every public host name of every stack (`berth:domain` and
 * `berth:extraHostnames`) on its health path (`berth:healthPath`, /up), which
 * must answer 200, or 503 while `berth:maintenance` is true (nginx's page).
 * The host's own checks (lib/units/alerts.ts) see what only the host sees
 * (units, disks, the certificate, health through its own nginx); this sees
 * what only the outside sees: DNS, routing, the firewall, a host that is
 * down and cannot say so. Pure, except `probe`.
 */
import type { Webhook } from "./notify";

export interface UptimeTarget {
    readonly stack: string;
    readonly url: string;
    /** 200, or 503 in maintenance. */
    readonly want: number;
}

export interface UptimeResult extends UptimeTarget {
    readonly got: number | string;
    readonly ok: boolean;
}

/** The targets of one stack file's `config:` (a parsed Pulumi.<stack>.yaml). */
export function uptimeTargets(stack: string, config: Record<string, unknown> | undefined): UptimeTarget[] {
    const c = config ?? {};
    const domain = c["berth:domain"];
    if (typeof domain !== "string" || domain === "") return [];
    const extra = Array.isArray(c["berth:extraHostnames"]) ? (c["berth:extraHostnames"] as unknown[]).filter((h): h is string => typeof h === "string") : [];
    const healthPath = typeof c["berth:healthPath"] === "string" && c["berth:healthPath"] ? (c["berth:healthPath"] as string) : "/up";
    const maintenance = c["berth:maintenance"] === true || c["berth:maintenance"] === "true";
    return [domain, ...extra].map((h) => ({ stack, url: `https://${h}${healthPath}`, want: maintenance ? 503 : 200 }));
}

/** GET with a 10 s timeout, two tries; the status, or the error's name. */
export async function probe(t: UptimeTarget, fetchFn: typeof fetch = fetch): Promise<UptimeResult> {
    let got: number | string = "no answer";
    for (let i = 0; i < 2; i++) {
        try {
            const r = await fetchFn(t.url, { redirect: "manual", signal: AbortSignal.timeout(10_000) });
            got = r.status;
            if (got === t.want) break;
        } catch (e) {
            got = (e as Error).cause ? String(((e as Error).cause as Error).message ?? (e as Error).name) : (e as Error).name;
        }
    }
    return { ...t, got, ok: got === t.want };
}

/**
 * What to post, given this run's results and the previous run's conclusion
 * (`success`, `failure`, or "" for none): an alert when something fails and
 * the previous run passed (or there was none), a "resolved" when all pass
 * after a failed run, else nothing — one message per outage, not one every
 * five minutes.
 */
export function uptimeMessage(results: readonly UptimeResult[], previous: string): { status: "firing" | "resolved"; what: string } | undefined {
    const bad = results.filter((r) => !r.ok);
    if (bad.length > 0 && previous !== "failure") return { status: "firing", what: `uptime: ${bad.map((r) => `${r.url} answered ${r.got} (want ${r.want})`).join("; ")}` };
    if (bad.length === 0 && previous === "failure") return { status: "resolved", what: `uptime: every public URL answers again (${results.length})` };
    return undefined;
}

/** The body for the webhook, in the host alerts' formats. */
export function uptimeBody(format: Webhook["format"], m: { status: string; what: string }, at: string, logs: string): string {
    const head = m.status === "firing" ? ":rotating_light: ALERT" : ":white_check_mark: RESOLVED";
    if (format === "slack") return JSON.stringify({ text: `${head} [berth] ${m.what} (since ${at}). Logs: ${logs}` });
    return JSON.stringify({ source: "berth-uptime", status: m.status, what: m.what, since: at, logs });
}

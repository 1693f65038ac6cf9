/**
 * Deploy notifications (issue 19 item 5): deploy started / succeeded /
 * failed / rolled back, with the revision and who, to the webhooks of
 * `berth:alerts`, in the same two formats as the host's alerts
 * (lib/units/alerts.ts: Slack `{"text"}`, or a flat JSON object with the
 * same fields). Sent by the deploy workflows around `pulumi up`
 * (scripts/notify-deploy.ts): a step before the up, one `if: success()`
 * and one `if: failure()` after it, so "failed" goes out whatever failed
 * (preview, policy, build, health, a killed runner step) — a notice sent
 * from the program's own remote commands could not: the engine stops at
 * the first failed resource and runs nothing after it.
 *
 * Pure, except `postNotice` (one POST per webhook, 10 s each, the URL never
 * printed).
 */
import * as os from "node:os";

export type DeployEvent = "started" | "succeeded" | "failed" | "rolled back";

export interface DeployNotice {
    readonly app: string;
    readonly stack: string;
    readonly event: DeployEvent;
    /** The commit being deployed (or "" when not resolved yet). */
    readonly revision: string;
    /** GITHUB_ACTOR in CI, else the local user. */
    readonly who: string;
    /** ISO time of the notice. */
    readonly at: string;
    /** Where to look: the CI run's URL, else the `berth status` command. */
    readonly logs: string;
}

export interface Webhook {
    readonly url: string;
    readonly format: "slack" | "json";
}

const ICON: Record<DeployEvent, string> = { started: ":rocket:", succeeded: ":white_check_mark:", failed: ":x:", "rolled back": ":leftwards_arrow_with_hook:" };

/** What the notice says, one line. */
export function noticeText(n: DeployNotice): string {
    const rev = n.revision ? ` ${n.revision.slice(0, 12)}` : "";
    return `${ICON[n.event]} [berth] deploy of ${n.app}/${n.stack}${rev} ${n.event} (by ${n.who}, ${n.at}). Logs: ${n.logs}`;
}

/** The request body for one webhook. */
export function noticeBody(format: Webhook["format"], n: DeployNotice): string {
    if (format === "slack") return JSON.stringify({ text: noticeText(n) });
    return JSON.stringify({ source: "berth", status: "deploy", event: n.event, app: n.app, stack: n.stack, revision: n.revision, who: n.who, since: n.at, what: `deploy ${n.event}`, logs: n.logs });
}

/** The webhooks of a `pulumi config get berth:alerts` value (JSON); none when unset or unreadable. */
export function webhooksOf(value: string | undefined): Webhook[] {
    if (!value) return [];
    try {
        const v = JSON.parse(value);
        const list = Array.isArray(v?.webhooks) ? v.webhooks : [];
        return list.filter((w: any) => typeof w?.url === "string").map((w: any) => ({ url: w.url, format: w.format === "json" ? "json" : "slack" }));
    } catch {
        return [];
    }
}

/** Who deploys: the CI actor, else the local user. */
export function deployer(env: NodeJS.ProcessEnv = process.env): string {
    if (env.GITHUB_ACTOR) return env.GITHUB_ACTOR;
    try {
        return os.userInfo().username;
    } catch {
        return env.USER ?? "unknown";
    }
}

/** The event of a workflow's outcome: a finished deploy of a `berth rollback` commit is "rolled back". */
export function eventOf(outcome: string, commitSubject = ""): DeployEvent {
    if (outcome === "started") return "started";
    if (outcome !== "succeeded" && outcome !== "success") return "failed";
    return /^berth: rollback /.test(commitSubject) ? "rolled back" : "succeeded";
}

/** POSTs the notice to every webhook; returns how many took it (the URLs are never in an error). */
export async function postNotice(hooks: readonly Webhook[], n: DeployNotice, fetchFn: typeof fetch = fetch): Promise<{ delivered: number; errors: string[] }> {
    let delivered = 0;
    const errors: string[] = [];
    for (const [i, h] of hooks.entries()) {
        try {
            const r = await fetchFn(h.url, { method: "POST", headers: { "Content-Type": "application/json" }, body: noticeBody(h.format, n), signal: AbortSignal.timeout(10_000) });
            if (r.ok) delivered++;
            else errors.push(`webhook ${i + 1} (${h.format}) answered ${r.status}`);
        } catch (e) {
            errors.push(`webhook ${i + 1} (${h.format}) not reached (${(e as Error).name})`);
        }
    }
    return { delivered, errors };
}

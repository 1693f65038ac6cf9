/**
 * `berth:alerts` and `berth:autoRollback` turned into what the host's check
 * timer needs (seconds, not minutes), with the checks that need more than
 * one key. Used by lib/config.ts `build`.
 */
import type { Raw } from "./keys";

export interface AlertsConfig {
    /** Webhooks (secret URLs): each alert is posted to every one, in its format. */
    readonly webhooks: readonly { readonly url: string; readonly format: "slack" | "json" }[];
    /** Health through nginx failing this long (s) sends an alert. */
    readonly healthFailSeconds: number;
    readonly diskPercent: number;
    readonly diskPaths: readonly string[];
    readonly certDays: number;
    /** The check timer's period (s). */
    readonly checkSeconds: number;
}

export interface AutoRollbackConfig {
    /** Only this long (s) after a switch. */
    readonly afterReleaseSeconds: number;
    /** Health failing continuously this long (s). */
    readonly failSeconds: number;
}

const seconds = (minutes: number) => Math.round(minutes * 60);

/** The alerts settings, or undefined without `berth:alerts`. */
export function alertsConfig(raw: Raw): AlertsConfig | undefined {
    const a = raw.alerts;
    if (!a) return undefined;
    return {
        webhooks: a.webhooks.map((w) => ({ url: w.url, format: w.format })),
        healthFailSeconds: seconds(a.healthFailMinutes),
        diskPercent: a.diskPercent,
        diskPaths: [...new Set(a.diskPaths)],
        certDays: a.certDays,
        checkSeconds: a.checkSeconds,
    };
}

/**
 * The automatic rollback, or undefined. It needs the alerts (the check timer
 * and the webhooks that announce it) and a kept instance to move back to:
 * the rollback window must outlast the failure it waits for, and Solid Queue
 * in Puma keeps no idle instance (components/app/switch.ts jobsInPuma).
 */
export function autoRollbackConfig(raw: Raw, errors: string[]): AutoRollbackConfig | undefined {
    const r = raw.autoRollback;
    if (!r) return undefined;
    const out = { afterReleaseSeconds: seconds(r.afterReleaseMinutes), failSeconds: seconds(r.failMinutes) };
    if (!raw.alerts) errors.push("berth:autoRollback: needs berth:alerts (its check timer watches the health, its webhooks announce the rollback)");
    if (out.failSeconds > out.afterReleaseSeconds) {
        errors.push(`berth:autoRollback.failMinutes: ${r.failMinutes} is longer than afterReleaseMinutes (${r.afterReleaseMinutes}): no failure could ever roll back`);
    }
    if (raw.rollbackWindow < out.failSeconds + (raw.alerts?.checkSeconds ?? 30)) {
        errors.push(
            `berth:autoRollback: berth:rollbackWindow (${raw.rollbackWindow}s) ends before a failure of failMinutes (${out.failSeconds}s) is seen; the kept release would be stopped first (raise rollbackWindow to at least ${out.failSeconds + (raw.alerts?.checkSeconds ?? 30)})`,
        );
    }
    if (Object.prototype.hasOwnProperty.call(raw.env, "SOLID_QUEUE_IN_PUMA")) {
        errors.push("berth:autoRollback: with SOLID_QUEUE_IN_PUMA no idle instance is kept for the rollback window (README *Day-2 operations*); remove one or the other");
    }
    return out;
}

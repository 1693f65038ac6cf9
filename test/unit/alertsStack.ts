/**
 * The example stack of berth:alerts (examples/Pulumi.alerts.yaml) as the
 * engine would hand it to the program once its user set the webhooks its
 * header documents: the two URLs are secrets (the whole berth:alerts key is
 * then secret, as Pulumi marks a key with a secure path), and the run knows
 * them, so the program tests find them in no plain input.
 */
import { BerthConfig, parseConfig } from "../../lib/config";
import { stackConfig, StackConfig } from "./harness";

export const ALERTS_FILE = "examples/Pulumi.alerts.yaml";
/** Test webhook URLs; each carries a credential-like token that must never show up in clear. */
export const SLACK_URL = "https://hooks.slack.com/services/T000TEST/B000TEST/slackTokenNeverInClear42";
export const JSON_URL = "https://ops.example.com/hooks/berth?token=jsonTokenNeverInClear42";

/** The example stack with its webhooks set (`overrides` may change the rest, e.g. berth:alerts' other fields). */
export function alertsStack(overrides: Record<string, unknown> = {}, alerts: Record<string, unknown> = {}): StackConfig {
    const sc = stackConfig("alerts", overrides, ALERTS_FILE);
    const fromFile = JSON.parse(sc.values["berth:alerts"] ?? "{}");
    const value = { ...fromFile, webhooks: [{ url: SLACK_URL, format: "slack" }, { url: JSON_URL, format: "json" }], ...alerts };
    return { ...sc, values: { ...sc.values, "berth:alerts": JSON.stringify(value) }, secretKeys: [...sc.secretKeys, "berth:alerts"], secrets: [...sc.secrets, SLACK_URL, JSON_URL] };
}

/** The validated configuration of `alertsStack`. */
export function alertsConfigFor(overrides: Record<string, unknown> = {}, alerts: Record<string, unknown> = {}): BerthConfig {
    const sc = alertsStack(overrides, alerts);
    const r = parseConfig(sc.values, { project: "berth", stack: sc.stack, secretKeys: new Set(sc.secretKeys) });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    return r.config;
}

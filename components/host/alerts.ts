/**
 * Alerts: the host watches itself (`berth:alerts`; lib/units/alerts.ts has
 * the scripts and units and says what each does). One command per host
 * installs the webhooks file (0600 root, from stdin: the URLs are the
 * secret, never in argv, a state input in clear or a golden), the sender,
 * the check and its timer, the alert unit and the `OnFailure=` drop-in; a
 * change of any rewrites only what changed. On web hosts the check also
 * watches the certificate and the health path through nginx, and with
 * `berth:autoRollback` moves traffic back to the kept release after a
 * sustained failure following a switch.
 *
 * Only stacks that set `berth:alerts` have this component (new URNs for
 * them only). Delete (outside production) stops the timer and removes
 * every file it wrote, after checking the managed-by line of the sender.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { alertNames } from "../../lib/names";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { cmd, quote, retireUnit, script, writeFile } from "../../lib/shell";
import {
    ALERT_UNITS_SCOPE,
    alertUnitFile,
    checkScript,
    checkServiceFile,
    checkTimerFile,
    onFailureDropIn,
    selfDropIn,
    senderScript,
    webhooksPayload,
} from "../../lib/units/alerts";

/** What the builders read of the configuration: the alert units' scope, and what the lifecycle reads. */
export const ALERTS_SCOPE = [...ALERT_UNITS_SCOPE, "production", "protect"] as const;
export type AlertsScope = Pick<BerthConfig, (typeof ALERTS_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface AlertsArgs extends AlertsScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** The host's packages (curl, openssl) and, on app hosts, the units the drop-in applies to. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Alerts extends pulumi.ComponentResource {
    /** Installs the webhooks file, the scripts, the units; starts the check timer. */
    public readonly command: command.remote.Command;

    constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:host:Alerts", name, {}, opts);
        const cfg: AlertsScope = args;
        this.command = remoteScript(
            `${name}-install`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: alertsScript(cfg),
                delete: alertsDeleteScript(cfg),
                stdin: webhooksPayload(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ command: this.command.id });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested, shellchecked)
// ---------------------------------------------------------------------------

/** Every file the install writes: path -> [content, mode] (the webhooks file aside: it comes from stdin). */
export function alertFiles(cfg: AlertsScope): Record<string, readonly [string, string]> {
    const a = alertNames(cfg.names);
    return {
        [a.sender]: [senderScript(cfg), "0700"],
        [a.check]: [checkScript(cfg), "0700"],
        [`/etc/systemd/system/${a.alertUnit}.service`]: [alertUnitFile(cfg), "0644"],
        [`/etc/systemd/system/${a.checkUnit}.service`]: [checkServiceFile(cfg), "0644"],
        [`/etc/systemd/system/${a.checkUnit}.timer`]: [checkTimerFile(cfg), "0644"],
        [a.dropIn]: [onFailureDropIn(cfg), "0644"],
        [a.selfDropIn]: [selfDropIn(cfg), "0644"],
    };
}

/**
 * The webhooks from stdin into a 0600 file (replaced only when it differs),
 * the scripts and units, one daemon-reload when a unit changed, the timer
 * enabled and started.
 */
export function alertsScript(cfg: AlertsScope): string {
    const a = alertNames(cfg.names);
    const files = alertFiles(cfg);
    const dirs = [...new Set(Object.keys(files).map((f) => f.slice(0, f.lastIndexOf("/"))))].filter((d) => d.startsWith("/etc/systemd/system/"));
    return script(
        cmd("install", "-d", "-m", "0700", a.etc, a.stateDir),
        cmd("install", "-d", "-m", "0755", ...dirs),
        "changed=0",
        `tmp=$(mktemp ${quote(`${a.webhooks}.berth.XXXXXX`)})`,
        'cat > "$tmp"',
        `if [ ! -s "$tmp" ]; then rm -f "$tmp"; echo ${quote("berth: berth:alerts names no webhook (nothing on stdin)")} >&2; exit 64; fi`,
        'chmod 0600 "$tmp"',
        `if cmp -s "$tmp" ${quote(a.webhooks)}; then rm -f "$tmp"; else mv -f "$tmp" ${quote(a.webhooks)}; echo ${quote(`berth: webhooks of ${cfg.names.id} updated`)}; fi`,
        Object.entries(files).map(([path, [content, mode]]) => writeFile(path, content, { mode })),
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
        cmd("systemctl", "enable", "--quiet", `${a.checkUnit}.timer`),
        // restart, not start: a changed check interval takes effect now.
        'if [ "$changed" = 1 ]; then ' + cmd("systemctl", "restart", `${a.checkUnit}.timer`) + "; else " + cmd("systemctl", "start", `${a.checkUnit}.timer`) + "; fi",
        `echo ${quote(`berth: alerts of ${cfg.names.id} on host ${cfg.host.name}: check every ${cfg.alerts!.checkSeconds}s, ${cfg.alerts!.webhooks.length} webhook(s)`)}`,
    );
}

/** Delete: only what this stack's install wrote (the sender's managed-by line says so). */
export function alertsDeleteScript(cfg: AlertsScope): string {
    const a = alertNames(cfg.names);
    const files = Object.keys(alertFiles(cfg));
    return script(
        `if [ -f ${quote(a.sender)} ] && ! grep -qxF ${quote(managedBy(cfg))} ${quote(a.sender)}; then echo ${quote(`berth: ${a.sender} is not this stack's; left as it is`)} >&2; exit 0; fi`,
        `${retireUnit(quote(`${a.checkUnit}.timer`))}; ${retireUnit(quote(`${a.checkUnit}.service`))}`,
        cmd("rm", "-f", ...files, a.webhooks),
        cmd("rm", "-rf", a.stateDir),
        `${cmd("rmdir", "--ignore-fail-on-non-empty", a.etc, ...new Set(files.filter((f) => f.includes(".service.d/")).map((f) => f.slice(0, f.lastIndexOf("/")))))} 2>/dev/null || true`,
        "systemctl daemon-reload",
    );
}

/**
 * `berth status`: the serving revision and slot, kept releases, units,
 * containers, schedules and certificates of one host, from one read-only
 * probe (cli/support/probe.ts); with `berth:alerts`, the host's open alerts
 * and automatic rollbacks (cli/support/alerts.ts).
 */
import { accessoryNames } from "../../lib/names";
import { alertStatusScript, alertStatusText, parseAlertStatus } from "../support/alerts";
import { parseScheduleStatus, scheduleStatusScript, scheduleStatusText, schedulesHere } from "../support/processes";
import { days, OpOutput, releasesOf, short, Stack } from "../support/stack";
import { CommandContext, print } from "../support/command";

export function status(s: Stack): OpOutput {
    const cfg = s.cfg;
    const accessories = Object.keys(cfg.accessories).map((a) => accessoryNames(cfg.names, a).container);
    // berth:database sqlite runs no Postgres container (lib/databases.ts).
    const postgres = cfg.database === "sqlite" ? [] : [cfg.names.postgresContainer];
    const p = s.probe({ units: s.statusUnits(), containers: [...postgres, cfg.names.redisContainer, ...accessories] });
    const releases = releasesOf(p);
    // berth:schedules run on the release host: their timers, last results and failure markers (cli/support/processes.ts).
    const schedules = schedulesHere(cfg) ? parseScheduleStatus(cfg, s.host.check(scheduleStatusScript(cfg), "reading the schedules")) : undefined;
    // berth:alerts: the host's open alerts and automatic rollbacks (cli/support/alerts.ts).
    const alerts = cfg.alerts ? parseAlertStatus(s.host.check(alertStatusScript(cfg), "reading the alerts")) : undefined;
    const certs = Object.fromEntries(cfg.hostnames.map((h) => [h, { notAfter: p.certs[h]?.notAfter ?? null, daysLeft: days(p.certs[h]?.notAfter) ?? null }]));
    const data = {
        stack: cfg.stack,
        app: cfg.app,
        host: cfg.host.address,
        urls: cfg.hostnames.map((h) => `https://${h}`),
        revision: { configured: cfg.release.revision, serving: p.revision ?? null, slot: p.color ?? null },
        maintenance: p.maintenance ?? false,
        slots: Object.fromEntries(["blue", "green"].map((c) => [c, { release: p.slots[c]?.split("/").pop() ?? null, unit: p.units[`${cfg.names.webUnit}${c}.service`] ?? null }])),
        releases,
        units: p.units,
        containers: p.containers,
        certificates: certs,
        ...(schedules ? { schedules } : {}),
        ...(alerts ? { alerts } : {}),
    };
    const text = [
        `stack ${cfg.stack} (${cfg.names.id}) on ${cfg.host.address}: ${data.urls.join(" ")}`,
        `serving    ${p.revision ?? "nothing"} on ${p.color ?? "-"}   (berth:revision ${cfg.release.revision})`,
        `maintenance ${data.maintenance ? "on" : "off"}`,
        ...(alerts ? alertStatusText(alerts) : []),
        "slots",
        ...["blue", "green"].map((c) => `  ${c.padEnd(6)} ${short(p.slots[c]?.split("/").pop())}  ${p.units[`${cfg.names.webUnit}${c}.service`]?.active ?? "-"}${c === p.color ? "  (serving)" : ""}`),
        `releases (keeps ${cfg.release.keepReleases})`,
        ...releases.map((r) => `  ${r.serving ? "*" : " "} ${r.sha}  ${r.builtAt}${r.slots.length ? `  slot ${r.slots.join(",")}` : ""}${r.built ? "" : "  (not built)"}`),
        "units",
        ...Object.entries(p.units).map(([u, st]) => `  ${u.padEnd(40)} ${st.active.padEnd(10)} ${st.enabled}`),
        ...(schedules ? scheduleStatusText(schedules) : []),
        "containers",
        ...Object.entries(p.containers).map(([c, st]) => `  ${c.padEnd(40)} ${st.status.padEnd(10)} ${st.health || "-"}  ${st.tags.join(" ")}`),
        "certificates",
        ...Object.entries(certs).map(([h, c]) => `  ${h.padEnd(40)} ${c.notAfter ? `expires ${c.notAfter} (${c.daysLeft} days)` : "none served"}`),
    ];
    return { code: 0, text, data };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, status(c.s));
}

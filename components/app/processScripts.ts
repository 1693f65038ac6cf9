/**
 * The process types' shell lines the switch runs (start, restart, stop the
 * instances), apart from the Processes component (components/app/processes.ts
 * re-exports them) so that the switch's scripts, which the CLI builds too
 * (`berth rollback`), load no Pulumi SDK.
 */
import type { BerthConfig, ProcessConfig } from "../../lib/config";
import { processUnitNames } from "../../lib/names";
import { Lines, quote, retireUnit } from "../../lib/shell";
import { processesOn } from "../../lib/units/process";

export type ProcessScope = Pick<BerthConfig, "project" | "stack" | "names" | "host" | "release" | "processes">;

/**
 * `instances <template>` (`berth-<id>-<process>@`): every instance systemd
 * has loaded (running, failed or stopped) or that is enabled, one per line.
 */
export function instancesFunction(): string {
    return [
        "instances() {",
        `  { systemctl list-units --all --plain --no-legend --full "$1*.service" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]service$/) { print $i; break } }'`,
        `    find /etc/systemd/system -path "*.wants/$1*.service" -printf '%f\\n' 2>/dev/null; } | sort -u`,
        "}",
    ].join("\n");
}

/** Stops and disables every instance of this host's process types and removes their units. */
export function processStopLines(cfg: ProcessScope): Lines {
    return [processHaltLines(cfg), processesOn(cfg).map((p) => `rm -f ${quote(processUnitNames(cfg.names, p.name, p.count).unitPath)}`)];
}

/** Stops and disables every instance of this host's process types (the switch's destroy; the units stay). Needs `instances`. */
export function processHaltLines(cfg: ProcessScope): Lines {
    return processesOn(cfg).map((p) => `for u in $(instances ${quote(processUnitNames(cfg.names, p.name, p.count).unit)}); do ${retireUnit('"$u"')}; done`);
}

/**
 * The switch's part, after the release is current: per process type,
 * instances 1..count enabled and restarted on the new release (a restart
 * stops the old process before the new one starts: never two of one
 * instance), then every other instance (above the count, or a count of 0)
 * stopped and disabled. Needs `instances` (instancesFunction).
 */
export function processSwitchLines(cfg: ProcessScope): Lines {
    return processesOn(cfg).map((p: ProcessConfig) => {
        const u = processUnitNames(cfg.names, p.name, p.count);
        const list = u.instances.map(quote).join(" ");
        return [
            p.count > 0 && [`systemctl enable --quiet ${list}`, `systemctl restart ${list}`, `echo ${quote(`berth: ${p.name}: ${p.count} instance${p.count === 1 ? "" : "s"} on release `)}"$rev"`],
            `for u in $(instances ${quote(u.unit)}); do`,
            `  i=\${u#${quote(u.unit)}}`,
            "  i=${i%.service}",
            `  case "$i" in ''|*[!0-9]*) ;; *) if [ "$i" -ge 1 ] && [ "$i" -le ${p.count} ]; then continue; fi ;; esac`,
            `  ${retireUnit('"$u"')}`,
            `  echo "berth: stopped $u (${p.name} runs ${p.count} on this host)"`,
            "done",
        ];
    });
}

/** Every instance the switch runs on this host (for its "already running" check). */
export function processInstances(cfg: ProcessScope): string[] {
    return processesOn(cfg).flatMap((p) => [...processUnitNames(cfg.names, p.name, p.count).instances]);
}

/**
 * What `berth status` shows of `berth:alerts` on a host, read from the
 * alert state lib/units/alerts.ts's sender and check keep (root-only,
 * `alertNames().stateDir`): the open alerts (one `<key>.firing` file each,
 * written once a webhook took the alert: its since, what and logs lines),
 * the health path failing through nginx but not yet for `healthFailMinutes`
 * (`health.failing`: the failure's start, epoch seconds), and the automatic
 * rollbacks the check recorded (`alertNames().rollbacks`). One read-only
 * script printing tab-separated records, its parser and its text lines.
 */
import type { BerthConfig } from "../../lib/config";
import { alertNames } from "../../lib/names";
import { quote, script } from "../../lib/shell";

/** How many of the latest automatic rollbacks status shows. */
const ROLLBACKS_SHOWN = 5;

export interface OpenAlert {
    /** The sender's key (`unit-<unit>`, `disk-root`, `cert`, `health`...). */
    key: string;
    what: string;
    /** UTC, as the alert said it. */
    since: string;
    /** The command the alert named to read the logs. */
    logs: string;
}

export interface AutoRollback {
    /** UTC time of the move. */
    at: string;
    /** The release that failed its health path and was rolled back. */
    release: string;
    /** The kept release traffic moved back to. */
    restored: string;
    ms: number | null;
}

export interface AlertStatus {
    open: OpenAlert[];
    /** The health path has failed through nginx since then (UTC), not yet long enough to alert; null when it answers. */
    healthFailingSince: string | null;
    /** The latest automatic rollbacks, oldest first. */
    autoRollbacks: AutoRollback[];
}

/**
 * A: one record per open alert (key, since, what, logs); H: the health
 * failure's start; B: one per automatic rollback (the last few). `root`
 * prefixes every path (empty on a host; a scratch directory in the tests).
 */
export function alertStatusScript(cfg: Pick<BerthConfig, "names">, root = ""): string {
    const a = alertNames(cfg.names);
    const state = quote(`${root}${a.stateDir}`);
    return script(
        "r() { local IFS=$'\\t'; printf '%s\\n' \"$*\"; }",
        `for f in ${state}/*.firing; do`,
        '  [ -e "$f" ] || continue',
        "  k=${f##*/}",
        "  since='' what='' logs=''",
        '  { read -r since; read -r what; read -r logs; } < "$f" || true',
        "  r A \"${k%.firing}\" \"$since\" \"${what//$'\\t'/ }\" \"${logs//$'\\t'/ }\"",
        "done",
        `if [ -f ${state}/health.failing ]; then r H "$(head -c 20 ${state}/health.failing | tr -dc '0-9')"; fi`,
        `if [ -f ${quote(`${root}${a.rollbacks}`)} ]; then tail -n ${ROLLBACKS_SHOWN} ${quote(`${root}${a.rollbacks}`)} | sed 's/^/B\\t/'; fi`,
        "true",
    );
}

export function parseAlertStatus(text: string): AlertStatus {
    const out: AlertStatus = { open: [], healthFailingSince: null, autoRollbacks: [] };
    for (const line of text.split("\n")) {
        const [kind, ...f] = line.split("\t");
        if (kind === "A" && f[0]) out.open.push({ key: f[0], since: f[1] ?? "", what: f[2] ?? "", logs: f[3] ?? "" });
        else if (kind === "H" && /^\d+$/.test(f[0] ?? "")) out.healthFailingSince = new Date(Number(f[0]) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
        else if (kind === "B" && f[1]) out.autoRollbacks.push({ at: f[0], release: f[1], restored: f[2] ?? "", ms: /^\d+$/.test(f[3] ?? "") ? Number(f[3]) : null });
    }
    out.open.sort((x, y) => x.since.localeCompare(y.since) || x.key.localeCompare(y.key));
    return out;
}

/** The status lines: every open alert with its start and logs command, the health failure, the automatic rollbacks. */
export function alertStatusText(s: AlertStatus): string[] {
    return [
        s.open.length === 0 ? "alerts     none open" : `alerts     ${s.open.length} open`,
        ...s.open.map((a) => `  FIRING since ${a.since}  ${a.what}\n    logs: ${a.logs}`),
        ...(s.healthFailingSince ? [`  health failing through nginx since ${s.healthFailingSince} (not yet alerted)`] : []),
        ...s.autoRollbacks.map((b) => `automatic rollback ${b.at}: release ${b.release} rolled back to ${b.restored}${b.ms === null ? "" : ` in ${b.ms} ms`}`),
    ].flatMap((l) => l.split("\n"));
}

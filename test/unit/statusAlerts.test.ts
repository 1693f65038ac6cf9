/**
 * `berth status` on a stack with `berth:alerts` (cli/support/alerts.ts): the
 * host's open alerts and automatic rollbacks, in text and --json, from a
 * fixed host output (the records the read-only script prints, parsed by its
 * parser, as test/unit/commands.test.ts does for the probe); the script's
 * golden and shellcheck. The script against the files the real sender and
 * check write is in test/unit/alerts.test.ts ("berth status reads ..."), on
 * a VPS in test/e2e/alerts.test.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "../../cli/commands/status";
import { alertStatusScript, parseAlertStatus } from "../../cli/support/alerts";
import { parseProbe } from "../../cli/support/probe";
import type { Stack } from "../../cli/support/stack";
import { alertNames } from "../../lib/names";
import { withShebang } from "../../lib/shell";
import { redactor } from "../../cli/support/host";
import { secretStrings } from "../../cli/support/secrets";
import { alertsConfigFor, alertsStack, JSON_URL, SLACK_URL } from "./alertsStack";
import { configFor } from "./harness";
import { expectGolden, expectShellcheckClean } from "./golden";

const BAD = "b".repeat(40);
const GOOD = "9".repeat(40);
const cfg = alertsConfigFor();
const A = alertNames(cfg.names);
const t = (...f: (string | number)[]) => f.join("\t");

/** GOOD serving on green (after the automatic rollback), BAD kept on blue. */
function probeRecords(c = cfg): string {
    const root = c.names.root;
    return [
        t("S", "color", "green"),
        t("S", "revision", GOOD),
        t("S", "maintenance", "off"),
        t("R", GOOD, 1_700_000_000, 1, 1),
        t("R", BAD, 1_700_100_000, 1, 1),
        t("L", `${root}/slots/blue`, `${root}/releases/${BAD}`),
        t("L", `${root}/slots/green`, `${root}/releases/${GOOD}`),
    ].join("\n");
}

/** What the alert script prints on that host: two open alerts, health failing since 1,800,000,000 (epoch s), two rollbacks. */
const ALERT_RECORDS = [
    t("A", "unit-berth-shop-alerts-backup.service", "2026-12-07T03:20:11Z", "backup failed (berth-shop-alerts-backup.service)", "journalctl -u berth-shop-alerts-backup.service on host main (203.0.113.60)"),
    t("A", "disk-root", "2026-12-07T03:14:05Z", "disk / is 93% full (alert above 90%)", "df -h /; du -xhd1 / | sort -h | tail (on host main)"),
    t("H", "1800000000"),
    t("B", "2026-12-01T10:00:00Z", "a".repeat(40), "c".repeat(40), "91"),
    t("B", "2026-12-07T03:25:40Z", BAD, GOOD, "84"),
    "",
].join("\n");

/** A stack whose host answers the probe and, for the alert script only, ALERT_RECORDS; `scripts` records what it was asked to run. */
function fakeStack(c: ReturnType<typeof configFor>, scripts: string[] = []): Stack {
    return {
        cfg: c,
        probe: () => parseProbe(probeRecords(c)),
        statusUnits: () => [],
        host: { check: (body: string) => (scripts.push(body), body.includes(A.stateDir) ? ALERT_RECORDS : "") },
    } as unknown as Stack;
}

describe("berth status: open alerts and automatic rollbacks", () => {
    test("text: each open alert (oldest first) with its start and logs command, the health failure, the rollbacks", () => {
        const out = status(fakeStack(cfg));
        const text = out.text.join("\n");
        assert.match(text, /^alerts +2 open$/m);
        const disk = text.indexOf("FIRING since 2026-12-07T03:14:05Z  disk / is 93% full (alert above 90%)");
        const backup = text.indexOf("FIRING since 2026-12-07T03:20:11Z  backup failed (berth-shop-alerts-backup.service)");
        assert.ok(disk > 0 && backup > disk, text);
        assert.match(text, /^ {4}logs: journalctl -u berth-shop-alerts-backup\.service on host main \(203\.0\.113\.60\)$/m);
        assert.match(text, /^ {2}health failing through nginx since 2027-01-15T08:00:00Z \(not yet alerted\)$/m);
        assert.match(text, new RegExp(`^automatic rollback 2026-12-07T03:25:40Z: release ${BAD} rolled back to ${GOOD} in 84 ms$`, "m"));
        assert.ok(text.indexOf("alerts ") < text.indexOf("slots"), "the alerts come before the slots");
    });

    test("--json: alerts.open, healthFailingSince and autoRollbacks", () => {
        const data = status(fakeStack(cfg)).data as any;
        assert.deepEqual(
            data.alerts.open.map((a: any) => [a.key, a.since]),
            [
                ["disk-root", "2026-12-07T03:14:05Z"],
                ["unit-berth-shop-alerts-backup.service", "2026-12-07T03:20:11Z"],
            ],
        );
        assert.equal(data.alerts.open[1].logs, "journalctl -u berth-shop-alerts-backup.service on host main (203.0.113.60)");
        assert.equal(data.alerts.healthFailingSince, "2027-01-15T08:00:00Z");
        assert.deepEqual(data.alerts.autoRollbacks[1], { at: "2026-12-07T03:25:40Z", release: BAD, restored: GOOD, ms: 84 });
        assert.equal(data.alerts.autoRollbacks.length, 2);
    });

    test("nothing open: one line; a stack without berth:alerts neither runs the script nor shows a line", () => {
        assert.deepEqual(parseAlertStatus(""), { open: [], healthFailingSince: null, autoRollbacks: [] });
        const plain = configFor("staging");
        const scripts: string[] = [];
        const out = status(fakeStack(plain, scripts));
        assert.doesNotMatch(out.text.join("\n"), /^alerts|automatic rollback/m);
        assert.equal((out.data as any).alerts, undefined);
        assert.ok(!scripts.some((s) => s.includes("/alerts")), "no alert script on a stack without alerts");
    });

    test("golden alerts/status.sh, shellcheck; it reads only the state dir, never the webhooks file", () => {
        const text = alertStatusScript(cfg);
        expectGolden("alerts/status.sh", text);
        expectShellcheckClean("alerts/status.sh", withShebang(text));
        assert.ok(!text.includes(A.webhooks) && !text.includes(A.etc));
    });

    test("the redactor hides the webhook URLs (nested in berth:alerts) but not the disk paths the alerts name", () => {
        const sc = alertsStack({}, { diskPaths: ["/", "/srv/uploads-disk"] });
        const redact = redactor(secretStrings("berth:alerts", sc.values["berth:alerts"]));
        const text = redact(`FIRING since 2026-12-07T03:14:05Z  disk /srv/uploads-disk is 100% full\nposted to ${SLACK_URL} and ${JSON_URL}`);
        assert.match(text, /disk \/srv\/uploads-disk is 100% full/);
        assert.ok(!text.includes(SLACK_URL) && !text.includes(JSON_URL), text);
        assert.ok(!text.includes("slackTokenNeverInClear42"), text);
    });
});

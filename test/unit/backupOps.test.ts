/**
 * `berth backup now | list | download` (cli/commands/backup.ts): the host it runs
 * on, the scripts (golden + shellcheck), restic run exactly as the installed
 * backup script runs it (its `rs` read from the real script file, run with
 * bash against a stub restic), `now`'s exit status and journal, and the
 * listing of restic's JSON.
 */
import { after, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BerthConfig } from "../../lib/config";
import { backupFiles } from "../../components/data/backup";
import { backupHost, backupNowScript, checkSnapshotId, defaultDownloadName, dumpScript, listText, parseSnapshots, snapshotsScript } from "../../cli/commands/backup";
import { parseArgs } from "../../cli/main";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor } from "./harness";

const staging = configFor("staging");
const sqlite = configFor("sqlite", {}, "examples/Pulumi.sqlite.yaml");
const fleet = configFor("fleet", {}, "examples/Pulumi.fleet.yaml");
const ID = "4f3c2b1a9e8d7c6b5a4f3c2b1a9e8d7c6b5a4f3c2b1a9e8d7c6b5a4f3c2b1a9e";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "berth-backup-ops-test-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** restic's `snapshots --json` for one run of two databases and an older run. */
const SNAPSHOTS = JSON.stringify([
    { id: "1".repeat(64), time: "2026-12-01T03:00:01.123456789Z", paths: ["/postgres-shop_staging.dump"], tags: ["berth", "staging", "reason:scheduled", "run:20261201T030000Z-11", "db:shop_staging"] },
    { id: ID, time: "2026-12-02T09:10:11.5Z", paths: ["/postgres-shop_staging.dump"], tags: ["berth", "staging", "reason:release", "run:20261202T091000Z-42", `sha:${"c".repeat(40)}`, "db:shop_staging"] },
    { id: "2".repeat(64), time: "2026-12-02T09:10:12Z", paths: ["/postgres-shop_staging_queue.dump"], tags: ["berth", "staging", "reason:release", "run:20261202T091000Z-42", "db:shop_staging_queue"] },
]);

describe("berth backup: where", () => {
    test("the data host (postgres), the app host (sqlite); refused without berth:backup", () => {
        const data = fleet.hosts.find((h) => h.roles.includes("data"))!;
        if (fleet.backup) assert.equal(backupHost(fleet).host.name, data.name);
        assert.equal(backupHost(sqlite).host.name, sqlite.hosts[0].name);
        assert.throws(() => backupHost(configFor("staging", { "berth:backup": undefined })), /stack staging has no backups \(berth:backup is not set\)/);
    });
    test("the command line: now, list, download <id> --to <file>", () => {
        const p = parseArgs(["backup", "download", ID.slice(0, 8), "--to", "x.dump", "-s", "staging"]);
        assert.deepEqual([p.op, ...p.args], ["backup", "download", ID.slice(0, 8)]);
        assert.equal(p.opts.to, "x.dump");
        assert.throws(() => parseArgs(["status", "--to", "x"]), /unknown option --to/);
    });
    test("snapshot ids are hex; a dumped path is a plain absolute one", () => {
        for (const bad of ["latest", "abc", "1234567g", "$(id)"]) assert.throws(() => checkSnapshotId(bad), /is not a snapshot id/);
        assert.throws(() => dumpScript(staging, ID, "/../etc/shadow"), /unexpected path/);
        assert.throws(() => dumpScript(staging, ID, "/a b"), /unexpected path/);
        assert.equal(defaultDownloadName(ID, "/postgres-shop_staging.dump"), "4f3c2b1a-postgres-shop_staging.dump");
    });
});

describe("berth backup: the scripts", () => {
    const cases: [string, string][] = [
        ["backup-now", backupNowScript(staging)],
        ["backup-list", snapshotsScript(staging)],
        ["backup-dump", dumpScript(staging, ID, "/postgres-shop_staging.dump")],
    ];
    for (const [name, body] of cases) {
        test(`${name}: golden, shellcheck-clean`, () => {
            expectGolden(`ops/${name}.sh`, body);
            expectShellcheckClean(name, body);
        });
    }
    test("no secret in them: restic reads the root-only password file", () => {
        const secrets = [staging.backup!.password, staging.backup!.privateKey].filter(Boolean) as string[];
        assert.ok(secrets.length > 0);
        for (const [, body] of cases) for (const s of secrets) assert.ok(!body.includes(s));
    });
});

/** The installed backup script at a temp path (the real file components/data/backup.ts writes), a stub restic recording its argv. */
function withInstalledScript(cfg: BerthConfig, dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    const installed = path.join(dir, "berth-backup");
    fs.writeFileSync(installed, backupFiles(cfg)[cfg.names.backupScript][0], { mode: 0o700 });
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const log = path.join(dir, "restic.argv");
    fs.writeFileSync(path.join(bin, "restic"), `#!/bin/bash\nprintf '%s\\n' "$@" > ${JSON.stringify(log)}\necho '[]'\n`, { mode: 0o755 });
    const here = { ...cfg, names: { ...cfg.names, backupScript: installed } } as BerthConfig;
    const run = (body: string) => spawnSync("bash", ["-c", body], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    return { here, run, argv: () => fs.readFileSync(log, "utf8").split("\n").slice(0, -1) };
}

describe("berth backup: restic as the installed script runs it", () => {
    test("list runs the installed `rs`: the repository, the password file, the pinned SFTP command, then snapshots", () => {
        const w = withInstalledScript(staging, path.join(scratch, "list"));
        const r = w.run(snapshotsScript(w.here));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), "[]");
        const argv = w.argv();
        assert.deepEqual(argv.slice(0, 4), ["--repo", staging.backup!.repository, "--password-file", `${staging.names.backupEtc}/password`]);
        assert.ok(argv.some((a) => a.startsWith("sftp.command=ssh ")), argv.join(" "));
        assert.deepEqual(argv.slice(-6), ["snapshots", "--json", "--host", staging.names.id, "--tag", "berth"]);
        const dump = w.run(dumpScript(w.here, ID, "/postgres-shop_staging.dump"));
        assert.equal(dump.status, 0, dump.stderr);
        assert.deepEqual(w.argv().slice(-3), ["dump", ID, "/postgres-shop_staging.dump"]);
    });
    test("without the installed script: exit 1 naming it, restic never runs", () => {
        const w = withInstalledScript(staging, path.join(scratch, "missing"));
        const gone = { ...w.here, names: { ...w.here.names, backupScript: path.join(scratch, "missing", "nope") } } as BerthConfig;
        const r = w.run(snapshotsScript(gone));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /the backup script .*nope is not installed on host main \(pulumi up installs it\)/);
        assert.ok(!fs.existsSync(path.join(scratch, "missing", "restic.argv")));
    });
});

describe("berth backup now, run with bash against a stub systemctl", () => {
    function now(ok: boolean) {
        const dir = fs.mkdtempSync(path.join(scratch, "now-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/bash\ncase "$1 $2" in\n  "start "*) exit ${ok ? 0 : 1} ;;\n  "show -P") [ "$3" = InvocationID ] && echo inv123 || echo exit-code ;;\nesac\n`, { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "journalctl"), `#!/bin/bash\necho "journal $*"\n`, { mode: 0o755 });
        return spawnSync("bash", ["-c", backupNowScript(staging)], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    }
    test("success: exit 0 with that run's journal (by invocation id)", () => {
        const r = now(true);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /journal --no-pager -o cat _SYSTEMD_INVOCATION_ID=inv123/);
        assert.match(r.stdout, /backup of shop-staging done/);
    });
    test("failure: exit 1, the journal's tail and the result on stderr", () => {
        const r = now(false);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /journal --no-pager -o cat -n 40 _SYSTEMD_INVOCATION_ID=inv123/);
        assert.match(r.stderr, /backup of shop-staging FAILED \(exit-code\)/);
    });
});

describe("berth backup list: restic's JSON", () => {
    test("grouped by run, newest run first, with reason, sha and what each snapshot holds", () => {
        const rows = parseSnapshots(SNAPSHOTS);
        assert.deepEqual(rows.map((r) => r.id.slice(0, 8)), [ID.slice(0, 8), "22222222", "11111111"]);
        assert.equal(rows[0].what, "database shop_staging");
        assert.equal(rows[0].time, "2026-12-02T09:10:11Z");
        const text = listText(staging, rows);
        assert.deepEqual(text.slice(1), [
            `run 20261202T091000Z-42  2026-12-02T09:10:11Z  release  sha ${"c".repeat(12)}`,
            `  ${ID.slice(0, 8)}  database shop_staging`,
            "  22222222  database shop_staging_queue",
            "run 20261201T030000Z-11  2026-12-01T03:00:01Z  scheduled",
            "  11111111  database shop_staging",
        ]);
        assert.match(listText(staging, parseSnapshots("[]"))[0], /no backups of shop-staging yet/);
        assert.deepEqual(parseSnapshots("null"), []);
    });
});

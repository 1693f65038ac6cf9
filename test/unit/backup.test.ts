/**
 * Backups (components/data/backup.ts): golden text and a clean shellcheck for every
 * script berth runs or installs, `systemd-analyze verify` for the units (in a
 * root directory holding the installed scripts, failing on any printed line),
 * `systemd-analyze calendar` for the schedules, the release command's backup
 * step, the config keys, and the resources the program declares.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { BerthConfig, parseConfig, parseSftpRepository } from "../../lib/config";
import { withShebang } from "../../lib/shell";
import * as backup from "../../components/data/backup";
import * as release from "../../components/app/release";
import { expectGolden, expectShellcheckClean } from "./golden";
import { configFor, named, runProgram, stackConfig, unwrap } from "./harness";
import { verifyInstalled } from "./systemd";

const SHA = "5f8008de1dd704ea09395bd87621f1d32eeac017";
/** dev:up fills in the deploy key; the stack file has none. */
const DEV = { "berth:deployKey": { secure: "set-by-dev-up" } };

/** Scripts run through remoteScript (bodies) and files installed on the host (complete). */
function scriptsOf(cfg: BerthConfig): Record<string, string> {
    return {
        "backup-packages.sh": withShebang(backup.backupPackagesScript(cfg)),
        "backup-credentials.sh": withShebang(backup.credentialsScript(cfg)),
        "backup-credentials-delete.sh": withShebang(backup.credentialsDeleteScript(cfg)),
        "backup-repository.sh": withShebang(backup.repositoryInitScript(cfg)),
        "backup-install.sh": withShebang(backup.installScript(cfg)),
        "backup-install-delete.sh": withShebang(backup.installDeleteScript(cfg)),
        "backup-script": backup.backupScriptFile(cfg),
        "backup-restore-script": backup.restoreScriptFile(cfg),
        "backup-restore-test-script": backup.restoreTestScriptFile(cfg),
    };
}

function unitsOf(cfg: BerthConfig): Record<string, string> {
    return {
        "backup.service": backup.backupServiceFile(cfg),
        "backup.timer": backup.backupTimerFile(cfg),
        "backup-restore-test.service": backup.restoreTestServiceFile(cfg),
        "backup-restore-test.timer": backup.restoreTestTimerFile(cfg),
    };
}

for (const stack of ["staging", "production"]) {
    describe(`${stack} backup scripts and units`, () => {
        const cfg = configFor(stack);
        for (const [file, text] of Object.entries(scriptsOf(cfg))) {
            test(file, () => {
                expectGolden(`${stack}/${file}`, text);
                expectShellcheckClean(`${stack}/${file}`, text);
            });
        }
        for (const [file, text] of Object.entries(unitsOf(cfg))) {
            test(file, () => expectGolden(`${stack}/${file}`, text));
        }
        test("systemd-analyze verify: the units, with the scripts they start installed", () => {
            const r = verifyInstalled(backup.backupFiles(cfg));
            assert.ok(r.ok, r.output);
        });
        test("systemd-analyze calendar accepts both schedules", () => {
            const b = cfg.backup!;
            const r = spawnSync("systemd-analyze", ["calendar", b.schedule, b.restoreTestSchedule], { encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        });
    });
}

describe("checks that can fail", () => {
    test("systemd-analyze verify reports a unit whose script is missing", () => {
        const cfg = configFor("production");
        const r = verifyInstalled({ [backup.unitPath(cfg.names.backupUnit, "service")]: [backup.backupServiceFile(cfg), "0644"] });
        assert.ok(!r.ok);
        assert.match(r.output, /is not executable/);
    });
    test("systemd-analyze calendar rejects a bad schedule the config's character check lets through", () => {
        const r = spawnSync("systemd-analyze", ["calendar", "*-*-* 25:99:00"], { encoding: "utf8" });
        assert.notEqual(r.status, 0);
    });
});

describe("backup properties", () => {
    const sc = stackConfig("production");
    const cfg = configFor("production");
    test("no secret appears in any script, unit or release command", () => {
        const texts = [...Object.values(scriptsOf(cfg)), ...Object.values(unitsOf(cfg)), release.releaseCommandScript(cfg, SHA)];
        const keyLine = cfg.backup!.privateKey.split("\n")[1];
        assert.ok(keyLine.length > 20 && sc.secrets.includes(cfg.backup!.password), "the test knows the secrets");
        for (const t of texts) {
            for (const secret of [cfg.backup!.password, keyLine, ...sc.secrets]) assert.ok(!t.includes(secret), "a secret leaked into a script");
        }
    });
    test("the secrets only come from stdin", () => {
        const s = backup.credentialsScript(cfg);
        assert.match(s, /IFS= read -r RESTIC_REPOSITORY_SECRET/);
        assert.match(s, /IFS= read -r SFTP_KEY_B64/);
        assert.match(backup.backupScriptFile(cfg), /--password-file \/etc\/berth\/shop-production\/backup\/password/);
    });
    test("the SFTP connection pins the configured host key and uses only berth's key", () => {
        const c = backup.sftpCommand(cfg);
        assert.match(c, /StrictHostKeyChecking=yes/);
        assert.match(c, /IdentitiesOnly=yes/);
        assert.equal(backup.knownHostsLine(cfg), `backup.example.net ${cfg.backup!.hostKey}`);
        const port = configFor("production", { "berth:backup": { ...prodBackup(), repository: "sftp://shop@backup.example.net:2222//srv/restic/shop" } });
        assert.match(backup.sftpCommand(port), / -p 2222 shop@backup\.example\.net -s sftp$/);
        assert.match(backup.knownHostsLine(port), /^\[backup\.example\.net\]:2222 ssh-ed25519 /);
    });
    test("snapshots are tagged with the stack, the reason, the run and the release sha; retention comes from the config", () => {
        const s = backup.backupScriptFile(cfg);
        assert.match(s, /--tag berth --tag production --tag "reason:\$reason" --tag "run:\$run"/);
        assert.match(s, /tags\+=\(--tag "sha:\$sha"\)/);
        assert.match(s, /--keep-within 7d --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune/);
        assert.match(s, /pg_dump -U postgres -Fc -Z0 -d "\$db" \| rs backup --host shop-production --stdin/);
        assert.doesNotMatch(s, /redis\/data\.tar/, "redis only when asked");
        const withRedis = configFor("production", { "berth:backup": { ...prodBackup(), redis: true } });
        assert.match(backup.backupScriptFile(withRedis), /docker exec shop-production-redis tar -C \/data -cf - \. \| rs backup/);
    });
    test("the release command backs up (named after the sha) before migrating, and only with berth:backup and a release command", () => {
        const s = release.releaseCommandScript(cfg, SHA);
        const backupAt = s.indexOf(`/usr/local/sbin/berth-shop-production-backup release ${SHA}`);
        const migrateAt = s.indexOf("bin/rails db:prepare");
        assert.ok(backupAt > 0 && migrateAt > backupAt, s);
        assert.ok(s.indexOf(".berth-released ]; then") < backupAt, "a release whose command already ran does not back up again");
        const none = configFor("production", { "berth:backup": undefined });
        assert.doesNotMatch(release.releaseCommandScript(none, SHA), /backup/);
        const noCommand = configFor("staging", { "berth:preset": "generic", "berth:webCommand": "/usr/bin/app" });
        assert.doesNotMatch(release.releaseCommandScript(noCommand, SHA), /backup/);
    });
    test("retention reach", () => {
        assert.equal(backup.retentionDays({ daily: 7, weekly: 4, monthly: 6 }), 180);
        assert.equal(backup.retentionDays({ daily: 3, weekly: 0, monthly: 0 }), 3);
    });
});

/** The production stack file's backup object with its secrets as plain test values. */
function prodBackup(): Record<string, unknown> {
    const b = JSON.parse(stackConfig("production").values["berth:backup"]);
    return { ...b, privateKey: { secure: "x" }, password: { secure: "x" } };
}

describe("berth:backup configuration", () => {
    test("both spellings of an SFTP repository", () => {
        assert.deepEqual(parseSftpRepository("sftp:shop@backup.example.net:/srv/restic/shop"), { user: "shop", host: "backup.example.net", port: 22, path: "/srv/restic/shop" });
        assert.deepEqual(parseSftpRepository("sftp://shop@10.0.0.5:2222//srv/restic"), { user: "shop", host: "10.0.0.5", port: 2222, path: "/srv/restic" });
        for (const bad of ["s3:s3.amazonaws.com/bucket", "sftp:shop@host:relative", "sftp://shop@host:99999//x", "sftp:shop@host:/a b", "/srv/restic"]) {
            assert.equal(parseSftpRepository(bad), undefined, bad);
        }
    });
    test("defaults: daily at 03:15, restore test on Sundays, 7 daily / 4 weekly / 6 monthly, no redis", () => {
        const b = prodBackup();
        delete b.schedule;
        delete b.retention;
        const c = configFor("production", { "berth:backup": b }).backup!;
        assert.equal(c.schedule, "*-*-* 03:15:00");
        assert.equal(c.restoreTestSchedule, "Sun *-*-* 04:30:00");
        assert.deepEqual(c.retention, { daily: 7, weekly: 4, monthly: 6 });
        assert.equal(c.redis, false);
    });
    test("the dev stack has no backups by default", () => assert.equal(configFor("dev", DEV).backup, undefined));
    test("berth:backup must be a secret (it holds the password and the key)", () => {
        const sc = stackConfig("production");
        const r = parseConfig(sc.values, { project: "berth", stack: "production", secretKeys: new Set(sc.secretKeys.filter((k) => k !== "berth:backup")) });
        assert.equal(r.ok, false);
        assert.ok(!r.ok && r.errors.includes("berth:backup: must be a secret (pulumi config set --secret backup ...)"), JSON.stringify(r));
    });
});

describe("the program's backup resources", () => {
    test("production: every backup command is retained, the secrets travel on stdin, the repository is never deleted", async () => {
        const r = await runProgram(stackConfig("production"));
        assert.ifError(r.error);
        for (const n of ["packages", "credentials", "repository", "scripts"]) {
            const c = named(r, `shop-production-backup-${n}`);
            assert.equal(c.retainOnDelete, true, n);
            assert.equal(c.inputs.delete, undefined, n);
        }
        const creds = named(r, "shop-production-backup-credentials");
        for (const out of ["stdout", "stderr"]) assert.ok(creds.additionalSecretOutputs.includes(out), out);
        assert.equal(unwrap(creds.inputs).logging, "none");
        const stdin = unwrap(creds.inputs).stdin as string;
        assert.ok(stdin.startsWith(`${r.secrets.find((s) => s.startsWith("tsecret") && stdin.includes(s))}\n`), "the password is the first stdin line");
        const migrate = named(r, "shop-production-release-release-command");
        assert.ok(migrate.dependsOn.includes("shop-production-backup-scripts") && migrate.dependsOn.includes("shop-production-backup-repository"), migrate.dependsOn.join(", "));
        assert.deepEqual(unwrap(named(r, "shop-production-backup-repository").inputs).triggers[0], {
            kind: "berth-backup",
            app: "shop",
            stack: "production",
            production: true,
            repository: "sftp:shop@backup.example.net:/srv/restic/shop-production",
            retention: { daily: 7, weekly: 4, monthly: 6 },
        });
    });
    test("staging: scripts and credentials are removed on destroy, the repository never", async () => {
        const r = await runProgram(stackConfig("staging"));
        assert.ifError(r.error);
        assert.match(String(unwrap(named(r, "shop-staging-backup-scripts").inputs).delete), /systemctl disable --now/);
        assert.match(String(unwrap(named(r, "shop-staging-backup-credentials").inputs).delete), /rm -rf \/etc\/berth\/shop-staging\/backup/);
        assert.equal(named(r, "shop-staging-backup-repository").inputs.delete, undefined);
    });
    test("dev: no backup resources", async () => {
        const r = await runProgram(stackConfig("dev", DEV));
        assert.ifError(r.error);
        assert.equal(r.resources.filter((x) => x.name.includes("-backup")).length, 0);
    });
});

describe("snapshot paths", () => {
    test("dumps are one file at the snapshot's root (restic 0.18.0 refuses a directory in --stdin-filename), and both layouts restore", () => {
        const s = backup.backupScriptFile(configFor("staging"));
        assert.match(s, /--stdin-filename "postgres-\$db\.dump"/);
        assert.doesNotMatch(s, /--stdin-filename "?[a-z$]+\//, "no directory in a stdin file name");
        // The restore reads each snapshot's own path: the new layout and the one earlier berths wrote.
        const loop = ["for path in /postgres-shop_staging.dump /postgres/old_db.dump /redis-data.tar /redis/data.tar; do", ...backup.dbFromPathLines("me"), '  echo "$db"', "done"].join("\n");
        const r = spawnSync("bash", ["-c", loop], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "shop_staging\nold_db\n");
        const bad = spawnSync("bash", ["-c", ["for path in '/postgres-x;rm.dump'; do", ...backup.dbFromPathLines("me"), "done"].join("\n")], { encoding: "utf8" });
        assert.notEqual(bad.status, 0, "an unexpected database name is refused");
    });
});

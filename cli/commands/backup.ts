/**
 * `berth backup now | list | download <snapshot> [--to <file>]`: the stack's
 * backups (components/data/backup.ts) without SSH, on the host they run on
 * (the data host; with `berth:database sqlite` the app host).
 *
 * - now: starts the backup unit (`systemctl start` of a oneshot waits for
 *   it; a run the timer already started is joined, not doubled) and prints
 *   that run's journal (its invocation id); exit 1 when it failed, with the
 *   journal's tail on stderr. The unit runs the installed script as the timer
 *   does (snapshots tagged reason:scheduled; retention applies).
 * - list: `restic snapshots --json` of the stack's berth snapshots, one line
 *   per snapshot grouped by backup run (`--json`: the runs as data).
 * - download: `restic dump` of one snapshot (a database dump, the storage
 *   tar, the Redis volume) streamed through ssh into a local file (mode
 *   0600; written as `<file>.partial` and renamed when complete, removed on
 *   failure): nothing is written on the host.
 *
 * restic is run exactly as the installed backup script runs it: its `rs`
 * function (repository, password file, cache, pinned SFTP connection) is
 * read from that root-only script on the host, so no repository option is
 * written twice and the repository password stays in its root-only file.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import type { BerthConfig } from "../../lib/config";
import { cmd, quote, script } from "../../lib/shell";
import { hostView, plan } from "../../lib/plan";
import type { OpOutput, Stack } from "../support/stack";
import { CommandContext, print, UsageError } from "../support/command";

export const BACKUP_OPS = ["now", "list", "download"] as const;
export type BackupOp = (typeof BACKUP_OPS)[number];

/** The host the backups run on (components/data/backup.ts; lib/plan.ts backupPlan). */
export function backupHost(cfg: BerthConfig): BerthConfig {
    if (!cfg.backup) throw new Error(`berth: stack ${cfg.stack} has no backups (berth:backup is not set)`);
    // Where the plan runs backups: the data host, or (sqlite) the one app host.
    const p = plan(cfg);
    if (!p.backup) throw new Error(`berth: stack ${cfg.stack} has no host that runs its backups`);
    return hostView(p, p.backup.host);
}

/** Defines `rs` from the installed backup script (exit 1 naming the fix when it is not installed). */
function resticLines(hcfg: BerthConfig): string[] {
    const file = hcfg.names.backupScript;
    return [
        `rs_line=$(grep -m1 '^rs() {' ${quote(file)} 2>/dev/null || true)`,
        `[ -n "$rs_line" ] || { echo ${quote(`berth: the backup script ${file} is not installed on host ${hcfg.host.name} (pulumi up installs it)`)} >&2; exit 1; }`,
        'eval "$rs_line"',
    ];
}

/** Starts the backup unit, waits, prints the run's journal; the journal tail on stderr and exit 1 on failure. */
export function backupNowScript(hcfg: BerthConfig): string {
    const unit = `${hcfg.names.backupUnit}.service`;
    return script(
        `unit=${quote(unit)}`,
        `echo ${quote(`berth: backing up ${hcfg.names.id} on host ${hcfg.host.name} (${unit})`)}`,
        'if systemctl start "$unit"; then ok=1; else ok=0; fi',
        'inv=$(systemctl show -P InvocationID "$unit" 2>/dev/null || true)',
        'if [ "$ok" = 1 ]; then',
        '  if [ -n "$inv" ]; then journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv" || true; fi',
        `  echo ${quote(`berth: backup of ${hcfg.names.id} done`)}`,
        "  exit 0",
        "fi",
        'if [ -n "$inv" ]; then journalctl --no-pager -o cat -n 40 "_SYSTEMD_INVOCATION_ID=$inv" >&2 || true; else journalctl --no-pager -o cat -n 40 -u "$unit" >&2 || true; fi',
        `echo ${quote(`berth: backup of ${hcfg.names.id} FAILED`)} "($(systemctl show -P Result "$unit" 2>/dev/null || echo unknown))" >&2`,
        "exit 1",
    );
}

/** The stack's berth snapshots as restic's JSON (one snapshot id: only it). */
export function snapshotsScript(hcfg: BerthConfig, id?: string): string {
    if (id !== undefined) checkSnapshotId(id);
    return script(...resticLines(hcfg), id === undefined ? cmd("rs", "snapshots", "--json", "--host", hcfg.names.id, "--tag", "berth") : cmd("rs", "snapshots", "--json", id));
}

/** `restic dump` of one file of a snapshot to stdout. */
export function dumpScript(hcfg: BerthConfig, id: string, file: string): string {
    checkSnapshotId(id);
    if (!/^\/[A-Za-z0-9._/-]+$/.test(file) || file.includes("..")) throw new Error(`berth: unexpected path ${JSON.stringify(file)} in snapshot ${id}`);
    return script(...resticLines(hcfg), cmd("rs", "dump", id, file));
}

export function checkSnapshotId(id: string): void {
    if (!/^[0-9a-f]{8,64}$/.test(id)) throw new Error(`berth: ${JSON.stringify(id)} is not a snapshot id (8 to 64 hex digits; berth backup list shows them)`);
}

/** One snapshot as restic prints it (the fields berth reads). */
interface ResticSnapshot {
    id: string;
    short_id?: string;
    time: string;
    paths?: string[];
    tags?: string[];
}

export interface SnapshotRow {
    id: string;
    time: string;
    path: string;
    run: string | null;
    reason: string | null;
    sha: string | null;
    what: string;
}

/** restic's JSON to rows, newest run first (within a run: restic's order). */
export function parseSnapshots(json: string): SnapshotRow[] {
    const list = JSON.parse(json || "[]") as ResticSnapshot[] | null;
    const tag = (s: ResticSnapshot, prefix: string) => s.tags?.find((t) => t.startsWith(prefix))?.slice(prefix.length) ?? null;
    const rows = (list ?? []).map((s) => {
        const file = s.paths?.[0] ?? "";
        const db = tag(s, "db:");
        return {
            id: s.id,
            time: s.time.replace(/\.\d+/, ""),
            path: file,
            run: tag(s, "run:"),
            reason: tag(s, "reason:"),
            sha: tag(s, "sha:"),
            what: db ? `database ${db}` : s.tags?.includes("redis") ? "redis volume" : file.replace(/^\//, ""),
        };
    });
    const runTime = new Map<string, string>();
    for (const r of rows) {
        const k = r.run ?? r.id;
        if (!runTime.has(k) || runTime.get(k)! < r.time) runTime.set(k, r.time);
    }
    return rows.sort((a, b) => (runTime.get(b.run ?? b.id)! > runTime.get(a.run ?? a.id)! ? 1 : runTime.get(b.run ?? b.id)! < runTime.get(a.run ?? a.id)! ? -1 : 0));
}

export function listText(hcfg: BerthConfig, rows: readonly SnapshotRow[]): string[] {
    if (rows.length === 0) return [`no backups of ${hcfg.names.id} yet (berth backup now -s ${hcfg.stack})`];
    const out = [`backups of ${hcfg.names.id} (newest run first; berth backup download <snapshot> -s ${hcfg.stack}):`];
    let run: string | null | undefined;
    for (const r of rows) {
        if (r.run !== run) {
            run = r.run;
            out.push(`run ${r.run ?? "-"}  ${r.time}  ${r.reason ?? "-"}${r.sha ? `  sha ${r.sha.slice(0, 12)}` : ""}`);
        }
        out.push(`  ${r.id.slice(0, 8)}  ${r.what}`);
    }
    return out;
}

export async function backupList(s: Stack): Promise<OpOutput> {
    const on = s.on(backupHost(s.source.config).host.name);
    const rows = parseSnapshots(on.host.check(snapshotsScript(on.cfg), "listing the backups"));
    return { code: 0, text: listText(on.cfg, rows), data: { stack: on.cfg.stack, host: on.cfg.host.name, snapshots: rows } };
}

export async function backupNow(s: Stack): Promise<number> {
    const on = s.on(backupHost(s.source.config).host.name);
    return on.host.stream(backupNowScript(on.cfg));
}

/** The local file a download writes by default: `<short id>-<file name in the snapshot>` in the current directory. */
export function defaultDownloadName(id: string, file: string): string {
    return `${id.slice(0, 8)}-${path.basename(file)}`;
}

/**
 * Streams one snapshot's file into `to` (default: defaultDownloadName): ssh's
 * stdout goes straight into `<to>.partial` (0600), renamed when restic exits
 * 0, removed otherwise; stderr passes through the redactor. Refuses an
 * existing file.
 */
export async function backupDownload(s: Stack, id: string | undefined, to: string | undefined): Promise<OpOutput> {
    if (!id) throw new Error("berth: backup download <snapshot id> [--to <file>] (berth backup list shows the ids)");
    checkSnapshotId(id);
    const on = s.on(backupHost(s.source.config).host.name);
    const snap = parseSnapshots(on.host.check(snapshotsScript(on.cfg, id), `reading snapshot ${id}`));
    if (snap.length !== 1) throw new Error(`berth: ${snap.length === 0 ? "no snapshot" : "more than one snapshot"} matches ${id} (berth backup list -s ${on.cfg.stack})`);
    const file = path.resolve(to ?? defaultDownloadName(snap[0].id, snap[0].path));
    if (fs.existsSync(file)) throw new Error(`berth: ${file} exists; pass another --to`);
    const partial = `${file}.partial`;
    const fd = fs.openSync(partial, "wx", 0o600);
    process.stderr.write(`berth: downloading snapshot ${snap[0].id.slice(0, 8)} (${snap[0].what}, ${snap[0].time}) to ${file}\n`);
    const code = await new Promise<number>((resolve, reject) => {
        const p = spawn("ssh", on.host.argv(dumpScript(on.cfg, snap[0].id, snap[0].path)), { stdio: ["ignore", fd, "pipe"] });
        const rl = readline.createInterface({ input: p.stderr!, crlfDelay: Infinity });
        rl.on("line", (l) => process.stderr.write(`${s.redact(l)}\n`));
        p.on("error", reject);
        p.on("close", (c) => resolve(c ?? 255));
    }).finally(() => fs.closeSync(fd));
    if (code !== 0) {
        fs.rmSync(partial, { force: true });
        return { code: 1, text: [`download of ${snap[0].id.slice(0, 8)} failed (exit ${code}); nothing kept`], data: { ok: false, snapshot: snap[0], code } };
    }
    fs.renameSync(partial, file);
    const bytes = fs.statSync(file).size;
    return { code: 0, text: [`saved ${snap[0].what} of ${snap[0].time} (${bytes} bytes) to ${file}`], data: { ok: true, snapshot: snap[0], file, bytes } };
}

/** `berth backup now|list|download <snapshot> [--to <file>]`. */
export async function run(c: CommandContext): Promise<number> {
    const [sub, id, ...rest] = c.args;
    if (rest.length > 0 || (sub !== "download" && id !== undefined)) throw new UsageError(`unexpected ${JSON.stringify(sub === "download" ? rest[0] : id)}`);
    if (c.opts.to !== undefined && sub !== "download") throw new UsageError("--to is for backup download");
    switch (sub) {
        case "now":
            return backupNow(c.s);
        case "list":
            return print(c, await backupList(c.s));
        case "download":
            if (!id) throw new UsageError("backup download <snapshot id> [--to <file>]");
            return print(c, await backupDownload(c.s, id, c.opts.to));
    }
    throw new UsageError(`backup ${sub === undefined ? "needs" : `${JSON.stringify(sub)}? use`} now, list or download <snapshot>`);
}

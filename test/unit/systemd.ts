/**
 * systemd's own checks of the units berth writes, shared by the tests:
 * `systemd-analyze verify` (the test fails on any line it prints, not only
 * on its exit status) of unit files side by side in a temp dir or installed
 * under a temp root, `systemd-analyze security --offline`, and the unit
 * files of a configuration's process types and schedules named as installed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { BerthConfig } from "../../lib/config";
import { processUnitNames, scheduleFailureUnit, scheduleUnitNames } from "../../lib/names";
import { processUnitFile } from "../../lib/units/process";
import { scheduleFailureFile, scheduleServiceFile, scheduleTimerFile } from "../../lib/units/schedule";

export interface VerifyResult {
    /** Exit status 0 and nothing printed. */
    readonly ok: boolean;
    readonly output: string;
}

type UnitScope = Pick<BerthConfig, "project" | "stack" | "names" | "processes" | "schedules">;

/**
 * The template units of `cfg`'s process types, the service and timer of each
 * schedule and the unit a failed run starts (OnFailure=: verify follows the
 * reference), keyed by their installed basename.
 */
export function processAndScheduleUnits(cfg: BerthConfig): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of Object.values(cfg.processes)) out[path.basename(processUnitNames(cfg.names, p.name, p.count).unitPath)] = processUnitFile(cfg, p);
    for (const s of Object.values(cfg.schedules)) {
        const u = scheduleUnitNames(cfg.names, s.name);
        out[path.basename(u.servicePath)] = scheduleServiceFile(cfg, s);
        out[path.basename(u.timerPath)] = scheduleTimerFile(cfg, s);
    }
    out[path.basename(scheduleFailureUnit(cfg.names).unitPath)] = scheduleFailureFile(cfg);
    return out;
}

/** What to verify of those units: every process instance (a template through its instance name), each schedule's service and timer. */
export function processAndScheduleTargets(cfg: UnitScope): string[] {
    return [
        ...Object.values(cfg.processes).flatMap((p) => processUnitNames(cfg.names, p.name, p.count).instances),
        ...Object.values(cfg.schedules).flatMap((s) => [`${scheduleUnitNames(cfg.names, s.name).unit}.service`, `${scheduleUnitNames(cfg.names, s.name).unit}.timer`]),
    ];
}

/** `files` (basename -> text) written side by side in a fresh temp dir, removed after `use`. */
function withFiles<T>(files: Record<string, string>, use: (dir: string) => T): T {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "berth-units-"));
    try {
        for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(d, name), text);
        return use(d);
    } finally {
        fs.rmSync(d, { recursive: true, force: true });
    }
}

function analyze(args: string[]): { status: number | null; output: string } {
    const r = spawnSync("systemd-analyze", args, { encoding: "utf8" });
    if (r.error) throw new Error(`systemd-analyze could not run (${r.error.message}); install systemd`);
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function verdict(r: { status: number | null; output: string }): VerifyResult {
    return { ok: r.status === 0 && r.output.trim() === "", output: r.output };
}

/** `systemd-analyze verify` of `targets` (file names, a template through an instance name) next to every file of `files`. */
export function verifyUnits(files: Record<string, string>, targets: string[]): VerifyResult {
    return withFiles(files, (d) => verdict(analyze(["verify", "--man=no", "--recursive-errors=no", ...targets.map((t) => path.join(d, t))])));
}

/**
 * `systemd-analyze verify --root` of the units among `files` (absolute host
 * path -> [content, octal mode], as the components install them) with every
 * file installed under a temp root: a unit's ExecStart must exist and be
 * executable there.
 */
export function verifyInstalled(files: Record<string, readonly [string, string]>): VerifyResult {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-installed-"));
    try {
        for (const [file, [content, mode]] of Object.entries(files)) {
            fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
            fs.writeFileSync(path.join(root, file), content, { mode: parseInt(mode, 8) });
        }
        const units = Object.keys(files).filter((f) => f.startsWith("/etc/systemd/system/"));
        return verdict(analyze(["verify", `--root=${root}`, "--man=no", "--recursive-errors=no", ...units]));
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

/** The overall exposure `systemd-analyze security --offline` gives `file` (one of `files`). */
export function securityScore(files: Record<string, string>, file: string): number {
    return withFiles(files, (d) => {
        const { output } = analyze(["security", "--offline=yes", "--no-pager", path.join(d, file)]);
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(output);
        if (!m) throw new Error(`systemd-analyze security printed no score for ${file}:\n${output}`);
        return Number(m[1]);
    });
}

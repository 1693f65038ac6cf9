/**
 * `berth rollback [sha]`: set berth:revision to a kept release and converge
 * (commit + push to main first, cli/support/desired.ts); the switch moves
 * traffic back with zero downtime, no build, no release command.
 *
 * Inside the rollback window traffic moves first: when the kept instance
 * runs the target with the env and unit files the serving one was started
 * with (the switch's stamps say so) and answers its health path, the
 * switch's own move runs on the host (components/app/switch.ts
 * `rollbackMoveScript`, one SSH session, under the host lock) before the
 * desired state is recorded and the stack converged; that converge's
 * switch then finds the release serving with its own stamp and moves
 * nothing. The desired-state checks (main's tip, a clean stack file) run
 * before the move, so a refused rollback moves nothing. Several web hosts,
 * a frontend (its soak) or Solid Queue in Puma (no instance kept) go
 * through the converge alone, as does any kept instance the script refuses.
 */
import { CommandContext, print } from "../support/command";
import { planLines } from "../support/source";
import { iso, OpOptions, OpOutput, short, Stack } from "../support/stack";
import { jobsInPuma, NOT_TRAFFIC_ONLY, rollbackMoveScript } from "../../components/app/switchScripts";
import { has } from "../../lib/topology";
import type { BerthConfig } from "../../lib/config";

/** Whether traffic may move on the host before the converge (see the header); the script checks the instances. */
export function movesFirst(cfg: BerthConfig): boolean {
    return has(cfg.host, "web") && !cfg.multiHost && !cfg.frontend && !jobsInPuma(cfg);
}

export async function rollback(s: Stack, target: string | undefined, opts: OpOptions): Promise<OpOutput> {
    const t0 = performance.now();
    // The converge's program loads while the host is read (it applies nothing until asked).
    if (!opts.dryRun) s.source.converger?.prepare?.();
    const p = s.probe();
    const tProbe = performance.now();
    const kept = p.releases.filter((r) => r.built);
    let pick: { sha: string; builtAt: number } | undefined;
    if (target) {
        const m = kept.filter((r) => r.sha.startsWith(target));
        if (m.length !== 1) {
            throw new Error(`berth: ${JSON.stringify(target)} ${m.length === 0 ? "is not a kept release" : "is ambiguous"}; kept: ${kept.map((r) => short(r.sha)).join(", ") || "none"}`);
        }
        pick = m[0];
    } else {
        const other = p.color === "blue" ? "green" : "blue";
        const otherSha = p.slots[other]?.split("/").pop();
        pick = kept.find((r) => r.sha === otherSha && r.sha !== p.revision) ?? kept.find((r) => r.sha !== p.revision);
        if (!pick) throw new Error("berth: no other kept release to roll back to");
    }
    const from = s.cfg.release.revision;
    const explain = [
        `rollback of ${s.cfg.names.id}: serving ${p.revision ?? "nothing"}; target ${pick.sha} (built ${iso(pick.builtAt)}, kept on the host: no build, no release command)`,
        `changes berth:revision ${JSON.stringify(from)} -> ${JSON.stringify(pick.sha)}; ${
            movesFirst(s.cfg)
                ? "traffic moves to its kept instance first (if it runs it with the serving one's env and units, healthy), then the converge records it"
                : "the converge's switch moves traffic to it with zero downtime"
        }`,
        ...planLines(s.source.converger, { revision: pick.sha }),
    ];
    const data: Record<string, unknown> = { from: { revision: from, serving: p.revision ?? null }, to: pick.sha, applied: false };
    if (opts.dryRun) return { code: 0, text: [...explain, "(dry run: nothing changed)"], data };
    if (pick.sha === p.revision && from === pick.sha) return { code: 0, text: [...explain, "already serving it"], data };
    if (!s.source.converger) throw new Error("berth: this stack source cannot converge (pass --state <applier state> with --config, or use the Pulumi CLI)");
    process.stderr.write(`${explain.join("\n")}\n`);
    const tMove = performance.now();
    const moved = movesFirst(s.cfg) ? moveFirst(s, pick.sha) : undefined;
    const tConverge = performance.now();
    const r = await s.source.converger.apply({ revision: pick.sha }, { yes: opts.yes === true });
    const tApplied = performance.now();
    // The converge's own switch proved what serves (it checked the release's health, then moved traffic): no second read.
    const proved = r.ok && r.serving === pick.sha;
    const after = proved ? { revision: pick.sha, color: undefined } : s.probe();
    // Where the command's time goes (seconds; the process start before t0 is not counted): `--json` prints it.
    const sec = (a: number, b: number) => Number(((b - a) / 1000).toFixed(3));
    data.seconds = { probe: sec(t0, tProbe), move: sec(tMove, tConverge), converge: sec(tConverge, tApplied), check: sec(tApplied, performance.now()), ...(moved ? { trafficMoved: sec(0, moved.at) } : {}) };
    data.movedFirst = moved !== undefined;
    data.applied = r.ok;
    data.serving = after.revision ?? null;
    const ok = r.ok && after.revision === pick.sha;
    // The plan went to stderr before the converge (ahead of its output and prompt): the summary says only the outcome.
    const where = after.color ? ` on ${after.color}` : moved ? ` on ${moved.color}` : " (the converge's switch checked it)";
    const when = moved ? ` (traffic moved ${sec(0, moved.at).toFixed(1)} s after the command started, then the converge recorded it)` : "";
    if (ok) return { code: 0, text: [`rolled back: serving ${after.revision}${where}${when}`], data };
    const already = moved ? `traffic moved to ${pick.sha} on ${moved.color}, but the converge failed: ` : "";
    return { code: 1, text: [`rollback failed: ${already}${r.error ?? `serving ${after.revision}`}`], data };
}

/**
 * Moves traffic to the kept instance (components/app/switch.ts
 * `rollbackMoveScript`) after the converge's desired-state checks; returns
 * when it moved (ms since the process started) and where, or undefined when
 * the script refused (its reason goes to stderr; the converge switches).
 */
function moveFirst(s: Stack, sha: string): { at: number; color: string } | undefined {
    s.source.converger?.ready?.();
    const r = s.host.run(rollbackMoveScript(s.cfg, sha));
    process.stderr.write(r.stdout + r.stderr);
    if (r.code === 0) return { at: performance.now(), color: /moved to (\w+)/.exec(r.stdout)?.[1] ?? "the kept instance" };
    if (r.code !== NOT_TRAFFIC_ONLY) process.stderr.write(`berth: moving traffic first failed (exit ${r.code}); the converge switches instead\n`);
    return undefined;
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, await rollback(c.s, c.args[0], c.opts));
}

/**
 * `berth rollback [sha]`: set berth:revision to a kept release and converge
 * (commit + push to main first, cli/support/desired.ts); the switch moves
 * traffic back with zero downtime, no build, no release command.
 */
import { planLines } from "../support/source";
import { iso, OpOptions, OpOutput, short, Stack } from "../support/stack";
import { CommandContext, print } from "../support/command";

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
        `changes berth:revision ${JSON.stringify(from)} -> ${JSON.stringify(pick.sha)}; the switch moves traffic to it with zero downtime`,
        ...planLines(s.source.converger, { revision: pick.sha }),
    ];
    const data: Record<string, unknown> = { from: { revision: from, serving: p.revision ?? null }, to: pick.sha, applied: false };
    if (opts.dryRun) return { code: 0, text: [...explain, "(dry run: nothing changed)"], data };
    if (pick.sha === p.revision && from === pick.sha) return { code: 0, text: [...explain, "already serving it"], data };
    if (!s.source.converger) throw new Error("berth: this stack source cannot converge (pass --state <applier state> with --config, or use the Pulumi CLI)");
    process.stderr.write(`${explain.join("\n")}\n`);
    const tConverge = performance.now();
    const r = await s.source.converger.apply({ revision: pick.sha }, { yes: opts.yes === true });
    const tApplied = performance.now();
    // The converge's own switch proved what serves (it checked the release's health, then moved traffic): no second read.
    const proved = r.ok && r.serving === pick.sha;
    const after = proved ? { revision: pick.sha, color: undefined } : s.probe();
    // Where the command's time goes (seconds; the process start before t0 is not counted): `--json` prints it.
    const sec = (a: number, b: number) => Number(((b - a) / 1000).toFixed(3));
    data.seconds = { probe: sec(t0, tProbe), converge: sec(tConverge, tApplied), check: sec(tApplied, performance.now()) };
    data.applied = r.ok;
    data.serving = after.revision ?? null;
    const ok = r.ok && after.revision === pick.sha;
    // The plan went to stderr before the converge (ahead of its output and prompt): the summary says only the outcome.
    const where = after.color ? ` on ${after.color}` : " (the converge's switch checked it)";
    return { code: ok ? 0 : 1, text: [ok ? `rolled back: serving ${after.revision}${where}` : `rollback failed: ${r.error ?? `serving ${after.revision}`}`], data };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, await rollback(c.s, c.args[0], c.opts));
}

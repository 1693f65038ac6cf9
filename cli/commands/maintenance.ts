/** `berth maintenance on|off`: set berth:maintenance and converge (no release). */
import { planLines } from "../support/source";
import { OpOptions, OpOutput, Stack } from "../support/stack";
import { CommandContext, print } from "../support/command";

export async function maintenance(s: Stack, mode: string | undefined, opts: OpOptions): Promise<OpOutput> {
    if (mode !== "on" && mode !== "off") throw new Error("berth: maintenance on|off");
    const want = mode === "on";
    const explain = [
        `maintenance ${mode} for ${s.cfg.names.id}: berth:maintenance ${s.cfg.maintenance} -> ${want}`,
        want
            ? "  nginx answers 503 with public/maintenance.html of the serving release (or a plain page) for every path; ACME challenges are still served; no release"
            : "  nginx serves the app again; no release",
        ...planLines(s.source.converger, { maintenance: String(want) }),
    ];
    if (opts.dryRun) return { code: 0, text: [...explain, "(dry run: nothing changed)"], data: { maintenance: want, applied: false } };
    if (!s.source.converger) throw new Error("berth: this stack source cannot converge (pass --state <applier state> with --config, or use the Pulumi CLI)");
    process.stderr.write(`${explain.join("\n")}\n`);
    const r = await s.source.converger.apply({ maintenance: String(want) }, { yes: opts.yes === true });
    const after = s.probe();
    const ok = r.ok && after.maintenance === want;
    // The plan went to stderr before the converge (ahead of its output and prompt): the summary says only the outcome.
    return { code: ok ? 0 : 1, text: [ok ? `maintenance is ${mode}` : `maintenance ${mode} failed: ${r.error ?? "the site did not change"}`], data: { maintenance: after.maintenance, applied: r.ok } };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, await maintenance(c.s, c.args[0], c.opts));
}

/** `berth releases`: the kept releases with their dates, newest first. */
import { OpOutput, releasesOf, Stack } from "../support/stack";
import { CommandContext, print } from "../support/command";

export function releases(s: Stack): OpOutput {
    const p = s.probe();
    const list = releasesOf(p);
    return {
        code: 0,
        data: { serving: p.revision ?? null, keep: s.cfg.release.keepReleases, releases: list },
        text: [
            `kept releases of ${s.cfg.names.id} (newest first; berth:keepReleases ${s.cfg.release.keepReleases}):`,
            ...list.map((r) => `${r.serving ? "*" : " "} ${r.sha}  built ${r.builtAt}${r.serving ? "  serving" : ""}${r.slots.length ? `  slot ${r.slots.join(",")}` : ""}${r.built ? "" : "  (incomplete)"}`),
        ],
    };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, releases(c.s));
}

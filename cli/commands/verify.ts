/** `berth verify [--all-hosts]`: drift, one line per difference, exit 1 when any. */
import { compare, declaredUnits } from "../support/compare";
import { Declared } from "../support/declared";
import { declaredFor, servedRevision, verifyRequest } from "../support/declaredOnHost";
import { has } from "../../lib/topology";
import { onAllHosts, OpOutput, Stack } from "../support/stack";
import { CommandContext, print } from "../support/command";

export async function verify(s: Stack, known?: Declared): Promise<OpOutput> {
    const first = s.probe();
    const d = known ?? (await declaredFor(s, servedRevision(s, first)));
    const p = s.probe(verifyRequest(s, d, first.color));
    const diffs = compare(s.cfg, d, p);
    const names = has(s.cfg.host, "web") ? s.cfg.hostnames.length : 0;
    const checked = { files: d.files.length, units: declaredUnits(s.cfg, d.files, p.color).length, containers: d.containers.length, names };
    const where = s.cfg.multiHost ? ` host ${s.cfg.host.name}` : "";
    return {
        code: diffs.length === 0 ? 0 : 1,
        data: { ok: diffs.length === 0, serving: p.revision ?? null, differences: diffs, checked, secretsCompared: d.secretsKnown },
        text: [
            ...diffs.map((x) => `drift: ${x.kind} ${x.subject}: ${x.message}`),
            diffs.length === 0
                ? `no drift on ${s.cfg.names.id}${where}: ${checked.files} files, ${checked.units} units, ${checked.containers} containers, ${checked.names} certificate name${checked.names === 1 ? "" : "s"}${names > 0 ? ", nginx" : ""}, firewall and sshd match the program`
                : `${diffs.length} difference${diffs.length === 1 ? "" : "s"} on ${s.cfg.names.id}${where} (berth repair -s ${s.cfg.stack}${where ? ` --host ${s.cfg.host.name}` : ""} re-converges the host)`,
            ...(d.secretsKnown ? [] : [`note: the stack's state was not available (${s.shared.randomsError ?? "unavailable"}); secret-bearing files were compared with the serving release's stamp only`]),
        ],
    };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, c.opts.allHosts ? await onAllHosts(c.s, "verify", (h) => verify(h)) : await verify(c.s));
}

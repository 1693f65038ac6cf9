/** `berth repair [--dry-run] [--all-hosts]`: re-run every host script (idempotent) without a release, then verify. */
import { cmd, quote, raw, script } from "../../lib/shell";
import { compare, declaredUnits, SYSTEMD_DIR } from "../support/compare";
import { declaredFor, servedRevision, verifyRequest } from "../support/declaredOnHost";
import { onAllHosts, OpOptions, OpOutput, Stack } from "../support/stack";
import { verify } from "./verify";
import { CommandContext, print } from "../support/command";

/**
 * Re-converges the host without a release: every declared remote command's
 * create script runs again in the program's order (each is idempotent: what
 * matches is left alone), secret-bearing ones with their stdin; when an env
 * or unit file or a unit had drifted, the switch's per-instance stamps are
 * removed first so the switch restarts the serving release on the idle
 * instance (zero downtime); stopped containers are started; units declared
 * active are started. Then verify runs again.
 */
export async function repair(s: Stack, opts: OpOptions): Promise<OpOutput> {
    const first = s.probe();
    const randoms = s.randoms();
    if (!randoms) throw new Error(`berth: repair needs the stack's state for the generated passwords (the Pulumi CLI, or --state <applier state>): ${s.shared.randomsError ?? "unavailable"}`);
    // (a dry run changes nothing: a mesh host without its key is declared without it)
    let d = await declaredFor(s, servedRevision(s, first), opts.dryRun !== true);
    const before = compare(s.cfg, d, s.probe(verifyRequest(s, d, first.color)));
    const restart = before.some((x) => x.kind === "unit" || (x.kind === "file" && (x.subject === s.cfg.names.envFile || x.subject.startsWith(SYSTEMD_DIR))));
    const text = before.map((x) => `before: ${x.kind} ${x.subject}: ${x.message}`);
    if (opts.dryRun) return { code: 0, text: [...text, ...d.commands.map((c) => `would run ${c.name}`)], data: { before, commands: d.commands.map((c) => c.name) } };
    const ran: { name: string; ok: boolean; last: string }[] = [];
    const state = `${s.cfg.names.root}/state`;
    let commands = d.commands;
    for (let i = 0; i < commands.length; i++) {
        const c = commands[i];
        if (restart && /-switch$/.test(c.name)) {
            s.host.check(script(cmd("rm", "-f", `${state}/stamp`, `${state}/blue.stamp`, `${state}/green.stamp`)), "forgetting the switch stamps");
        }
        const r = s.host.run(c.script, c.stdin, 900_000);
        const last = (r.code === 0 ? r.stdout : r.stderr).trim().split("\n").pop() ?? "";
        ran.push({ name: c.name, ok: r.code === 0, last });
        process.stderr.write(`repair: ${c.name}: ${r.code === 0 ? "ok" : `FAILED (exit ${r.code})`} ${last}\n`);
        if (r.code !== 0) {
            return { code: 1, text: [...text, `repair stopped: ${c.name} failed: ${r.stderr.trim().split("\n").slice(-5).join(" / ")}`], data: { before, ran, ok: false } };
        }
        // Its stdout is read by later commands (the mesh key step) and changed: declare
        // again with it, as the engine builds them from the new output, and go on.
        const read = d.read.find((x) => x.name === c.name);
        if (read && r.stdout !== read.stdout) {
            s.shared.stdouts.set(c.name, r.stdout);
            d = await declaredFor(s, servedRevision(s, first), true);
            commands = d.commands;
            i = commands.findIndex((x) => x.name === c.name);
        }
    }
    const mid = s.probe(verifyRequest(s, d, undefined));
    const color = mid.color;
    const units = declaredUnits(s.cfg, d.files, color).filter(([u]) => !u.includes("@"));
    s.host.check(
        script(
            ...d.containers.map((c) => `if [ "$(docker inspect -f '{{.State.Running}}' ${quote(c.name)} 2>/dev/null)" = false ]; then ${cmd("docker", "start", c.name)} >/dev/null; echo ${quote(`started ${c.name}`)}; fi`),
            ...units.map(([u, enabled]) => `if ! systemctl is-active --quiet ${quote(u)}; then ${cmd("systemctl", ...(enabled ? ["enable", "--now"] : ["start"]), u)}; echo ${quote(`started ${u}`)}; fi`),
            // A started container's health check needs its interval before it answers: the verify
            // below would report "health starting" as drift. Wait (bounded) until each has a verdict.
            ...d.containers.map(
                (c) =>
                    `for _ in $(seq 1 120); do [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' ${quote(c.name)} 2>/dev/null)" = starting ] || break; sleep 1; done`,
            ),
            raw("true").raw,
        ),
        "starting declared services",
    );
    const after = await verify(s, d);
    return { code: after.code, text: [...text, ...ran.map((r) => `ran ${r.name}: ${r.last}`), ...after.text], data: { before, ran, after: after.data } };
}

export async function run(c: CommandContext): Promise<number> {
    return print(c, await (c.opts.allHosts ? onAllHosts(c.s, "repair", (h) => repair(h, c.opts)) : repair(c.s, c.opts)));
}

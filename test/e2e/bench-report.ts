/**
 * Turns the figures written by the scenarios (BERTH_BENCH_OUT) into
 * bench/results.json and the table in bench/README.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeAlertsBench } from "./bench-alerts";

// `bench-report.ts --alerts FIGURES OUTDIR`: alerts.test.ts's figures -> OUTDIR/alerts.json and the "Alerts" section of OUTDIR/README.md.
if (process.argv[2] === "--alerts") {
    writeAlertsBench(process.argv[3], process.argv[4]);
    process.exit(0);
}

const [input, outDir, faultsInput] = process.argv.slice(2);
const f = JSON.parse(fs.readFileSync(input, "utf8")) as Record<string, number>;
/** Figures of test/e2e/faults.test.ts (hardening scores, switch and rollback under keep-alive load), when given. */
const faults = (faultsInput ? JSON.parse(fs.readFileSync(faultsInput, "utf8")) : {}) as Record<string, any>;
const results = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() },
    driver: process.env.BERTH_E2E_DRIVER ?? "applier",
    ...f,
    faults,
    targets: { releaseFailedRequests: 0, noopCommands: 0, rollbackSecondsBelow: 10, keepAliveFailed: 0, rollbackWindowTrafficMovedSecondsBelow: 1, unitSecurityScoreAtMost: 2.0 },
};
fs.writeFileSync(path.join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
const row = (k: string, v: unknown, target = "") => `| ${k} | ${v ?? "n/a"} | ${target} |`;
const s = (x: unknown) => (typeof x === "number" ? x.toFixed(1) : String(x));
const md = [
    "# berth figures",
    "",
    `Measured by \`npm run bench\` (scenarios 1-5 of test/e2e/scenarios.test.ts) on ${results.machine.cpus} cores / ${results.machine.memoryGiB} GiB, ${results.measuredAt}.`,
    "The host is a local Debian 13 container booting systemd; the program is applied by the test applier (see test/e2e/README.md).",
    "",
    "| figure | value | target |",
    "| --- | --- | --- |",
    row("fresh provision (s)", s(f.freshProvisionSeconds)),
    row("no-op apply (s)", s(f.noopSeconds)),
    row("no-op apply: commands executed", f.noopCommands, "0"),
    row("release under load (s)", s(f.releaseSeconds)),
    row("release: requests sent / failed", `${f.releaseRequests} / ${f.releaseFailedRequests}`, "0 failed"),
    row("broken release: requests sent / failed", `${f.brokenRequests} / ${f.brokenFailedRequests}`, "0 failed"),
    row("rollback (s)", s(f.rollbackSeconds), "< 10"),
    ...faultRows(),
    "",
    ...reading(),
];

/**
 * The hand-written reading of these figures (what they mean against the
 * issues' goals), kept from the README this run replaces: the block between
 * `<!-- reading:start -->` and `<!-- reading:end -->`. Re-read it against the
 * new figures after a bench run.
 */
function reading(): string[] {
    const file = path.join(outDir, "README.md");
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const m = /<!-- reading:start -->[\s\S]*?<!-- reading:end -->/.exec(old);
    return m ? [m[0], ""] : [];
}

function faultRows(): string[] {
    if (!faultsInput) return [];
    const scores = (faults.securityScores ?? {}) as Record<string, number>;
    return [
        "",
        "Faults and hardening (test/e2e/faults.test.ts, scenarios 1-4; 16 keep-alive HTTPS connections plus a 3 s request started every second):",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        row("release under keep-alive load: up (s) / switch command (s)", `${s(faults.releaseUnderKeepAliveSeconds)} / ${s(faults.releaseSwitchSeconds)}`),
        row("release: requests / failed (incl. connection errors) / slow requests", `${faults.releaseKeepAliveRequests} / ${faults.releaseKeepAliveFailed} / ${faults.releaseSlowRequests}`, "0 failed"),
        row("release: traffic moved, seconds after the switch started (health check included)", faults.releaseTrafficMovedSeconds?.toFixed(2)),
        row("rollback inside the window: up (s) / switch command (s)", `${s(faults.rollbackWindowUpSeconds)} / ${s(faults.rollbackWindowSwitchSeconds)}`),
        row("rollback inside the window: traffic moved, seconds after the switch started", faults.rollbackWindowTrafficMovedSeconds?.toFixed(2), "< 1"),
        row("rollback: requests / failed", `${faults.rollbackKeepAliveRequests} / ${faults.rollbackKeepAliveFailed}`, "0 failed"),
        ...rollbackCommandRows(),
        ...latencyRows(),
        row("reboot (docker restart) to HTTPS 200 (s)", s(faults.rebootTo200Seconds), "<= 60"),
        row("ssh-audit: fail findings", faults.sshAuditFails, "0"),
        row("lynis hardening index (fresh host after up; the kernel settings a container cannot set skipped)", faults.lynisHardeningIndex, ">= 75"),
        row("lynis hardening index with them (this machine's kernel settings)", faults.lynisHardeningIndexWithMachineSysctls),
        row("systemd-analyze security of the drain (transient, stops the previous instance after the window)", typeof faults.drainExposure === "number" ? faults.drainExposure.toFixed(1) : undefined, "<= 2.0"),
        ...Object.entries(scores).map(([u, v]) => row(`systemd-analyze security ${u}`, v.toFixed(1), u === "nginx.service" ? "well below 9.6" : "<= 2.0")),
    ];
}
/** `berth rollback` inside the window, as a person runs it (scenario 3): when traffic moved, the wall time and where it went. */
function rollbackCommandRows(): string[] {
    type Phases = { probe: number; move?: number; converge: number; check: number; trafficMoved?: number };
    const runs = (faults.rollbackCommand ?? []) as { wall: number; phases?: Phases }[];
    const f = (x: number | undefined) => (x ?? 0).toFixed(2);
    return runs.flatMap((r, i) => {
        const p = r.phases;
        const counted = p ? p.probe + (p.move ?? 0) + p.converge + p.check : 0;
        return [
            row(`\`berth rollback\` inside the window (run ${i + 1}): traffic moved, seconds after the command started`, p?.trafficMoved === undefined ? "not moved first" : f(p.trafficMoved), "<= 2"),
            row(
                `\`berth rollback\` inside the window (run ${i + 1}): wall time (s) = process start + probe + move + converge (records it: program run, a switch that finds it serving) + check`,
                `${f(r.wall)} = ${f(r.wall - counted)} + ${f(p?.probe)} + ${f(p?.move)} + ${f(p?.converge)} + ${f(p?.check)}`,
            ),
        ];
    });
}

/** One proxy / activation pair of latency measures (ms). */
type LatencyPair = Record<"proxy" | "activation", { p50: number; p99: number }>;

/** Of A/B pairs: activation / proxy for a percentile (median of the pairs), and one mode's `p50 / p99` per pair. */
function pairFigures(pairs: LatencyPair[]): { ratio: (k: "p50" | "p99") => string; list: (m: "proxy" | "activation") => string } {
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    return {
        ratio: (k) => median(pairs.map((x) => x.activation[k] / x.proxy[k])).toFixed(2),
        list: (m) => pairs.map((x) => `${x[m].p50} / ${x[m].p99}`).join("; "),
    };
}

/** Latency before any release under the same load (scenario 1): through systemd-socket-proxyd, and with Puma on the activated socket. */
function latencyRows(): string[] {
    const p = faults.latencyProxy as { p50: number; p99: number; requests: number } | undefined;
    const a = faults.latencyActivation as { p50: number; p99: number; requests: number } | undefined;
    if (!p || !a) return [];
    // Every pair: the first (each after its own up), then the rounds interleaved on the same release.
    const pairs = [{ proxy: p, activation: a }, ...((faults.latencyRounds ?? []) as LatencyPair[])];
    const { ratio, list } = pairFigures(pairs);
    return [
        row(`GET /up, 16 keep-alive connections, ${p.requests} requests per measure, ${pairs.length} measures: p50 / p99 (ms), \`berth:webSocket: proxy\``, list("proxy")),
        row(`the same, \`berth:webSocket: activation\` (Puma on systemd's socket), measured right after each`, list("activation")),
        row("activation / proxy, median of the pairs: p50 / p99", `${ratio("p50")} / ${ratio("p99")}`, "< 1"),
        ...pacedRows(),
        ...(faults.webActivationSecurity ? [row("systemd-analyze security of the web unit with activation", faults.webActivationSecurity.toFixed(1), "<= 2.0")] : []),
    ];
}
/** The same A/B below capacity (scenario 1): an open loop at a fixed rate, latency from each request's scheduled start. */
function pacedRows(): string[] {
    const paced = faults.latencyPaced as { rate: number; seconds: number; rounds: LatencyPair[] } | undefined;
    if (!paced || paced.rounds.length === 0) return [];
    const { ratio, list } = pairFigures(paced.rounds);
    const what = `GET /up at ${paced.rate} requests/s for ${paced.seconds} s (open loop, latency from the scheduled start), ${paced.rounds.length} pairs: p50 / p99 (ms)`;
    return [
        row(`${what}, \`proxy\``, list("proxy")),
        row(`the same, \`activation\`, measured right after each`, list("activation")),
        row("below capacity, activation / proxy, median of the pairs: p50 / p99", `${ratio("p50")} / ${ratio("p99")}`, "< 1"),
    ];
}
fs.writeFileSync(path.join(outDir, "README.md"), md.join("\n"));
console.log(md.join("\n"));

/**
 * `node --import tsx scripts/uptime.ts [dir]`: probes every public URL of every
 * stack file (Pulumi.<stack>.yaml in `dir`, the working directory by default; lib/uptime.ts)
 * and, with BERTH_UPTIME_WEBHOOK set, posts one alert when something fails
 * after a passing run (PREVIOUS: the previous run's conclusion) and one
 * "resolved" when everything passes again. Exit 1 when anything fails (the
 * run shows red in Actions).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { probe, uptimeBody, uptimeMessage, uptimeTargets } from "../lib/uptime";

async function main(): Promise<number> {
    const dir = process.argv[2] ?? ".";
    const files = fs.readdirSync(dir).filter((f) => /^Pulumi\.[A-Za-z0-9_.-]+\.yaml$/.test(f));
    const targets = files.flatMap((f) => uptimeTargets(f.replace(/^Pulumi\.|\.yaml$/g, ""), YAML.parse(fs.readFileSync(path.join(dir, f), "utf8"))?.config));
    const results = await Promise.all(targets.map((t) => probe(t)));
    for (const r of results) process.stdout.write(`${r.ok ? "ok  " : "FAIL"} ${r.stack} ${r.url} ${r.got}${r.ok ? "" : ` (want ${r.want})`}\n`);
    const m = uptimeMessage(results, process.env.PREVIOUS ?? "");
    const hook = process.env.BERTH_UPTIME_WEBHOOK;
    if (m && hook) {
        const env = process.env;
        const logs = env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : "the uptime workflow";
        const format = env.BERTH_UPTIME_FORMAT === "json" ? "json" : "slack";
        try {
            const r = await fetch(hook, { method: "POST", headers: { "Content-Type": "application/json" }, body: uptimeBody(format, m, new Date().toISOString().replace(/\.\d+Z$/, "Z"), logs), signal: AbortSignal.timeout(10_000) });
            process.stdout.write(`berth: uptime ${m.status} posted (${r.status})\n`);
        } catch (e) {
            process.stdout.write(`::warning::berth: the uptime webhook was not reached (${(e as Error).name})\n`);
        }
    }
    return results.every((r) => r.ok) ? 0 : 1;
}

main().then((code) => process.exit(code));

/**
 * `node --import tsx scripts/notify-deploy.ts <stack> <started|succeeded|failed> [revision]`:
 * the deploy notice of lib/notify.ts to the stack's `berth:alerts` webhooks,
 * read with `pulumi config get berth:alerts -s <stack>` (decrypted by the
 * CLI with the workflow's passphrase or token; nothing is printed of it).
 * A stack without berth:alerts: nothing to send, exit 0. A notice never
 * fails the job: an undelivered one is a warning (`::warning::`).
 */
import { spawnSync } from "node:child_process";
import { deployer, eventOf, postNotice, webhooksOf } from "../lib/notify";

async function main(): Promise<number> {
    const [stack, outcome, revision = ""] = process.argv.slice(2);
    if (!stack || !outcome) {
        process.stderr.write("usage: notify-deploy.ts <stack> <started|succeeded|failed> [revision]\n");
        return 64;
    }
    const get = (key: string) => spawnSync("pulumi", ["config", "get", key, "--stack", stack], { encoding: "utf8" });
    const alerts = get("berth:alerts");
    const hooks = alerts.status === 0 ? webhooksOf(alerts.stdout.trim()) : [];
    if (hooks.length === 0) {
        process.stdout.write(`berth: stack ${stack} has no berth:alerts webhooks: no deploy notice\n`);
        return 0;
    }
    const app = get("berth:app").stdout?.trim() || "app";
    const subject = spawnSync("git", ["log", "-1", "--format=%s"], { encoding: "utf8" }).stdout?.trim() ?? "";
    const env = process.env;
    const logs = env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : `npx berth status -s ${stack}`;
    const notice = { app, stack, event: eventOf(outcome, subject), revision, who: deployer(), at: new Date().toISOString().replace(/\.\d+Z$/, "Z"), logs };
    const r = await postNotice(hooks, notice);
    for (const e of r.errors) process.stdout.write(`::warning::berth: deploy notice not delivered: ${e}\n`);
    process.stdout.write(`berth: deploy ${notice.event} notice of ${stack} sent to ${r.delivered} of ${hooks.length} webhook(s)\n`);
    return 0;
}

main().then((code) => process.exit(code));

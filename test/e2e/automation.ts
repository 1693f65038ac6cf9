/**
 * The same scenarios through the real Pulumi engine (Automation API), used
 * when a `pulumi` binary is on PATH: a local file backend under the e2e work
 * directory, a throwaway passphrase, and the stack's config set key by key.
 * Cloudflare cannot be reached from a test machine, so DNS is switched off
 * here and the scenario's DNS record is written into the test DNS directly.
 * This path cannot run where berth is developed (no Pulumi CLI there); it is
 * what users' CI runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { CommandRun, UpOptions, UpReport } from "./applier";
import { Driver } from "./driver";
import { ROOT, StackConfig } from "../unit/harness";

export class AutomationDriver implements Driver {
    readonly kind = "automation" as const;
    private runs: CommandRun[] = [];
    private seen = new Set<string>();
    private stack?: Stack;

    constructor(private stackName: string, statePath: string) {
        this.backend = path.join(path.dirname(statePath), `pulumi-backend-${stackName}`);
        fs.mkdirSync(this.backend, { recursive: true });
    }
    private backend: string;

    private async select(cfg: StackConfig): Promise<Stack> {
        if (!this.stack) {
            this.stack = await LocalWorkspace.createOrSelectStack(
                { stackName: this.stackName, workDir: ROOT },
                { envVars: { PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-e2e" } },
            );
        }
        const values = { ...cfg.values, "berth:dns": "false" };
        for (const [k, v] of Object.entries(values)) {
            await this.stack.setConfig(k, { value: v, secret: cfg.secretKeys.includes(k) });
        }
        cfg.secrets.forEach((s) => this.seen.add(s));
        return this.stack;
    }

    private async report(op: () => Promise<{ outputs?: Record<string, { value: unknown }> }>, events: EngineEvent[]): Promise<UpReport> {
        const t0 = Date.now();
        const r: UpReport = { ok: false, seconds: 0, commands: [], dockerChanges: [], steps: {}, outputs: {} };
        try {
            const res = await op();
            r.ok = true;
            r.outputs = Object.fromEntries(Object.entries(res.outputs ?? {}).map(([k, v]) => [k, v.value]));
        } catch (e) {
            r.error = (e as Error).message;
        }
        for (const ev of events) {
            const pre = ev.resourcePreEvent?.metadata;
            // A refresh step (op "refresh", before the program's steps) is not a step of the update.
            if (pre?.op === "refresh") continue;
            if (pre) r.steps[pre.urn] = { op: stepOp(pre.op), keys: [...(pre.diffs ?? [])].sort() };
            const md = ev.resOutputsEvent?.metadata;
            if (!md || md.op === "same" || md.op === "refresh") continue;
            const name = md.urn.split("::").pop() ?? md.urn;
            if (md.type === "command:remote:Command") {
                const phase = md.op === "delete" ? "delete" : md.op === "update" ? "update" : "create";
                r.commands.push({ resource: name, phase, ms: 0, exitCode: 0, stdout: String(md.new?.outputs?.stdout ?? ""), stderr: String(md.new?.outputs?.stderr ?? "") });
            }
            if (md.type.startsWith("docker:index/") && !md.type.includes("remoteImage")) r.dockerChanges.push(`${md.op} ${name}`);
        }
        this.runs.push(...r.commands);
        r.seconds = (Date.now() - t0) / 1000;
        return r;
    }

    // UpOptions map onto the Automation API's own `refresh` and `expectNoChanges`
    // (sdk/nodejs/automation/stack.ts: `--refresh`, `--expect-no-changes`).
    async up(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        const stack = await this.select(cfg);
        const events: EngineEvent[] = [];
        return this.report(() => stack.up({ ...cliOptions(opts), onEvent: (e) => events.push(e) }), events);
    }

    async preview(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        const stack = await this.select(cfg);
        const events: EngineEvent[] = [];
        return this.report(async () => (await stack.preview({ diff: true, ...cliOptions(opts), onEvent: (e) => events.push(e) }), {}), events);
    }

    async refresh(cfg: StackConfig, opts: Pick<UpOptions, "expectNoChanges"> = {}): Promise<UpReport> {
        const stack = await this.select(cfg);
        const events: EngineEvent[] = [];
        return this.report(async () => (await stack.refresh({ ...(opts.expectNoChanges ? { expectNoChanges: true } : {}), onEvent: (e) => events.push(e) }), {}), events);
    }

    async destroy(cfg: StackConfig): Promise<UpReport> {
        const stack = await this.select(cfg);
        const events: EngineEvent[] = [];
        return this.report(async () => (await stack.destroy({ onEvent: (e) => events.push(e) }), {}), events);
    }

    unprotectAll(): void {
        // `pulumi state unprotect --all` has no Automation API call; run the CLI.
        require("node:child_process").execFileSync("pulumi", ["state", "unprotect", "--all", "--yes", "--stack", this.stackName], {
            cwd: ROOT,
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-e2e" },
        });
    }

    stateDelete(urn: string): string[] {
        const cp = require("node:child_process") as typeof import("node:child_process");
        const env = { ...process.env, PULUMI_BACKEND_URL: `file://${this.backend}`, PULUMI_CONFIG_PASSPHRASE: "berth-e2e" };
        const urns = (): string[] => JSON.parse(cp.execFileSync("pulumi", ["stack", "export", "--stack", this.stackName], { cwd: ROOT, env, encoding: "utf8" })).deployment.resources.map((r: { urn: string }) => r.urn);
        const before = urns();
        cp.execFileSync("pulumi", ["state", "delete", "--target-dependents", "--force", "--yes", "--stack", this.stackName, urn], { cwd: ROOT, env });
        const after = new Set(urns());
        return before.filter((u) => !after.has(u));
    }

    secrets(): string[] {
        return [...this.seen];
    }

    allCommandRuns(): CommandRun[] {
        return this.runs;
    }

    containerPorts(): Record<string, number> {
        return {};
    }
}

function cliOptions(opts: UpOptions): { refresh?: boolean; expectNoChanges?: boolean } {
    return { ...(opts.refresh ? { refresh: true } : {}), ...(opts.expectNoChanges ? { expectNoChanges: true } : {}) };
}

/** The engine's step ops folded into the model's five (create-replacement etc. count as replace). */
function stepOp(op: string): "create" | "update" | "replace" | "delete" | "same" {
    if (op.includes("replace")) return "replace";
    if (op === "create" || op === "update" || op === "delete" || op === "same") return op;
    return "update";
}

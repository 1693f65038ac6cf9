/**
 * How the scenarios drive berth: the test applier (always available), or the
 * real Pulumi engine through the Automation API when `pulumi` is on PATH
 * (and BERTH_E2E_DRIVER is not "applier").
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CommandRun, readState, StateFile, UpOptions, UpReport } from "./applier";
import { StackConfig } from "../unit/harness";
import { Engine, unwrap } from "./engine";
import { pulumiWorks } from "../../cli/support/source";

export type { UpOptions };

export interface Driver {
    readonly kind: "applier" | "automation";
    /** `pulumi up`; `{ refresh, expectNoChanges }` are `--refresh` and `--expect-no-changes`. */
    up(cfg: StackConfig, opts?: UpOptions): Promise<UpReport>;
    /**
     * `pulumi preview --diff`: planned steps, nothing applied. With
     * `{ refresh: true, expectNoChanges: true }` it is the drift job's preview:
     * every resource read first, and any step that is not `same` fails it.
     */
    preview(cfg: StackConfig, opts?: UpOptions): Promise<UpReport>;
    /** `pulumi refresh --yes`: the state updated from every provider's Read. */
    refresh(cfg: StackConfig, opts?: Pick<UpOptions, "expectNoChanges">): Promise<UpReport>;
    destroy(cfg: StackConfig): Promise<UpReport>;
    unprotectAll(): void;
    /** `pulumi state delete <urn> --target-dependents --force --yes`: the URNs deleted from the state (nothing runs on a host). */
    stateDelete(urn: string): string[];
    /** Every secret value the driver has seen (config and generated). */
    secrets(): string[];
    /** Every command run recorded so far, with its outputs. */
    allCommandRuns(): CommandRun[];
    /** Published host port of each container by name. */
    containerPorts(): Record<string, number>;
}

class ApplierDriver implements Driver {
    readonly kind = "applier" as const;
    private runs: CommandRun[] = [];
    private configSecrets = new Set<string>();

    constructor(private statePath: string, private dnsApi: string, private stack: string) {}

    /** One applier operation in a child process (see apply-cli.ts). */
    private async call(verb: string, cfg?: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-apply-"));
        const configPath = path.join(dir, "config.json");
        const reportPath = path.join(dir, "report.json");
        fs.writeFileSync(configPath, JSON.stringify(cfg ?? {}), { mode: 0o600 });
        try {
            const code = await new Promise<number>((resolve, reject) => {
                const p = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "apply-cli.ts"), verb, this.statePath, configPath, reportPath, this.dnsApi, ...flags(opts)], {
                    stdio: ["ignore", "inherit", "inherit"],
                    env: { ...process.env, BERTH_REAL_HOME: "1" },
                });
                p.on("error", reject);
                p.on("close", (c) => resolve(c ?? 1));
            });
            if (code !== 0) throw new Error(`applier ${verb} crashed (exit ${code})`);
            const r = JSON.parse(fs.readFileSync(reportPath, "utf8")) as UpReport;
            this.runs.push(...(r.commands ?? []));
            return r;
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    up(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        cfg.secrets.forEach((s) => this.configSecrets.add(s));
        return this.call("up", cfg, opts);
    }

    preview(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        cfg.secrets.forEach((s) => this.configSecrets.add(s));
        return this.call("preview", cfg, opts);
    }

    refresh(cfg: StackConfig, opts: Pick<UpOptions, "expectNoChanges"> = {}): Promise<UpReport> {
        return this.call("refresh", cfg, opts);
    }

    destroy(cfg: StackConfig): Promise<UpReport> {
        return this.call("destroy", cfg);
    }

    unprotectAll(): void {
        const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "apply-cli.ts"), "unprotect", this.statePath, "/dev/null", "/dev/null", this.stack], { stdio: "inherit" });
        if (r.status !== 0) throw new Error("applier unprotect failed");
    }

    stateDelete(urn: string): string[] {
        return new Engine({ statePath: this.statePath, project: "berth", stack: this.stack, models: {} }).stateDelete(urn, { targetDependents: true, force: true });
    }

    private state(): StateFile {
        return readState(this.statePath);
    }

    secrets(): string[] {
        const generated = Object.values(this.state().resources)
            .filter((r) => r.type === "random:index/randomPassword:RandomPassword")
            .map((r) => String(unwrap(r.outputs).result));
        return [...this.configSecrets, ...generated].filter((s) => s.length >= 8);
    }

    allCommandRuns(): CommandRun[] {
        return this.runs;
    }

    containerPorts(): Record<string, number> {
        const out: Record<string, number> = {};
        for (const r of Object.values(this.state().resources)) {
            if (r.type === "docker:index/container:Container" && !r.pendingDelete) out[unwrap(r.inputs).name] = unwrap(r.inputs).ports?.[0]?.external;
        }
        return out;
    }
}

/** The CLI flags of the options (apply-cli.ts reads them). */
function flags(opts: UpOptions): string[] {
    return [...(opts.refresh ? ["--refresh"] : []), ...(opts.expectNoChanges ? ["--expect-no-changes"] : [])];
}

export async function makeDriver(statePath: string, dnsApi: string, stack: string): Promise<Driver> {
    // A working CLI, not just a `pulumi` on PATH (the npm package's launcher fails offline).
    const hasPulumi = pulumiWorks();
    if (hasPulumi && process.env.BERTH_E2E_DRIVER !== "applier") {
        const { AutomationDriver } = await import("./automation");
        return new AutomationDriver(stack, statePath);
    }
    return new ApplierDriver(statePath, dnsApi, stack);
}

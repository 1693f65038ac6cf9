/**
 * How the scenarios drive berth: the test applier (always available), or the
 * real Pulumi engine through the Automation API when `pulumi` is on PATH
 * (and BERTH_E2E_DRIVER is not "applier").
 */
import { spawnSync } from "node:child_process";
import { Applier, CommandRun, UpReport } from "./applier";
import { StackConfig } from "../unit/harness";

export interface Driver {
    readonly kind: "applier" | "automation";
    up(cfg: StackConfig): Promise<UpReport>;
    destroy(cfg: StackConfig): Promise<UpReport>;
    unprotectAll(): void;
    /** Every secret value the driver has seen (config and generated). */
    secrets(): string[];
    /** Every command run recorded so far, with its outputs. */
    allCommandRuns(): CommandRun[];
    /** Published host port of each container by name. */
    containerPorts(): Record<string, number>;
}

class ApplierDriver implements Driver {
    readonly kind = "applier" as const;
    private applier: Applier;
    private runs: CommandRun[] = [];
    private configSecrets = new Set<string>();

    constructor(statePath: string, dnsApi: string) {
        this.applier = new Applier({ statePath, dnsApi, log: (l) => process.stderr.write(`${l}\n`) });
    }

    async up(cfg: StackConfig): Promise<UpReport> {
        cfg.secrets.forEach((s) => this.configSecrets.add(s));
        const r = await this.applier.up(cfg);
        this.runs.push(...r.commands);
        return r;
    }

    async destroy(cfg: StackConfig): Promise<UpReport> {
        const r = await this.applier.destroy(cfg);
        this.runs.push(...r.commands);
        return r;
    }

    unprotectAll(): void {
        this.applier.unprotectAll();
    }

    secrets(): string[] {
        const generated = Object.values(this.applier.stored.resources)
            .filter((r) => r.type === "random:index/randomPassword:RandomPassword")
            .map((r) => String(r.outputs.result));
        return [...this.configSecrets, ...generated].filter((s) => s.length >= 8);
    }

    allCommandRuns(): CommandRun[] {
        return this.runs;
    }

    containerPorts(): Record<string, number> {
        const out: Record<string, number> = {};
        for (const r of Object.values(this.applier.stored.resources)) {
            if (r.type === "docker:index/container:Container") out[r.inputs.name] = r.inputs.ports?.[0]?.external;
        }
        return out;
    }
}

export async function makeDriver(statePath: string, dnsApi: string, stack: string): Promise<Driver> {
    const hasPulumi = spawnSync("bash", ["-c", "command -v pulumi"]).status === 0;
    if (hasPulumi && process.env.BERTH_E2E_DRIVER !== "applier") {
        const { AutomationDriver } = await import("./automation");
        return new AutomationDriver(stack, statePath);
    }
    return new ApplierDriver(statePath, dnsApi);
}

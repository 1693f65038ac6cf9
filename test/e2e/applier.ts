/**
 * The TEST APPLIER: berth's program (index.ts) applied to real hosts by the
 * engine model (test/e2e/engine.ts) with the provider models of
 * test/e2e/providers.ts. It stands in for `pulumi up` / `pulumi preview
 * --diff` / `pulumi destroy` because the Pulumi engine and its provider
 * plugins cannot be installed where berth is built; where `pulumi` is on
 * PATH, test/e2e/automation.ts runs the same scenarios through the real
 * engine. Each behaviour modelled is cited in those two files' headers and
 * listed, with what it cannot prove, in test/e2e/README.md.
 */
import * as path from "node:path";
import { Engine, EngineReport, PlannedStep, readState, StateFile, StoredResource, UpOptions } from "./engine";
import { CommandRun, HostModels, tarOneFile } from "./providers";
import { ROOT, StackConfig } from "../unit/harness";

export type { CommandRun, StateFile, StoredResource, PlannedStep, UpOptions };
export { tarOneFile, readState };

export interface UpReport {
    ok: boolean;
    error?: string;
    seconds: number;
    commands: CommandRun[];
    /** create/update/delete of docker networks, volumes, containers. */
    dockerChanges: string[];
    /** Every resource's step (planned, for a preview), by URN. */
    steps: Record<string, PlannedStep>;
    /** With refresh: the refresh steps whose result is not `same` (the Read changed the state, or found it gone). */
    refreshed?: Record<string, PlannedStep>;
    outputs: Record<string, unknown>;
    secretOutputs?: string[];
}

export interface ApplierOptions {
    statePath: string;
    /** pebble-challtestsrv management API (http://ip:8055), for DNS records. */
    dnsApi?: string;
    log?: (line: string) => void;
}

export class Applier {
    constructor(private opts: ApplierOptions) {}

    get stored(): StateFile {
        return readState(this.opts.statePath);
    }

    private async op(cfg: StackConfig, f: (e: Engine) => Promise<EngineReport>): Promise<UpReport> {
        const commands: CommandRun[] = [];
        const dockerChanges: string[] = [];
        const host = new HostModels({ dnsApi: this.opts.dnsApi, log: this.opts.log, commands, dockerChanges });
        const engine = new Engine({ statePath: this.opts.statePath, project: "berth", stack: cfg.stack, models: host.models(), log: this.opts.log });
        try {
            const r = await f(engine);
            return { ok: r.ok, error: r.error, seconds: r.seconds, steps: r.steps, refreshed: r.refreshed, outputs: r.outputs, secretOutputs: r.secretOutputs, commands, dockerChanges };
        } finally {
            host.close();
        }
    }

    private run(cfg: StackConfig) {
        return {
            config: cfg.values,
            secretKeys: cfg.secretKeys,
            program: () => {
                // A fresh copy of the program's modules for every run (config is read at load).
                for (const k of Object.keys(require.cache)) {
                    if (k.startsWith(ROOT) && !k.includes(`${path.sep}node_modules${path.sep}`) && !k.includes(`${path.sep}test${path.sep}`)) delete require.cache[k];
                }
                return require(path.join(ROOT, "index.ts")) as Record<string, unknown>;
            },
        };
    }

    /** `pulumi up` (`--refresh`, `--expect-no-changes` with the options). */
    up(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        return this.op(cfg, (e) => e.up(this.run(cfg), false, opts));
    }

    /**
     * `pulumi preview --diff`: the planned step of every resource; nothing
     * changes on a host (with `refresh`, the providers' Reads look at it).
     */
    preview(cfg: StackConfig, opts: UpOptions = {}): Promise<UpReport> {
        return this.op(cfg, (e) => e.up(this.run(cfg), true, opts));
    }

    /** `pulumi refresh`: every resource read, the state updated; the program does not run. */
    refresh(cfg: StackConfig, opts: Pick<UpOptions, "expectNoChanges"> = {}): Promise<UpReport> {
        return this.op(cfg, (e) => e.refresh(false, opts));
    }

    /** `pulumi destroy`. */
    destroy(cfg: StackConfig): Promise<UpReport> {
        return this.op(cfg, (e) => e.destroy());
    }

    /** `pulumi state unprotect --all`. */
    unprotectAll(stack: string): void {
        new Engine({ statePath: this.opts.statePath, project: "berth", stack, models: {} }).unprotectAll();
    }
}

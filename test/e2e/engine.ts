/**
 * A model of the Pulumi deployment engine, small enough to read and strict
 * enough to trust: it runs a Pulumi program under the SDK's mock runtime and
 * turns each registration into the step the real engine would take, calling
 * a provider model (test/e2e/providers.ts for the real host, fakes in
 * test/unit/engine.test.ts) exactly where the engine calls its provider.
 *
 * Every behaviour below is read from the engine's source (pulumi/pulumi,
 * master as of 2026-11; file paths under pkg/resource/deploy/ unless noted;
 * details and line references in test/e2e/README.md "What the applier
 * mirrors"). Where the source left a doubt, the harsher behaviour is modelled.
 *
 *  1. Identity is the URN: `urn:pulumi:<stack>::<project>::<parent type
 *     chain $-joined>$<type>::<name>` (sdk/go/common/resource/urn.go NewURN,
 *     with the parent's full QualifiedType; the root Stack is not part of the
 *     chain). The SDK mock monitor builds URNs from the immediate parent type
 *     only and prefixes the Stack type, so the model computes URNs itself.
 *     Old state is found by URN, then by each alias (step_generator.go
 *     generateSteps: `sg.urns`/aliases lookup); a child inherits one alias per
 *     alias of its parent (sdk/nodejs/resource.ts inheritedChildAlias).
 *     A resource whose URN is not registered again is deleted after the
 *     program finishes (step_generator.go GenerateDeletes) — running its
 *     provider delete, i.e. a remote.Command's `delete` script.
 *  2. Destroy deletes in reverse dependency order (registration order is a
 *     topological order here). A protected resource fails its own delete
 *     (step.go DeleteStep.Apply: "unable to delete resource ... protected")
 *     and the engine carries on with the others; the operation fails.
 *     `retainOnDelete` resources are dropped from state without the
 *     provider's delete (step.go DeleteStep: `s.old.RetainOnDelete`).
 *  3. Replace is create-before-delete: the new resource is created, the old
 *     one is kept in state marked `delete: true` (pending deletion) and
 *     deleted after every create and update of the run, with the removed
 *     resources (step_generator.go generateStepsFromDiff → CreateReplacement
 *     + ReplaceStep, DeleteStep{replacing} scheduled by GenerateDeletes).
 *     `deleteBeforeReplace` deletes first. A delete that fails stays in
 *     state as pending and is retried at the start of the next update
 *     (deployment_executor.go: pending deletes are generated first). A
 *     protected resource (old and new) cannot be replaced: the update stops
 *     (step_generator.go `if new.Protect && old.Protect` → BailErrorf).
 *  4. A failed step cancels the deployment: no new step starts, steps in
 *     flight finish (step_executor.go cancelDueToError, without
 *     --continue-on-error). Removed resources are then not deleted.
 *  5./6./7. Provider behaviour (connection, docker, containers, host keys)
 *     lives in test/e2e/providers.ts with its own citations.
 *  -  A changed provider reference (step_generator.go diff, before the
 *     resource's own diff: providerChanged): a custom resource that gains
 *     or loses a provider is replaced; one whose provider was reached through
 *     an alias is not; otherwise the new provider's DiffConfig of the old
 *     provider's inputs decides, and a replacement there replaces the
 *     resource (ReplaceKeys ["provider"]). The provider model says what its
 *     DiffConfig does (providers.ts: docker never replaces); a provider
 *     model that does not say is taken to replace.
 *  8. Preview runs the program with dryRun; a resource being created or
 *     updated has unknown computed outputs, so everything that depends on
 *     them is unknown too; the step and the changed input keys are reported
 *     for every resource, nothing touches a host.
 *  -  ignoreChanges: the old value of an ignored property replaces the new
 *     one before the provider diff (step_generator.go processIgnoreChanges).
 *  -  A resource whose last create partially failed (a provider returning
 *     state with an error, e.g. a container that did not get healthy within
 *     `wait`) is stored with `initErrors`; the next update forces an update
 *     step for it even with unchanged inputs (step_generator.go
 *     `hasInitErrors`, applyReplaceOnChanges).
 *  -  Secrets are encrypted in the state file (AES-256-GCM, key in a 0700
 *     directory outside the working tree), as the engine encrypts secret
 *     values with the stack's secrets provider.
 *  9. Refresh (`pulumi refresh`, and `preview`/`up` with `--refresh`, the
 *     Automation API's `refresh: true`; pulumi/pulumi master 2026-08-21,
 *     1b5949891b3c). Before the program runs, every resource of the old
 *     state gets a RefreshStep (deployment_executor.go Execute: `if
 *     opts.Refresh && !opts.RefreshProgram { ex.refresh(...) }`; refresh()
 *     makes one NewRefreshStep per resource, views excepted; `--run-program`,
 *     env PULUMI_RUN_PROGRAM, is off by default and not modelled) and the base
 *     state is rebuilt from their results (rebuildBaseState) before any
 *     diff; the step generator then diffs the program against the refreshed
 *     state. RefreshStep.Apply (step.go): components, providers and
 *     pending-replacement resources are left as they are; every other
 *     resource — pending deletes included — is read with the provider's
 *     Read(id, old inputs, old outputs). An empty ID means the resource is
 *     gone: it is dropped from the state (`isDeleted`, New() = nil), so the
 *     `up` that follows creates it again; otherwise the outputs become the
 *     Read's outputs and the inputs the Read's inputs when it returns any
 *     (else the old inputs are kept). A failed Read fails the operation
 *     (step executor errored) before the program runs. The refreshed state's
 *     init errors are the Read's own (`s.new.InitErrors = initErrors`, set
 *     only by a Read that reports a partial failure, which none of the
 *     providers here does): a refresh clears those of a partial create, and
 *     the next up no longer forces its update. The RefreshStep's
 *     op (ResultOp) is `delete` for a gone resource, `update` when the
 *     provider's Diff of the refreshed state against the old inputs is not
 *     DiffNone (outputs alone do not count), else `same`; in an update or a
 *     preview those refresh steps are not counted as changes (update.go
 *     OnResourceStepPost: `record = step.Logical()`, false for a RefreshStep,
 *     unless the operation is a refresh). A preview reads like an update but
 *     writes no state. A resource whose state only changed in its outputs
 *     (an image's `imageId`) then has a `same` step that hands the program
 *     the refreshed outputs (SameStep keeps old outputs), so what depends on
 *     them sees the new values.
 *  10. `--expect-no-changes` (pkg/cmd/pulumi/operations/preview.go, up.go,
 *     refresh.go): after the operation, `engine.HasChanges(changes)`
 *     (update.go: any counted step whose op is not same/read) fails it with
 *     "no changes were expected for preview|update|refresh but changes were
 *     proposed" (backenderr.NoChangesExpectedError). For `up` the check runs
 *     after the changes were applied. The model lists each non-same step
 *     under that line, as the CLI's summary does.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { isUnknown } from "@pulumi/pulumi/output";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { qualifiedType, urnName, urnType } from "../../lib/urn";
import { readStoredState, StateFile, StoredResource } from "./storedState";

/** Pulumi's wire markers for a secret value: the SDK's own constants (sdk/nodejs/runtime/rpc.ts). */
export const SECRET_SIG = specialSigKey;
export const SECRET_VALUE_SIG = specialSecretSig;
/** The SDK's wire value for an unknown (sdk/nodejs/runtime/rpc.ts unknownValue). */
export const UNKNOWN = unknownValue;

export type Op = "create" | "update" | "replace" | "delete" | "same";

export type { StateFile, StoredResource } from "./storedState";

export interface PlannedStep {
    op: Op;
    /** Input keys whose value changes (top level). */
    keys: string[];
    /** Keys that force the replacement. */
    replaceKeys?: string[];
}

export interface EngineReport {
    ok: boolean;
    error?: string;
    seconds: number;
    /** The step taken (or, in a preview, planned) for every resource, by URN. */
    steps: Record<string, PlannedStep>;
    /** With refresh: each refresh step whose result is not `same` (update: the Read changed the inputs; delete: gone). */
    refreshed?: Record<string, PlannedStep>;
    outputs: Record<string, unknown>;
    /** Stack outputs the program marked secret (`pulumi.secret`): `pulumi stack output` shows them as [secret]. */
    secretOutputs?: string[];
}

/** What a provider model reports for a diff (on plain, unwrapped values). */
export interface DiffResult {
    changedKeys: string[];
    replaceKeys: string[];
}

/** Raised by a provider's create/update when the resource exists but is unhealthy (bridge: state + error). */
export class PartialFailure extends Error {
    constructor(message: string, readonly outputs: Record<string, any>) {
        super(message);
    }
}

export interface ProviderContext {
    urn: string;
    name: string;
    /** The resource's provider instance URN (docker), if any. */
    provider?: string;
    /** Configuration of that provider instance (its stored inputs, unwrapped). */
    providerConfig?: Record<string, any>;
}

/** The behaviour of one resource type's provider, as the engine sees it. */
export interface ResourceModel {
    diff(olds: any, news: any): DiffResult;
    /** Output keys the provider computes (unknown in a preview of a create/update). */
    computed?: string[];
    /** Output keys the provider's schema marks secret. */
    secretOutputs?: string[];
    create(ctx: ProviderContext, inputs: any): Promise<Record<string, any>>;
    /** Missing: an update is not possible (every change replaces). */
    update?(ctx: ProviderContext, old: StoredResource, inputs: any): Promise<Record<string, any>>;
    /** Missing: delete does nothing on the outside. */
    delete?(ctx: ProviderContext, old: StoredResource): Promise<void>;
    /** A Terraform-bridged provider (its Update with no diff returns the old state untouched). */
    bridged?: boolean;
    /**
     * A provider resource's DiffConfig as providerChanged (step_generator.go)
     * asks it when a resource's provider reference changed: true = the new
     * provider's config diff from the old provider's is a replacement, which
     * replaces the resource. Missing on a provider model: harsher, every such
     * change replaces.
     */
    diffConfigReplaces?(olds: any, news: any): boolean;
    /**
     * The provider's Read for a refresh (plain values in and out): `undefined`
     * when the resource is gone (an empty ID). `inputs` omitted: the engine
     * keeps the old inputs. Missing: Read returns the state as it is
     * (pulumi-go-provider's default Read, terraform-provider-random's no-op Read).
     */
    read?(ctx: ProviderContext, old: StoredResource): Promise<ReadResult | undefined>;
}

/** What a provider's Read returns for a resource that still exists (engine plugin.ReadResult). */
export interface ReadResult {
    outputs: Record<string, any>;
    inputs?: Record<string, any>;
}

/**
 * The inputs a Terraform-bridged provider returns from a refresh's Read
 * (pulumi-terraform-bridge pkg/tfbridge/provider.go Read →
 * schema.go ExtractInputsFromOutputs with isRefresh: only inputs already
 * present are given new values, extractInputs): an object keeps only its old
 * keys, each taking the refreshed value (a key the state no longer has is
 * dropped); a list is matched by position over the old elements and stops
 * where the new list ends; anything else takes the refreshed value.
 */
export function bridgeRefreshInputs(oldInputs: any, outputs: any): any {
    if (Array.isArray(oldInputs) && Array.isArray(outputs)) {
        const out: any[] = [];
        for (let i = 0; i < oldInputs.length && i < outputs.length; i++) out.push(bridgeRefreshInputs(oldInputs[i], outputs[i]));
        return out;
    }
    if (oldInputs && outputs && typeof oldInputs === "object" && typeof outputs === "object" && !Array.isArray(oldInputs) && !Array.isArray(outputs)) {
        const out: Record<string, any> = {};
        for (const k of Object.keys(oldInputs)) if (k in outputs) out[k] = bridgeRefreshInputs(oldInputs[k], outputs[k]);
        return out;
    }
    return outputs;
}

/** Options of `up` and `preview` (the CLI's `--refresh`, `--expect-no-changes`). */
export interface UpOptions {
    refresh?: boolean;
    expectNoChanges?: boolean;
}

/** step.go deleteProtectedError. */
export class ProtectedDelete extends Error {
    constructor(readonly urn: string) {
        super(`resource "${urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, either remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n\`pulumi state unprotect '${urn}'\``);
    }
}

export type Models = Record<string, ResourceModel>;

/** A diff where the listed keys replace and every other change updates in place. */
export function diffBy(replaceOn: (key: string) => boolean): (olds: any, news: any) => DiffResult {
    return (olds, news) => {
        const keys = [...new Set([...Object.keys(olds ?? {}), ...Object.keys(news ?? {})])].sort();
        const changedKeys = keys.filter((k) => !sameValue(olds?.[k], news?.[k]));
        return { changedKeys, replaceKeys: changedKeys.filter(replaceOn) };
    };
}

/** Deep equality where any unknown on the new side counts as a change. */
export function sameValue(a: unknown, b: unknown): boolean {
    if (containsUnknown(b)) return false;
    return JSON.stringify(a) === JSON.stringify(b) || (isEmpty(a) && isEmpty(b));
}

function isEmpty(v: unknown): boolean {
    return v === undefined || v === null || (Array.isArray(v) && v.length === 0);
}

export function containsUnknown(v: unknown): boolean {
    // The wire sentinel, or what the SDK deserialises it to in a preview (output.ts `unknown`).
    if (v === UNKNOWN || isUnknown(v)) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
    return false;
}

export function isSecret(v: any): boolean {
    return !!v && typeof v === "object" && v[SECRET_SIG] === SECRET_VALUE_SIG;
}

export function unwrap(v: any): any {
    if (isSecret(v)) return unwrap(v.value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

export function secretWrap(v: unknown): unknown {
    return isSecret(v) ? v : { [SECRET_SIG]: SECRET_VALUE_SIG, value: v };
}

// ---------------------------------------------------------------------------
// Secrets in the state file
// ---------------------------------------------------------------------------

/** The key directory: outside the working tree, 0700 (like a passphrase secrets provider's key). */
export function stateKeyDir(): string {
    return process.env.BERTH_APPLIER_KEY_DIR ?? path.join(os.homedir(), ".local", "state", "berth-applier");
}

function stateKey(): Buffer {
    const dir = stateKeyDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    const file = path.join(dir, "state.key");
    if (!fs.existsSync(file)) {
        try {
            fs.writeFileSync(file, crypto.randomBytes(32), { mode: 0o600, flag: "wx" });
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
    }
    return fs.readFileSync(file);
}

function mapSecrets(v: any, f: (secret: any) => any): any {
    if (isSecret(v)) return f(v);
    if (Array.isArray(v)) return v.map((x) => mapSecrets(x, f));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapSecrets(x, f)]));
    return v;
}

export function encryptSecrets(v: any, key: Buffer): any {
    return mapSecrets(v, (s) => {
        if (typeof s.ciphertext === "string") return s;
        const iv = crypto.randomBytes(12);
        const c = crypto.createCipheriv("aes-256-gcm", key, iv);
        const body = Buffer.concat([c.update(JSON.stringify(s.value ?? null), "utf8"), c.final()]);
        return { [SECRET_SIG]: SECRET_VALUE_SIG, ciphertext: Buffer.concat([iv, c.getAuthTag(), body]).toString("base64") };
    });
}

export function decryptSecrets(v: any, key: Buffer): any {
    return mapSecrets(v, (s) => {
        if (typeof s.ciphertext !== "string") return s;
        const buf = Buffer.from(s.ciphertext, "base64");
        const d = crypto.createDecipheriv("aes-256-gcm", key, buf.subarray(0, 12));
        d.setAuthTag(buf.subarray(12, 28));
        const plain = Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString("utf8");
        return { [SECRET_SIG]: SECRET_VALUE_SIG, value: JSON.parse(plain) };
    });
}

/** Reads a state file, decrypting its secrets. */
export function readState(file: string): StateFile {
    const raw = readStoredState(file);
    const key = stateKey();
    return { version: 2, resources: raw.resources.map((r: StoredResource) => ({ ...r, inputs: decryptSecrets(r.inputs, key), outputs: decryptSecrets(r.outputs, key) })) };
}

export function writeState(file: string, state: StateFile): void {
    const key = stateKey();
    const enc = { version: 2, resources: state.resources.map((r) => ({ ...r, inputs: encryptSecrets(r.inputs, key), outputs: encryptSecrets(r.outputs, key) })) };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(enc, null, 1), { mode: 0o600 });
    fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------
// URNs
// ---------------------------------------------------------------------------

const STACK_TYPE = "pulumi:pulumi:Stack";

export function makeUrn(stack: string, project: string, parentUrn: string | undefined, type: string, name: string): string {
    const parentType = parentUrn ? qualifiedType(parentUrn) : undefined;
    const qt = parentType && parentType !== STACK_TYPE ? `${parentType}$${type}` : type;
    return `urn:pulumi:${stack}::${project}::${qt}::${name}`;
}


/** What the program registered for one resource (from the resource transformation). */
interface Registration {
    urn: string;
    aliases: string[];
    parent?: string;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    dependsOn: string[];
    additionalSecretOutputs: string[];
}

// ---------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------

export interface EngineOptions {
    statePath: string;
    project: string;
    stack: string;
    models: Models;
    log?: (line: string) => void;
}

export interface ProgramRun {
    /** Pulumi config (`ns:key` -> string) and which keys are secret. */
    config: Record<string, string>;
    secretKeys: string[];
    /** Registers the program's resources; returns its stack outputs. */
    program: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

export class Engine {
    private state: StateFile;
    private report!: EngineReport;
    /** This run's registrations: URN -> inputs (a provider's new config, also in a preview). */
    private registered = new Map<string, any>();
    /** This run's aliases that found an old resource: old URN -> new URN (step_generator.go `sg.aliased`). */
    private aliased = new Map<string, string>();

    constructor(private opts: EngineOptions) {
        this.state = readState(opts.statePath);
    }

    get stored(): StateFile {
        return this.state;
    }

    private save(): void {
        writeState(this.opts.statePath, this.state);
    }

    private log(line: string): void {
        this.opts.log?.(line);
    }

    private live(urn: string): StoredResource | undefined {
        return this.state.resources.find((r) => r.urn === urn && !r.pendingDelete);
    }

    /**
     * step_generator.go providerChanged: the same reference is no change; a
     * custom resource without one before or after is; a provider reached
     * through an alias is not; otherwise the new provider's DiffConfig of the
     * old provider's inputs against its own decides (a replacement replaces
     * the resource). References here are URNs: no provider model replaces a
     * provider (its id, the reference's other half, stays: providers/
     * registry.go Update keeps req.ID).
     */
    private providerChanged(old: StoredResource, provider: string | undefined): boolean {
        if (old.provider === provider) return false;
        if (!old.provider || !provider) return true;
        if (this.aliased.get(old.provider) === provider) return false;
        const newType = this.registered.has(provider) ? urnType(provider) : undefined;
        const pm = newType ? this.model(newType) : undefined;
        if (!pm?.diffConfigReplaces) return true;
        const oldProv = this.state.resources.find((r) => r.urn === old.provider);
        return pm.diffConfigReplaces(unwrap(oldProv?.inputs ?? {}), unwrap(this.registered.get(provider)));
    }

    private model(type: string): ResourceModel | undefined {
        return this.opts.models[type];
    }

    private providerContext(r: { urn: string; provider?: string }): ProviderContext {
        const p = r.provider ? this.live(r.provider) ?? this.state.resources.find((x) => x.urn === r.provider) : undefined;
        return { urn: r.urn, name: urnName(r.urn), provider: r.provider, providerConfig: p ? unwrap(p.inputs) : undefined };
    }

    private setStep(urn: string, step: PlannedStep): void {
        this.report.steps[urn] = step;
    }

    // -- deletes --------------------------------------------------------------

    /** One delete step (step.go DeleteStep.Apply). Throws on failure; protected resources throw without deleting. */
    private async deleteOne(r: StoredResource, preview: boolean): Promise<void> {
        if (r.protect) {
            throw new ProtectedDelete(r.urn);
        }
        if (!r.pendingDelete) this.setStep(r.urn, { op: "delete", keys: [] });
        if (preview) return;
        if (r.custom && !r.retainOnDelete) {
            const m = this.model(r.type);
            if (m?.delete) {
                this.log(`  delete ${r.urn}`);
                await m.delete(this.providerContext(r), r);
            }
        }
        this.state.resources = this.state.resources.filter((x) => x !== r);
        this.save();
    }

    /**
     * Deletes in reverse dependency order (registration order reversed). A
     * protected resource's error does not stop the others, but everything it
     * depends on (parent, provider, dependencies, transitively) is skipped
     * (deployment_executor.go: TransitiveDependenciesOf the errored step);
     * any other failure stops the walk (step_executor.go cancelDueToError).
     */
    private async deleteAll(list: StoredResource[], preview: boolean, errors: string[]): Promise<void> {
        const sorted = [...list].sort((a, b) => b.order - a.order);
        const skip = new Set<string>();
        const skipDependenciesOf = (r: StoredResource) => {
            const todo = [...r.dependencies];
            while (todo.length) {
                const u = todo.pop()!;
                if (skip.has(u)) continue;
                skip.add(u);
                for (const x of this.state.resources) if (x.urn === u) todo.push(...x.dependencies);
            }
        };
        for (const r of sorted) {
            if (!this.state.resources.includes(r) || skip.has(r.urn)) continue;
            try {
                await this.deleteOne(r, preview);
            } catch (e) {
                errors.push((e as Error).message);
                if (!(e instanceof ProtectedDelete)) return;
                skipDependenciesOf(r);
            }
        }
    }

    // -- one registration -----------------------------------------------------

    private async step(reg: Registration, type: string, name: string, custom: boolean, rawInputs: any, providerUrn: string | undefined, order: number, preview: boolean): Promise<any> {
        const urn = reg.urn;
        const m = custom ? this.model(type) : undefined;
        if (custom && !m) throw new Error(`applier: no provider model for ${type}`);

        // Old state: by URN, then by alias (step_generator.go).
        let old = this.live(urn);
        if (!old) {
            for (const a of reg.aliases) {
                old = this.live(a);
                if (old) {
                    this.aliased.set(a, urn);
                    break;
                }
            }
        }
        this.registered.set(urn, rawInputs);

        const record = (inputs: any, outputs: any, extra: Partial<StoredResource> = {}): StoredResource => ({
            urn,
            type,
            name,
            custom,
            parent: reg.parent,
            inputs,
            outputs,
            protect: reg.protect,
            retainOnDelete: reg.retainOnDelete,
            deleteBeforeReplace: reg.deleteBeforeReplace,
            ignoreChanges: reg.ignoreChanges,
            dependencies: [...new Set([...reg.dependsOn, ...(reg.parent ? [reg.parent] : []), ...(providerUrn ? [providerUrn] : [])])],
            provider: providerUrn,
            order,
            ...extra,
        });
        const put = (r: StoredResource, replacing?: StoredResource) => {
            if (preview) return;
            const i = replacing ? this.state.resources.indexOf(replacing) : -1;
            if (i >= 0) this.state.resources[i] = r;
            else this.state.resources.push(r);
            this.save();
        };

        if (!custom || !m) {
            // Components (and the stack) have no provider: their state is their inputs.
            const same = old && JSON.stringify(old.inputs) === JSON.stringify(rawInputs);
            this.setStep(urn, { op: !old ? "create" : same ? "same" : "update", keys: [] });
            put(record(rawInputs, rawInputs), old);
            return rawInputs;
        }

        // ignoreChanges: keep the old value (processIgnoreChanges).
        let inputs = rawInputs;
        if (old && reg.ignoreChanges.length) {
            inputs = { ...rawInputs };
            for (const k of reg.ignoreChanges) {
                if (k in old.inputs) inputs[k] = old.inputs[k];
                else delete inputs[k];
            }
        }
        const plain = unwrap(inputs);
        const ctx: ProviderContext = { urn, name, provider: providerUrn, providerConfig: providerUrn ? unwrap(this.live(providerUrn)?.inputs ?? {}) : undefined };
        const secretKeys = new Set([...reg.additionalSecretOutputs, ...(m.secretOutputs ?? []), ...Object.keys(inputs ?? {}).filter((k) => containsSecret(inputs[k]))]);
        const finish = (out: Record<string, any>) => markSecrets(out, secretKeys);
        const previewOutputs = () => {
            const out: Record<string, any> = { ...(old ? unwrap(old.outputs) : {}), ...plain };
            for (const k of m.computed ?? []) out[k] = UNKNOWN;
            return finish(out);
        };

        const create = async (): Promise<any> => {
            try {
                const out = finish(await m.create(ctx, plain));
                return out;
            } catch (e) {
                if (e instanceof PartialFailure) {
                    put(record(inputs, finish(e.outputs), { initErrors: [e.message] }));
                }
                throw e;
            }
        };

        if (!old) {
            this.setStep(urn, { op: "create", keys: Object.keys(plain).sort() });
            if (preview) return previewOutputs();
            this.log(`  create ${urn}`);
            const out = await create();
            put(record(inputs, out));
            return out;
        }

        // Before the resource's own diff, its provider reference (step_generator.go diff → providerChanged).
        const d = this.providerChanged(old, providerUrn) ? { changedKeys: ["provider"], replaceKeys: ["provider"] } : m.diff(unwrap(old.inputs), plain);
        const forced = (old.initErrors?.length ?? 0) > 0;
        if (d.changedKeys.length === 0 && !forced) {
            this.setStep(urn, { op: "same", keys: [] });
            // Options (protect, retainOnDelete, dependencies) are written even when nothing changes.
            put(record(inputs, old.outputs, {}), old);
            return old.outputs;
        }
        if (d.replaceKeys.length > 0) {
            if (reg.protect && old.protect) {
                const msg = `unable to replace resource "${urn}"\nas it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\``;
                this.setStep(urn, { op: "replace", keys: d.changedKeys, replaceKeys: d.replaceKeys });
                throw new Error(msg);
            }
            this.setStep(urn, { op: "replace", keys: d.changedKeys, replaceKeys: d.replaceKeys });
            if (preview) return previewOutputs();
            // Unprotecting and replacing in one update is allowed: the old copy takes the new flag.
            old.protect = reg.protect;
            if (reg.deleteBeforeReplace) {
                this.log(`  replace (delete first) ${urn}`);
                old.pendingDelete = true;
                this.save();
                await this.deleteOne(old, false);
                const out = await create();
                put(record(inputs, out));
                return out;
            }
            this.log(`  replace ${urn}`);
            const out = await create();
            // The old one waits for deletion at the end of the run, under the same URN.
            old.pendingDelete = true;
            put(record(inputs, out));
            return out;
        }
        // Update in place (also: a rename through an alias with no input change).
        this.setStep(urn, { op: d.changedKeys.length || forced ? "update" : "same", keys: d.changedKeys });
        if (preview) return d.changedKeys.length || forced ? previewOutputs() : old.outputs;
        if (d.changedKeys.length === 0 && !forced) {
            put(record(inputs, old.outputs), old);
            return old.outputs;
        }
        this.log(`  update ${urn} (${d.changedKeys.join(", ") || "init errors"})`);
        if (d.changedKeys.length === 0 && m.bridged) {
            // pulumi-terraform-bridge Update: no TF diff → the old state is returned without
            // calling the provider, and the init errors are cleared (provider.go Update).
            put(record(inputs, old.outputs), old);
            return old.outputs;
        }
        let out: any;
        try {
            out = finish(m.update ? await m.update(ctx, old, plain) : await m.create(ctx, plain));
        } catch (e) {
            if (e instanceof PartialFailure) put(record(inputs, finish(e.outputs), { initErrors: [e.message] }), old);
            throw e;
        }
        put(record(inputs, out), old);
        return out;
    }

    // -- refresh ----------------------------------------------------------------

    /**
     * The refresh steps of every resource in the old state, before the
     * program runs (deployment_executor.go refresh, step.go RefreshStep.Apply;
     * header point 9). Returns every step's result op by URN; throws on a
     * failed Read. A preview updates the state in memory only.
     */
    private async refreshState(preview: boolean): Promise<Record<string, PlannedStep>> {
        const steps: Record<string, PlannedStep> = {};
        for (const r of [...this.state.resources]) {
            const m = r.custom ? this.model(r.type) : undefined;
            // Components, providers (and resources no model reads) keep their state.
            if (!m || r.type.startsWith("pulumi:providers:") || !m.read) {
                steps[r.urn] ??= { op: "same", keys: [] };
                continue;
            }
            let got: ReadResult | undefined;
            try {
                got = await m.read(this.providerContext(r), r);
            } catch (e) {
                throw new Error(`${r.urn}: refreshing failed: ${(e as Error).message}`);
            }
            const i = this.state.resources.indexOf(r);
            if (!got) {
                this.log(`  refresh ${r.urn}: gone, removed from the state`);
                this.state.resources.splice(i, 1);
                // A pending delete shares its URN with the live resource: only the live one's step is reported.
                if (!r.pendingDelete) steps[r.urn] = { op: "delete", keys: [] };
                continue;
            }
            const secretOutputs = new Set(m.secretOutputs ?? []);
            const outputs = keepMarkers(r.outputs, got.outputs, secretOutputs);
            const inputs = got.inputs ? keepMarkers(r.inputs, got.inputs, new Set()) : r.inputs;
            // ResultOp: the provider's Diff of the refreshed state against the old inputs.
            const d = m.diff(unwrap(inputs), unwrap(r.inputs));
            // A Read without a partial failure leaves no init errors (s.new.InitErrors = nil).
            this.state.resources[i] = { ...r, inputs, outputs, initErrors: undefined };
            if (d.changedKeys.length) this.log(`  refresh ${r.urn}: ${d.changedKeys.join(", ")} changed`);
            if (!r.pendingDelete) steps[r.urn] = { op: d.changedKeys.length ? "update" : "same", keys: d.changedKeys };
        }
        if (!preview) this.save();
        return steps;
    }

    /** `--expect-no-changes`: the error of an operation whose steps are not all `same` (header point 10). */
    private expectNoChanges(operation: "preview" | "update" | "refresh", steps: Record<string, PlannedStep>): string | undefined {
        const changed = Object.entries(steps).filter(([, s]) => s.op !== "same");
        if (!changed.length) return undefined;
        const sign: Record<Op, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " " };
        const lines = changed.map(([urn, s]) => `  ${sign[s.op]} ${s.op} ${urn}${s.keys.length ? ` [${s.keys.join(", ")}]` : ""}`);
        return [`no changes were expected for ${operation} but changes were proposed`, ...lines].join("\n");
    }

    // -- operations -----------------------------------------------------------

    /**
     * `pulumi up` (or, with preview, `pulumi preview --diff`); `refresh`
     * reads every resource first, `expectNoChanges` fails the operation when a
     * step is not `same` (after applying it, for an up).
     */
    async up(run: ProgramRun, preview = false, opts: UpOptions = {}): Promise<EngineReport> {
        const t0 = this.begin();
        const errors: string[] = [];
        const fail = (e: unknown) => {
            const msg = e instanceof Error ? e.message : String(e);
            if (!errors.includes(msg)) errors.push(msg);
        };

        if (opts.refresh) {
            try {
                const refreshed = await this.refreshState(preview);
                this.report.refreshed = Object.fromEntries(Object.entries(refreshed).filter(([, s]) => s.op !== "same"));
            } catch (e) {
                fail(e);
                return this.finish(t0, errors);
            }
        }

        // Pending deletes of an earlier run are not retried first (removed in
        // pulumi v3.46.0): they join the deletes at the end of this run.
        const seen = new Set<string>();
        let cancelled = false;
        let order = 0;
        const outputs = await this.runProgram(run, preview, async (reg, a) => {
            seen.add(reg.urn);
            for (const al of reg.aliases) seen.add(al);
            if (cancelled && !preview) throw new Error(`${reg.urn}: not applied: the deployment was cancelled after an earlier failure`);
            try {
                return await this.step(reg, a.type, a.name, a.custom ?? true, a.inputs, a.provider ? a.provider.split("::").slice(0, -1).join("::") : undefined, order++, preview);
            } catch (e) {
                cancelled = true;
                fail(e);
                throw e;
            }
        }, fail);
        this.report.outputs = outputs.values;
        this.report.secretOutputs = outputs.secret;

        // Removed resources and replaced ones: deleted after every create and
        // update (GenerateDeletes in performPostSteps, never reached after a failure).
        if (errors.length === 0 || preview) {
            const gone = this.state.resources.filter((r) => r.pendingDelete || !seen.has(r.urn));
            await this.deleteAll(gone, preview, errors);
        }
        if (opts.expectNoChanges && errors.length === 0) {
            const e = this.expectNoChanges(preview ? "preview" : "update", this.report.steps);
            if (e) errors.push(e);
        }
        return this.finish(t0, errors);
    }

    /** `pulumi refresh` (with preview, `pulumi refresh --preview-only`): every resource read, no program. */
    async refresh(preview = false, opts: { expectNoChanges?: boolean } = {}): Promise<EngineReport> {
        const t0 = this.begin();
        const errors: string[] = [];
        try {
            this.report.steps = await this.refreshState(preview);
            this.report.refreshed = Object.fromEntries(Object.entries(this.report.steps).filter(([, s]) => s.op !== "same"));
        } catch (e) {
            errors.push((e as Error).message);
        }
        if (opts.expectNoChanges && errors.length === 0) {
            const e = this.expectNoChanges("refresh", this.report.steps);
            if (e) errors.push(e);
        }
        return this.finish(t0, errors);
    }

    /** `pulumi destroy`: every resource, reverse order; protected ones fail on their own. */
    async destroy(preview = false): Promise<EngineReport> {
        const t0 = this.begin();
        const errors: string[] = [];
        await this.deleteAll([...this.state.resources], preview, errors);
        return this.finish(t0, errors);
    }

    /** `pulumi state unprotect --all`. */
    unprotectAll(): void {
        for (const r of this.state.resources) r.protect = false;
        this.save();
    }

    /**
     * `pulumi state delete <urn> [--target-dependents] [--force]`
     * (pkg/cmd/pulumi/state/state_delete.go → pkg/resource/edit/operations.go
     * DeleteResource): the resource leaves the state, nothing runs on the
     * outside. Its dependents (graph.OnlyDependsOn: by parent, dependency or
     * provider reference, transitively) refuse the delete unless
     * `targetDependents`, which deletes them too; a protected one refuses it
     * unless `force`. Returns the URNs deleted.
     */
    stateDelete(urn: string, o: { targetDependents?: boolean; force?: boolean } = {}): string[] {
        const condemned = this.state.resources.filter((r) => r.urn === urn);
        if (condemned.length === 0) throw new Error(`No such resource ${JSON.stringify(urn)} exists in the current state`);
        const set = new Set([urn]);
        for (let grew = true; grew; ) {
            grew = false;
            for (const r of this.state.resources) {
                if (set.has(r.urn)) continue;
                if ((r.parent && set.has(r.parent)) || (r.provider && set.has(r.provider)) || r.dependencies.some((d) => set.has(d))) {
                    set.add(r.urn);
                    grew = true;
                }
            }
        }
        const doomed = this.state.resources.filter((r) => set.has(r.urn));
        if (set.size > 1 && !o.targetDependents) {
            throw new Error(`${urn} can't be deleted because it would leave dangling dependencies: ${[...set].filter((u) => u !== urn).join(", ")}`);
        }
        const prot = doomed.filter((r) => r.protect);
        if (prot.length && !o.force) throw new Error(`Can't delete protected resource ${JSON.stringify(prot[0].urn)}: use --force`);
        this.state.resources = this.state.resources.filter((r) => !set.has(r.urn));
        this.save();
        return [...set];
    }

    /** A new operation: an empty report and no registrations or aliases yet; returns its start time. */
    private begin(): number {
        this.report = { ok: false, seconds: 0, steps: {}, outputs: {} };
        this.registered = new Map();
        this.aliased = new Map();
        return Date.now();
    }

    private finish(t0: number, errors: string[]): EngineReport {
        this.report.ok = errors.length === 0;
        this.report.error = errors.length ? errors.join("\n") : undefined;
        this.report.seconds = (Date.now() - t0) / 1000;
        return this.report;
    }

    // -- the program under the mock runtime -----------------------------------

    private async runProgram(
        run: ProgramRun,
        preview: boolean,
        onResource: (reg: Registration, a: pulumi.runtime.MockResourceArgs) => Promise<any>,
        fail: (e: unknown) => void,
    ): Promise<{ values: Record<string, unknown>; secret: string[] }> {
        const { project, stack } = this.opts;
        const regs = new Map<string, Registration>();
        const urnOf = new WeakMap<object, string>();
        const aliasesOf = new Map<string, string[]>();
        const stackUrn = makeUrn(stack, project, undefined, STACK_TYPE, `${project}-${stack}`);
        const protectOf = new Map<string, boolean>();
        const retainOf = new Map<string, boolean>();
        // The SDK's mock monitor builds URNs from the parent's last type only and keeps the Stack type in
        // the chain; the engine uses the parent's whole qualified type without the Stack (urn.go NewURN).
        const mocks = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: { prototype: { newUrn(parent: string, type: string, name: string): string } } };
        mocks.MockMonitor.prototype.newUrn = (parentUrn: string, type: string, name: string) => makeUrn(stack, project, parentUrn || undefined, type, name);
        const onRejection = (e: unknown) => fail(e);
        process.on("unhandledRejection", onRejection);
        pulumi.runtime.setAllConfig(run.config, run.secretKeys);
        await pulumi.runtime.setMocks(
            {
                newResource: async (a) => {
                    const key = `${a.type}::${a.name}`;
                    const reg = regs.get(key) ?? (a.type === STACK_TYPE ? stackRegistration(makeUrn(stack, project, undefined, a.type, a.name)) : undefined);
                    if (!reg) throw new Error(`applier: ${key} registered without passing the resource transformation`);
                    const out = await onResource(reg, a);
                    return { id: a.custom ? `${a.name}-id` : undefined, state: out };
                },
                call: (a) => {
                    if (a.token === "cloudflare:index/getZone:getZone") return { id: "0".repeat(32), zoneId: "0".repeat(32) };
                    return a.inputs;
                },
            },
            project,
            stack,
            preview,
        );
        try {
            const outputs = await pulumi.runtime.runInPulumiStack(async () => {
                pulumi.runtime.registerStackTransformation((t) => {
                    const o = t.opts as pulumi.CustomResourceOptions;
                    const parentObj = o.parent as object | undefined;
                    // Top-level resources are children of the root Stack (not part of their type chain).
                    const parent = (parentObj ? urnOf.get(parentObj) : undefined) ?? stackUrn;
                    const urn = makeUrn(stack, project, parent, t.type, t.name);
                    urnOf.set(t.resource as object, urn);
                    const key = `${t.type}::${t.name}`;
                    const prev = regs.get(key);
                    if (prev && prev.urn !== urn) throw new Error(`applier: two resources share type and name ${key} under different parents; the model keys registrations by type and name`);
                    if (prev) throw new Error(`Duplicate resource URN '${urn}'; try giving it a unique name`);
                    const own = resolveAliases(o.aliases ?? [], { stack, project, type: t.type, name: t.name, parent, urnOf });
                    // Children inherit aliases from their parent's (sdk/nodejs/resource.ts allAliases,
                    // inheritedChildAlias: a child named after its parent follows the parent's old name).
                    const inherited: string[] = [];
                    if (parent) {
                        const parentName = urnName(parent);
                        const childAlias = (childName: string, childType: string, pa: string) =>
                            makeUrn(stack, project, pa, childType, childName.startsWith(parentName) ? urnName(pa) + childName.slice(parentName.length) : childName);
                        for (const pa of aliasesOf.get(parent) ?? []) {
                            inherited.push(childAlias(t.name, t.type, pa));
                            for (const ca of own) inherited.push(childAlias(urnName(ca), qualifiedType(ca).split("$").pop()!, pa));
                        }
                    }
                    const aliases = [...new Set([...own, ...inherited])].filter((x) => x !== urn);
                    aliasesOf.set(urn, aliases);
                    // protect is inherited from the parent when unset (resource.ts, after transformations run).
                    const protect = o.protect ?? (parent ? protectOf.get(parent) : undefined) ?? false;
                    protectOf.set(urn, protect);
                    // The engine also inherits retainOnDelete (source_eval.go inheritFromParent, v3.158+).
                    const retainOnDelete = o.retainOnDelete ?? (parent ? retainOf.get(parent) : undefined) ?? false;
                    retainOf.set(urn, retainOnDelete);
                    regs.set(key, {
                        urn,
                        aliases,
                        parent,
                        protect,
                        retainOnDelete,
                        deleteBeforeReplace: o.deleteBeforeReplace === true,
                        ignoreChanges: [...(o.ignoreChanges ?? [])],
                        dependsOn: ([] as any[]).concat(o.dependsOn ?? []).map((d) => urnOf.get(d)).filter((x): x is string => !!x),
                        additionalSecretOutputs: [...(o.additionalSecretOutputs ?? [])],
                    });
                    return undefined;
                });
                try {
                    return await run.program();
                } catch (e) {
                    fail(e);
                    return {};
                }
            });
            await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
            return await resolveOutputs(outputs ?? {});
        } catch (e) {
            fail(e);
            return { values: {}, secret: [] };
        } finally {
            process.off("unhandledRejection", onRejection);
        }
    }
}

function stackRegistration(urn: string): Registration {
    return { urn, aliases: [], protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], dependsOn: [], additionalSecretOutputs: [] };
}

function resolveAliases(
    aliases: pulumi.Input<string | pulumi.Alias>[],
    ctx: { stack: string; project: string; type: string; name: string; parent?: string; urnOf: WeakMap<object, string> },
): string[] {
    const out: string[] = [];
    for (const a of aliases) {
        if (typeof a === "string") {
            out.push(a);
            continue;
        }
        if (pulumi.Output.isInstance(a)) throw new Error("applier: aliases given as Outputs are not modelled");
        const al = a as pulumi.Alias & { noParent?: boolean; parentUrn?: string };
        let parent = ctx.parent;
        if (al.noParent || ("parent" in al && (al.parent === undefined || al.parent === pulumi.rootStackResource))) parent = undefined;
        else if (al.parentUrn !== undefined) parent = String(al.parentUrn);
        else if (al.parent !== undefined) parent = typeof al.parent === "string" ? al.parent : ctx.urnOf.get(al.parent as object);
        out.push(makeUrn(String(al.stack ?? ctx.stack), String(al.project ?? ctx.project), parent, String(al.type ?? ctx.type), String(al.name ?? ctx.name)));
    }
    return out;
}

function containsSecret(v: any): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

/**
 * A Read's plain values with the old state's secret markers kept: a key
 * whose value did not change keeps its old (possibly secret-holding) value;
 * a changed value that held a secret, or a secret output key, is wrapped as
 * a whole (the engine keeps secretness across a refresh).
 */
function keepMarkers(old: Record<string, any>, plain: Record<string, any>, secretKeys: Set<string>): Record<string, any> {
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(plain ?? {})) {
        const before = old?.[k];
        if (before !== undefined && JSON.stringify(unwrap(before)) === JSON.stringify(v)) out[k] = before;
        else out[k] = containsSecret(before) || secretKeys.has(k) ? secretWrap(v) : v;
    }
    return out;
}

function markSecrets(out: Record<string, any>, keys: Set<string>): Record<string, any> {
    const r: Record<string, any> = {};
    for (const [k, v] of Object.entries(out)) r[k] = keys.has(k) && v !== UNKNOWN ? secretWrap(v) : v;
    return r;
}

async function resolveOutputs(mod: Record<string, unknown>): Promise<{ values: Record<string, unknown>; secret: string[] }> {
    const values: Record<string, unknown> = {};
    const secret: string[] = [];
    for (const [k, v] of Object.entries(mod)) {
        if (!pulumi.Output.isInstance(v)) {
            values[k] = v;
            continue;
        }
        values[k] = await new Promise((r) => (v as pulumi.Output<unknown>).apply((x) => r(x)));
        if (await (v as unknown as { isSecret: Promise<boolean> }).isSecret) secret.push(k);
    }
    return { values, secret };
}

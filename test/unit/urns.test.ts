/**
 * URN snapshot guard. A resource's identity in Pulumi is its URN
 *
 *     urn:pulumi:<stack>::<project>::<parent type chain $-joined>$<type>::<name>
 *
 * Renaming or re-parenting a resource without `aliases` makes the engine
 * create a new resource and delete the old one, running its delete script
 * on the host. This test runs index.ts under mocks for every stack, computes
 * the URN of every resource the program registers (the root Stack, components,
 * custom resources and explicit providers) and compares them with
 * test/urns/<stack>.txt. BERTH_UPDATE_URNS=1 rewrites those files instead.
 *
 * The URNs are computed here rather than taken from the mocks: MockResourceArgs
 * (@pulumi/pulumi 3.270.0) carries no URN, and the mock monitor's own URNs
 * prefix only the immediate parent's type (and `pulumi:pulumi:Stack` for
 * top-level resources), while the engine prefixes the parent's whole
 * qualified type chain and omits the root stack. The rules below follow the
 * engine (pkg/resource/urn.go NewURN, and the step generator's
 * collapseAliasToUrn / generateAliases / inheritedChildAlias).
 *
 * Default providers (`pulumi:providers:<pkg>::default_<version>`) are
 * created by the engine, not the program, so they are not listed; explicit
 * providers (`new docker.Provider(...)`) are.
 *
 * Aliases: a resource whose URN is not in the snapshot but which has an alias
 * (its own, or one inherited from an aliased ancestor, exactly as the engine
 * derives them) naming a snapshot URN nobody else holds any more, counts as
 * unchanged: the engine would move the old resource to the new URN.
 */
import { before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { qualifiedType, urnName, urnType } from "../../lib/urn";
import { ROOT, runProgram, stackConfig, StackConfig } from "./harness";
import { alertsStack } from "./alertsStack";

const PROJECT = "berth";
const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";
const URN_DIR = path.join(ROOT, "test", "urns");
const UPDATE = process.env.BERTH_UPDATE_URNS === "1";
export const ADVICE = "URNs are an API: add `aliases` to the renamed/re-parented resources (see README), then regenerate with BERTH_UPDATE_URNS=1 npm test";

const STACKS: Record<string, () => StackConfig> = {
    staging: () => stackConfig("staging"),
    production: () => stackConfig("production"),
    // dev:up sets the deploy key per machine; the stack file holds none (as in program.test.ts).
    dev: () => stackConfig("dev", { "berth:deployKey": { secure: "set-by-dev-up" } }),
    // Several hosts (README "Several hosts"): per-host names.
    fleet: () => stackConfig("fleet", {}, "examples/Pulumi.fleet.yaml"),
    // Process types and schedules (README "Processes and schedules").
    processes: () => stackConfig("processes", {}, "examples/Pulumi.processes.yaml"),
    // berth:database sqlite (README "Databases"): no Postgres container or role.
    sqlite: () => stackConfig("sqlite", {}, "examples/Pulumi.sqlite.yaml"),
    // Accessories beside Postgres and Redis (README "Accessories").
    accessories: () => stackConfig("accessories", {}, "examples/Pulumi.accessories.yaml"),
    // berth:alerts and berth:autoRollback (README "Alerts"): the webhooks set as its header says.
    alerts: () => alertsStack(),
    // A static frontend published after the backend's soak (README "Frontend and soak").
    frontend: () => stackConfig("frontend", {}, "examples/Pulumi.frontend.yaml"),
};

/**
 * The staging stack rewritten from `berth:host` to `berth:hosts` with its one
 * host (every role), as a user does before adding hosts: per-host names, and
 * the aliases (lib/topology.ts perHostAliases) that must adopt every
 * resource of the single-host stack.
 */
const stagingAsHosts = () => {
    const doc = stackConfig("staging");
    const v = doc.values;
    return stackConfig("staging", {
        "berth:host": undefined,
        "berth:hostKey": undefined,
        "berth:hosts": [{ name: "web1", address: v["berth:host"], hostKey: v["berth:hostKey"], roles: ["web", "worker", "data"] }],
    });
};

// ---------------------------------------------------------------------------
// URN rules (the engine's)

export interface Ctx {
    stack: string;
    project: string;
}

/** resource.NewURN: the root stack is never part of a child's type chain. */
export function newUrn(ctx: Ctx, parentType: string | undefined, type: string, name: string): string {
    const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
    return `urn:pulumi:${ctx.stack}::${ctx.project}::${qualified}::${name}`;
}


/** An alias with every Input settled; `noParent` for an explicit `parent: undefined` (pulumi.rootStackResource). */
export type AliasSpec =
    | string
    | { name?: string; type?: string; parent?: Node | string; noParent?: boolean; stack?: string; project?: string };

export interface Node {
    type: string;
    name: string;
    /** Undefined only for the root Stack; top-level resources have the Stack node. */
    parent?: Node;
    aliases: AliasSpec[];
}

export class UrnResolver {
    private urns = new Map<Node, string>();
    private aliasSets = new Map<Node, string[]>();
    constructor(readonly ctx: Ctx) {}

    urn(n: Node): string {
        let u = this.urns.get(n);
        if (u === undefined) {
            u = newUrn(this.ctx, n.parent ? qualifiedType(this.urn(n.parent)) : undefined, n.type, n.name);
            this.urns.set(n, u);
        }
        return u;
    }

    /** collapseAliasToUrn: unset fields default to the resource's current name, type, parent, stack, project. */
    collapse(n: Node, alias: AliasSpec): string {
        if (typeof alias === "string") return alias;
        let parentUrn: string | undefined;
        if (alias.noParent) parentUrn = undefined;
        else if (alias.parent === undefined) parentUrn = n.parent ? this.urn(n.parent) : undefined;
        else parentUrn = typeof alias.parent === "string" ? alias.parent : this.urn(alias.parent);
        const ctx = { stack: alias.stack ?? this.ctx.stack, project: alias.project ?? this.ctx.project };
        return newUrn(ctx, parentUrn && qualifiedType(parentUrn), alias.type ?? n.type, alias.name ?? n.name);
    }

    /**
     * generateAliases: the resource's own aliases, then for every alias of its
     * parent (recursively) the child's URN under that parent alias, with a
     * name prefix derived from the parent's name rewritten to the parent
     * alias's name.
     */
    aliases(n: Node): string[] {
        let out = this.aliasSets.get(n);
        if (out) return out;
        const set = new Set<string>();
        const own = n.aliases.map((a) => this.collapse(n, a));
        own.forEach((u) => set.add(u));
        if (n.parent) {
            for (const parentAlias of this.aliases(n.parent)) {
                set.add(this.inheritedChildAlias(n.type, n.name, n.parent.name, parentAlias));
                for (const u of own) set.add(this.inheritedChildAlias(urnType(u), urnName(u), n.parent.name, parentAlias));
            }
        }
        out = [...set];
        this.aliasSets.set(n, out);
        return out;
    }

    private inheritedChildAlias(childType: string, childName: string, parentName: string, parentAlias: string): string {
        const name = childName.startsWith(parentName) ? urnName(parentAlias) + childName.slice(parentName.length) : childName;
        return newUrn(this.ctx, qualifiedType(parentAlias), childType, name);
    }
}

export interface Current {
    urn: string;
    aliases: readonly string[];
}

export function currentUrns(ctx: Ctx, nodes: readonly Node[]): Current[] {
    const r = new UrnResolver(ctx);
    return nodes.map((n) => ({ urn: r.urn(n), aliases: r.aliases(n) }));
}

// ---------------------------------------------------------------------------
// Comparison

export interface UrnDiff {
    ok: boolean;
    /** URNs the engine would create. */
    added: string[];
    /** Snapshot URNs the engine would delete. */
    removed: string[];
    /** Snapshot URNs the engine would move to a new URN through an alias. */
    aliased: { from: string; to: string }[];
    message: string;
}

export function compareUrns(stack: string, snapshot: readonly string[], current: readonly Current[]): UrnDiff {
    const before = new Set(snapshot);
    const now = new Set(current.map((c) => c.urn));
    const claimed = new Set<string>();
    const added: string[] = [];
    const aliased: { from: string; to: string }[] = [];
    for (const c of current) {
        if (before.has(c.urn)) continue;
        // The engine takes the first alias that matches an old resource no one else holds.
        const from = c.aliases.find((a) => before.has(a) && !now.has(a) && !claimed.has(a));
        if (from) {
            claimed.add(from);
            aliased.push({ from, to: c.urn });
        } else added.push(c.urn);
    }
    const removed = snapshot.filter((u) => !now.has(u) && !claimed.has(u));
    added.sort();
    removed.sort();
    const ok = added.length === 0 && removed.length === 0;
    const lines = [`URNs of stack ${stack} differ from test/urns/${stack}.txt.`];
    if (added.length) lines.push(`Added (${added.length}, the engine would create these):`, ...added.map((u) => `  + ${u}`));
    if (removed.length) lines.push(`Removed (${removed.length}, the engine would DELETE these and run their delete scripts):`, ...removed.map((u) => `  - ${u}`));
    if (aliased.length) lines.push(`Renamed with a matching alias (fine):`, ...aliased.map((a) => `  ${a.from}\n    -> ${a.to}`));
    lines.push(ADVICE);
    if (!removed.length) lines.push("(Only additions: if these are new resources, regenerating the snapshot is all that is needed.)");
    return { ok, added, removed, aliased, message: ok ? "" : lines.join("\n") };
}

export function snapshotPath(stack: string): string {
    return path.join(URN_DIR, `${stack}.txt`);
}

export function readSnapshot(stack: string): string[] | undefined {
    const f = snapshotPath(stack);
    if (!fs.existsSync(f)) return undefined;
    return fs.readFileSync(f, "utf8").split("\n").map((l) => l.trim()).filter(Boolean);
}

export function formatSnapshot(current: readonly Current[]): string {
    return current.map((c) => c.urn).sort().join("\n") + "\n";
}

// ---------------------------------------------------------------------------
// Running the program

/** Settles an Input (mock runs are not previews, so every Output is known). */
async function settle<T>(v: pulumi.Input<T>): Promise<T> {
    if (pulumi.Output.isInstance(v)) return new Promise<T>((res) => void (v as pulumi.Output<T>).apply((x) => (res(x as T), x)));
    return (await v) as T;
}

interface Seen {
    resource: pulumi.Resource;
    type: string;
    name: string;
    parent?: pulumi.Resource;
    aliases: pulumi.Input<string | pulumi.Alias>[];
}

/**
 * Records resources from a stack transformation (which sees `opts` as the
 * program wrote them) and turns them into the tree the URN rules work on.
 */
class Collector {
    private seen: Seen[] = [];
    private stackResource?: pulumi.Resource;
    readonly onResource = (a: pulumi.ResourceTransformationArgs): void => {
        this.stackResource ??= pulumi.runtime.getStackResource();
        this.seen.push({ resource: a.resource, type: a.type, name: a.name, parent: a.opts.parent, aliases: [...(a.opts.aliases ?? [])] });
    };

    /** Root Stack first, then every resource in construction order. */
    async nodes(stack: string): Promise<Node[]> {
        assert.ok(this.stackResource, "resources were registered under the root stack");
        const root: Node = { type: ROOT_STACK_TYPE, name: `${PROJECT}-${stack}`, aliases: [] };
        const byResource = new Map<pulumi.Resource, Node>([[this.stackResource, root]]);
        const nodes: Node[] = this.seen.map((x) => ({ type: x.type, name: x.name, aliases: [] }));
        this.seen.forEach((x, i) => byResource.set(x.resource, nodes[i]));
        const nodeOf = (res: pulumi.Resource, what: string): Node => {
            const n = byResource.get(res);
            if (!n) throw new Error(`${what} is a resource that was not registered`);
            return n;
        };
        for (const [i, x] of this.seen.entries()) {
            const n = nodes[i];
            n.parent = x.parent ? nodeOf(x.parent, `the parent of ${x.type} ${x.name}`) : root;
            for (const input of x.aliases) {
                const a = await settle(input);
                if (typeof a === "string") {
                    n.aliases.push(a);
                    continue;
                }
                const spec: Exclude<AliasSpec, string> = {};
                if (a.name !== undefined) spec.name = await settle(a.name);
                if (a.type !== undefined) spec.type = await settle(a.type);
                if (a.stack !== undefined) spec.stack = await settle(a.stack);
                if (a.project !== undefined) spec.project = await settle(a.project);
                if (Object.prototype.hasOwnProperty.call(a, "parent")) {
                    // `parent: undefined` (pulumi.rootStackResource) means "had no parent".
                    if (a.parent === undefined) spec.noParent = true;
                    else if (pulumi.Resource.isInstance(a.parent)) spec.parent = nodeOf(a.parent, `an alias parent of ${x.type} ${x.name}`);
                    else spec.parent = await settle(a.parent);
                }
                if ((a as { noParent?: boolean }).noParent) spec.noParent = true;
                n.aliases.push(spec);
            }
        }
        return [root, ...nodes];
    }
}

/** index.ts's resource tree for a stack, through the shared harness. */
export async function programNodes(cfg: StackConfig): Promise<Node[]> {
    const c = new Collector();
    const r = await runProgram(cfg, { onResource: c.onResource });
    if (r.error) throw r.error;
    return c.nodes(cfg.stack);
}

/** A small stand-in program's resource tree, under the same mocks, to exercise real `aliases` options. */
async function stubNodes(stack: string, program: () => void): Promise<Node[]> {
    const c = new Collector();
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, PROJECT, stack, false);
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => (c.onResource(a), undefined));
        program();
        return {};
    });
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return c.nodes(stack);
}

// ---------------------------------------------------------------------------
// Tests

const runs: Record<string, { ctx: Ctx; nodes: Node[]; current: Current[] }> = {};

before(async () => {
    for (const [stack, cfg] of Object.entries(STACKS)) {
        const ctx = { stack, project: PROJECT };
        const nodes = await programNodes(cfg());
        runs[stack] = { ctx, nodes, current: currentUrns(ctx, nodes) };
    }
});

describe("URN snapshots (test/urns/<stack>.txt)", () => {
    for (const stack of Object.keys(STACKS)) {
        test(`${stack}: every resource keeps its URN, or carries an alias to it`, (t) => {
            const { current } = runs[stack];
            const urns = current.map((c) => c.urn);
            const dupes = urns.filter((u, i) => urns.indexOf(u) !== i);
            assert.deepEqual(dupes, [], "the engine rejects two resources with one URN");
            assert.ok(current.length > 10, `${stack} registers resources`);
            if (UPDATE) {
                fs.mkdirSync(URN_DIR, { recursive: true });
                fs.writeFileSync(snapshotPath(stack), formatSnapshot(current));
                t.diagnostic(`wrote ${path.relative(ROOT, snapshotPath(stack))} (${current.length} URNs)`);
                return;
            }
            const snapshot = readSnapshot(stack);
            assert.ok(snapshot, `test/urns/${stack}.txt is missing: generate it with BERTH_UPDATE_URNS=1 npm test`);
            const d = compareUrns(stack, snapshot, current);
            assert.ok(d.ok, d.message);
            for (const a of d.aliased) t.diagnostic(`aliased: ${a.from} -> ${a.to}`);
        });
    }
});

describe("moving a stack from berth:host to berth:hosts", () => {
    test("keeps every resource: each new per-host URN carries an alias to its single-host URN", async (t) => {
        const ctx = { stack: "staging", project: PROJECT };
        const current = currentUrns(ctx, await programNodes(stagingAsHosts()));
        assert.ok(current.some((c) => c.urn.endsWith("::shop-staging-host-web1")), "resources are named per host");
        const d = compareUrns("staging", readSnapshot("staging")!, current);
        assert.ok(d.ok, d.message);
        assert.ok(d.aliased.length > 20, `most resources move by alias (${d.aliased.length})`);
        t.diagnostic(`${d.aliased.length} resources adopted through aliases`);
    });
});

describe("the URN guard catches what it is for", () => {
    // These scenarios edit the staging tree as the program builds it today,
    // picking resources by type and position so that they survive renames.
    const HOST = "berth:host:Host";
    const CMD = "command:remote:Command";
    const hostCommand = (n: Node) => n.type === CMD && n.parent?.type === HOST;
    const find = (nodes: readonly Node[], pred: (n: Node) => boolean) => {
        const n = nodes.find(pred);
        assert.ok(n, "the staging tree has a resource for the scenario");
        return n;
    };
    const snapshot = () => runs.staging.current.map((c) => c.urn);
    /** A deep copy of the staging tree with `edit` applied, as the guard would see it. */
    function mutated(edit: (nodes: Node[]) => void): Current[] {
        const { ctx, nodes } = runs.staging;
        const copy = new Map<Node, Node>(nodes.map((n) => [n, { ...n, aliases: [...n.aliases] }]));
        for (const n of copy.values()) {
            if (n.parent) n.parent = copy.get(n.parent)!;
            n.aliases = n.aliases.map((a) => (typeof a === "object" && typeof a.parent === "object" ? { ...a, parent: copy.get(a.parent)! } : a));
        }
        const out = [...copy.values()];
        edit(out);
        return currentUrns(ctx, out);
    }

    test("the computed URNs carry the whole parent type chain, not just the parent's type", () => {
        const { ctx, nodes } = runs.staging;
        const r = new UrnResolver(ctx);
        assert.equal(r.urn(nodes[0]), "urn:pulumi:staging::berth::pulumi:pulumi:Stack::berth-staging");
        const cmd = find(nodes, hostCommand);
        const env = cmd.parent!.parent!;
        assert.equal(env.parent, nodes[0], "the host sits in a top-level component");
        assert.equal(r.urn(cmd), `urn:pulumi:staging::berth::${env.type}$${HOST}$${CMD}::${cmd.name}`);
        assert.ok(!snapshot().some((u) => u.includes(`${ROOT_STACK_TYPE}$`)), "the root stack is not part of a type chain");
    });

    test("a URN renamed without an alias fails, listing the added and removed URN and the advice; with the alias it passes", () => {
        const before = snapshot();
        const oldUrn = new UrnResolver(runs.staging.ctx).urn(find(runs.staging.nodes, hostCommand));
        const renamedUrn = `${oldUrn}-renamed`;
        const current = runs.staging.current.map((c) => (c.urn === oldUrn ? { urn: renamedUrn, aliases: [] } : c));
        const d = compareUrns("staging", before, current);
        assert.equal(d.ok, false);
        assert.deepEqual(d.added, [renamedUrn]);
        assert.deepEqual(d.removed, [oldUrn]);
        assert.ok(d.message.includes(`+ ${renamedUrn}`), d.message);
        assert.ok(d.message.includes(`- ${oldUrn}`), d.message);
        assert.ok(d.message.includes(ADVICE), d.message);
        assert.throws(() => assert.ok(d.ok, d.message), (e: Error) => e.message.includes("BERTH_UPDATE_URNS=1 npm test"));

        const withAlias = runs.staging.current.map((c) => (c.urn === oldUrn ? { urn: renamedUrn, aliases: [oldUrn] } : c));
        const ok = compareUrns("staging", before, withAlias);
        assert.ok(ok.ok, ok.message);
        assert.deepEqual(ok.aliased, [{ from: oldUrn, to: renamedUrn }]);
    });

    test("an alias to a URN that another resource still holds does not count", () => {
        const [a, b] = runs.staging.current.filter((c) => c.urn.includes(`$${HOST}$${CMD}::`));
        assert.ok(a && b);
        const current = runs.staging.current.map((c) => (c === a ? { urn: `${a.urn}-2`, aliases: [b.urn] } : c));
        const d = compareUrns("staging", snapshot(), current);
        assert.equal(d.ok, false);
        assert.deepEqual(d.removed, [a.urn]);
    });

    test("renaming the Host component: fails without an alias; its alias carries every child along (inherited aliases)", () => {
        let subtree = 0;
        const rename = (withAlias: boolean) =>
            mutated((nodes) => {
                const host = find(nodes, (n) => n.type === HOST);
                const oldName = host.name;
                const newName = `${oldName}-renamed`;
                const under = (n: Node): boolean => n === host || (!!n.parent && under(n.parent));
                subtree = nodes.filter(under).length;
                // Children derive their names from the component's, as the components do.
                for (const n of nodes) if (under(n) && n.name.startsWith(oldName)) n.name = newName + n.name.slice(oldName.length);
                if (withAlias) host.aliases.push({ name: oldName });
            });
        const bad = compareUrns("staging", snapshot(), rename(false));
        assert.equal(bad.ok, false);
        assert.ok(subtree > 1, "the host has children");
        assert.equal(bad.removed.length, subtree, "the host and all its children would be deleted");
        assert.equal(bad.added.length, subtree);
        const good = compareUrns("staging", snapshot(), rename(true));
        assert.ok(good.ok, good.message);
        assert.equal(good.aliased.length, subtree);
    });

    test("re-parenting a command out of the Host: fails without an alias; passes with { parent: <old parent> } or the old URN", () => {
        const reparent = (alias?: (host: Node) => AliasSpec) =>
            mutated((nodes) => {
                const cmd = find(nodes, hostCommand);
                const host = cmd.parent!;
                cmd.parent = host.parent;
                if (alias) cmd.aliases.push(alias(host));
            });
        const bad = compareUrns("staging", snapshot(), reparent());
        assert.equal(bad.ok, false);
        assert.equal(bad.removed.length, 1);
        assert.ok(bad.removed[0].includes(`$${HOST}$${CMD}::`), bad.message);
        assert.ok(bad.added[0].includes(`Environment$${CMD}::`), bad.message);
        const good = compareUrns("staging", snapshot(), reparent((host) => ({ parent: host })));
        assert.ok(good.ok, good.message);
        const byUrn = compareUrns("staging", snapshot(), reparent(() => bad.removed[0]));
        assert.ok(byUrn.ok, byUrn.message);
    });

    test("real `aliases` options (Outputs, parent resources, rootStackResource) are resolved as the engine would", async () => {
        class Comp extends pulumi.ComponentResource {
            constructor(type: string, name: string, opts?: pulumi.ComponentResourceOptions) {
                super(type, name, {}, opts);
            }
        }
        class Cmd extends pulumi.CustomResource {
            constructor(name: string, opts?: pulumi.CustomResourceOptions) {
                super("command:remote:Command", name, {}, opts);
            }
        }
        const ctx = { stack: "staging", project: PROJECT };
        const v1 = await stubNodes("staging", () => {
            const env = new Comp("berth:env:Environment", "app-staging");
            const host = new Comp("berth:host:Host", "app-staging-host", { parent: env });
            new Cmd("app-staging-host-packages", { parent: host });
            new Cmd("app-staging-motd", { parent: host });
            new Cmd("app-staging-top");
        });
        const before = currentUrns(ctx, v1).map((c) => c.urn);
        assert.ok(before.includes("urn:pulumi:staging::berth::berth:env:Environment$berth:host:Host$command:remote:Command::app-staging-host-packages"), before.join("\n"));
        // v2 renames the host (its children's names follow), moves motd up to the
        // environment and the top-level command under it.
        const v2 = (aliased: boolean) =>
            stubNodes("staging", () => {
                const env = new Comp("berth:env:Environment", "app-staging");
                const host = new Comp("berth:host:Host", "app-staging-server", { parent: env, aliases: aliased ? [{ name: pulumi.output("app-staging-host") }] : [] });
                new Cmd("app-staging-server-packages", { parent: host });
                new Cmd("app-staging-motd", { parent: env, aliases: aliased ? [{ parent: host }] : [] });
                new Cmd("app-staging-top", { parent: env, aliases: aliased ? [{ parent: pulumi.rootStackResource }] : [] });
            });
        const bad = compareUrns("staging", before, currentUrns(ctx, await v2(false)));
        assert.equal(bad.ok, false);
        assert.deepEqual(bad.removed.map(urnName).sort(), ["app-staging-host", "app-staging-host-packages", "app-staging-motd", "app-staging-top"].sort());
        assert.ok(bad.message.includes(ADVICE));
        const good = compareUrns("staging", before, currentUrns(ctx, await v2(true)));
        assert.ok(good.ok, good.message);
        assert.equal(good.aliased.length, 4);
    });
});

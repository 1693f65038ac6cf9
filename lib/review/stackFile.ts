/**
 * Review stacks as data (pure): the stack file of `pr-<n>`, made from the
 * source stack's (staging's) file, and the cap on open review stacks.
 *
 * The review stack is staging's configuration with what must differ:
 * - names: every name on a host derives from app + stack (lib/names.ts), so
 *   `pr-<n>` has its own user, directories, units, containers, volumes,
 *   network, nginx site and certificate without anything written here;
 * - ports: `berth:portBase` set to the review slot (`reviewPortBase`, in
 *   16000-19999, below every derived block of lib/names.ts, so never one of
 *   staging's), explicit Postgres/Redis ports and accessories' `hostPort`
 *   dropped (accessories take ports from their names and the stack id, in
 *   lib/ports.ts' range; one equal to a staging port is moved, `reviewPorts`);
 * - the host name `pr-<n>.<berth:review.domain>` (its own certificate, or
 *   with `berth:review.certificate` wildcard staging's on the same host; DNS
 *   record in staging's zone), no extra host names; an `env` value equal to
 *   staging's host name (APP_HOST) becomes the review stack's;
 * - the app revision: the pull request's head sha;
 * - `berth:backup` becomes `berth:reviewSeed` (the database is restored from
 *   staging's latest run; a review stack takes no backups itself);
 * - `berth:review` (with its `certificate`) gains `pr`, `source` and `productionHosts`;
 * - staging's own state of operation (maintenance, protect, production,
 *   mesh addresses) is not copied.
 * Secret values are copied as they are stored (`secure:` values, with the
 * file's `encryptionsalt` / `secretsprovider` + `encryptedkey`): the review
 * stack decrypts them with staging's passphrase or key.
 */
import * as YAML from "yaml";
import { derivePorts, fnv1a } from "../names";
import { NAMED_PORT_RANGE, namedPort } from "../ports";
import { REVIEW_STACK } from "../config/review";

/** The first port of the review slots' range and their number (4 ports each). */
export const REVIEW_PORTS = { first: 16000, slots: 1000 } as const;

export class ReviewError extends Error {}

export function reviewStackName(pr: number): string {
    if (!Number.isInteger(pr) || pr < 1 || pr > 9_999_999) throw new ReviewError(`berth: ${JSON.stringify(pr)} is not a pull request number`);
    return `pr-${pr}`;
}

/** The review slot's first port (postgres, redis, web blue, web green follow). */
export function reviewPortBase(app: string, pr: number): number {
    return REVIEW_PORTS.first + 4 * ((fnv1a(app) + pr) % REVIEW_PORTS.slots);
}

/** Top-level keys of a stack file that hold the secrets provider's state. */
const SECRETS_STATE = ["encryptionsalt", "secretsprovider", "encryptedkey"] as const;

export interface ReviewInput {
    /** The source stack's file (Pulumi.staging.yaml) and name. */
    sourceText: string;
    source: string;
    /** The project (Pulumi.yaml `name`): config keys are `<project>:<key>`. */
    project: string;
    pr: number;
    /** The revision the review stack deploys (the pull request's head sha); default: the source's. */
    sha?: string;
    /** Addresses of the production stack's hosts. */
    productionHosts: readonly string[];
}

export interface ReviewStack {
    stack: string;
    domain: string;
    text: string;
    /** Host ports the review stack uses (postgres, redis, web, accessories). */
    ports: Record<string, number>;
}

type Obj = Record<string, unknown>;

/** The review stack's file (see the file's comment). Throws a ReviewError naming what stops it. */
export function reviewStackFile(input: ReviewInput): ReviewStack {
    const stack = reviewStackName(input.pr);
    const ns = (k: string) => `${input.project}:${k}`;
    const src = YAML.parse(input.sourceText) as Obj | null;
    const config = { ...((src?.config as Obj | undefined) ?? {}) };
    const review = config[ns("review")] as Obj | undefined;
    if (!review || typeof review.domain !== "string") {
        throw new ReviewError(`berth: ${ns("review")}.domain is not set in Pulumi.${input.source}.yaml: review stacks are served at pr-<n>.<domain> (README "Review apps")`);
    }
    if (config[ns("externalData")] !== undefined) throw new ReviewError(`berth: ${input.source} uses ${ns("externalData")}: a review stack would share its database; review apps need berth's own containers`);
    if (!SECRETS_STATE.some((k) => src?.[k] !== undefined) && JSON.stringify(config).includes('"secure"')) {
        throw new ReviewError(`berth: Pulumi.${input.source}.yaml holds secure values but no encryptionsalt or secretsprovider: review stacks copy them, which needs the passphrase or a KMS secrets provider`);
    }
    const app = String(config[ns("app")] ?? "");
    const domain = `pr-${input.pr}.${review.domain}`;
    const base = reviewPortBase(app, input.pr);
    for (const k of ["postgres", "redis"]) {
        const v = config[ns(k)] as Obj | undefined;
        if (v && typeof v === "object") {
            const { port: _p, database: _d, ...rest } = v;
            config[ns(k)] = k === "postgres" ? { ...rest, database: sourceDatabase(src, input) } : rest;
        } else if (k === "postgres") config[ns(k)] = { database: sourceDatabase(src, input) };
    }
    const env = config[ns("env")] as Obj | undefined;
    const stagingDomain = config[ns("domain")];
    if (env && typeof env === "object") config[ns("env")] = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === stagingDomain ? domain : v]));
    for (const k of ["domain", "extraHostnames", "revision", "portBase", "backup", "mesh", "maintenance", "protect", "production", "review", "reviewSeed"]) delete config[ns(k)];
    const accessories = reviewAccessories(config[ns("accessories")] as Obj | undefined, app, input);
    if (accessories.value) config[ns("accessories")] = accessories.value;
    const srcConfig = (src?.config as Obj | undefined) ?? {};
    const out: Obj = {};
    for (const k of SECRETS_STATE) if (src?.[k] !== undefined) out[k] = src[k];
    out.config = {
        ...config,
        [ns("domain")]: domain,
        [ns("revision")]: input.sha ?? srcConfig[ns("revision")] ?? "main",
        [ns("portBase")]: base,
        [ns("review")]: { domain: review.domain, ...(review.max !== undefined ? { max: review.max } : {}), ...(review.certificate !== undefined ? { certificate: review.certificate } : {}), pr: input.pr, source: input.source, productionHosts: [...input.productionHosts] },
        ...(srcConfig[ns("backup")] !== undefined ? { [ns("reviewSeed")]: srcConfig[ns("backup")] } : {}),
    };
    const ports = { postgres: base, redis: base + 1, "web blue": base + 2, "web green": base + 3, ...accessories.ports };
    const header = `# Review stack ${stack}: made by \`berth review up ${input.pr}\` from Pulumi.${input.source}.yaml; rewritten on every run (do not edit, do not commit).\n`;
    return { stack, domain, text: header + YAML.stringify(out, { lineWidth: 0 }), ports };
}

/** The source's primary database name (kept, so a restored run's dumps restore under their own names). */
function sourceDatabase(src: Obj | null, input: ReviewInput): string {
    const c = (src?.config as Obj | undefined) ?? {};
    const pg = c[`${input.project}:postgres`] as Obj | undefined;
    if (pg && typeof pg.database === "string") return pg.database;
    return `${String(c[`${input.project}:app`] ?? "")}_${input.source}`.replace(/-/g, "_");
}

/** Accessories without their hand-set `hostPort`; one whose derived port is one of the source's moves to the next free port. */
function reviewAccessories(acc: Obj | undefined, app: string, input: ReviewInput): { value?: Obj; ports: Record<string, number> } {
    if (!acc || typeof acc !== "object") return { ports: {} };
    const taken = new Set(Object.values(sourcePorts(input)));
    const value: Obj = {};
    const ports: Record<string, number> = {};
    for (const [name, spec] of Object.entries(acc)) {
        const { hostPort: _h, ...rest } = (spec ?? {}) as Obj;
        let p = namedPort(`${app}-pr-${input.pr}`, name);
        const derived = p;
        while (taken.has(p)) p = p >= NAMED_PORT_RANGE.last ? NAMED_PORT_RANGE.first : p + 1;
        taken.add(p);
        ports[name] = p;
        value[name] = p === derived ? rest : { ...rest, hostPort: p };
    }
    return { value, ports };
}

/** The source stack's host ports, from its file (portBase, Postgres/Redis ports, accessories). */
export function sourcePorts(input: Pick<ReviewInput, "sourceText" | "source" | "project">): Record<string, number> {
    const c = ((YAML.parse(input.sourceText) as Obj | null)?.config as Obj | undefined) ?? {};
    const get = (k: string) => c[`${input.project}:${k}`] as any;
    const app = String(get("app") ?? "");
    const base = Number(get("portBase") ?? 0) || undefined;
    const block = derivePorts(app, input.source, { base, postgres: get("postgres")?.port, redis: get("redis")?.port });
    const out: Record<string, number> = { postgres: block.postgres, redis: block.redis, "web blue": block.webBlue, "web green": block.webGreen };
    for (const [name, spec] of Object.entries((get("accessories") ?? {}) as Obj)) out[name] = Number((spec as Obj)?.hostPort) || namedPort(`${app}-${input.source}`, name);
    return out;
}

/** The addresses of a stack file's hosts (`berth:host`, `berth:hosts[].address`). */
export function stackHosts(text: string, project: string): string[] {
    const c = ((YAML.parse(text) as Obj | null)?.config as Obj | undefined) ?? {};
    const hosts = (c[`${project}:hosts`] as Obj[] | undefined) ?? [];
    return [...(typeof c[`${project}:host`] === "string" ? [c[`${project}:host`] as string] : []), ...hosts.map((h) => String(h.address))];
}

/** The open review stacks among a backend's stack names, by number. */
export function openReviewStacks(stacks: readonly string[]): number[] {
    return stacks
        .map((s) => REVIEW_STACK.exec(s.split("/").pop() ?? ""))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b);
}

/** Undefined when `pr` may be up (already open, or under the cap), else the refusal naming the open ones. */
export function capRefusal(pr: number, open: readonly number[], max: number): string | undefined {
    if (open.includes(pr) || open.length < max) return undefined;
    return `berth: review stack pr-${pr} refused: berth:review.max is ${max} and ${open.length} ${open.length === 1 ? "is" : "are"} open (${open.map((n) => `pr-${n}`).join(", ")}); close one (berth review down <n>, or close its pull request) or raise berth:review.max`;
}

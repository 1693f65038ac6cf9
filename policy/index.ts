/**
 * berth's policy pack: guards the properties berth's own tests prove, so a
 * change to the program (or a hand-edited stack) that breaks them fails
 * `pulumi preview --policy-pack policy` before anything is applied.
 *
 * Each validation is exported on its own so the unit tests can call it with
 * passing and failing resources (test/unit/policy.test.ts).
 */
import { EnforcementLevel, Policies, PolicyPack, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

/** The subset of ResourceValidationArgs the validations read. */
export type ResourceArgs = Pick<ResourceValidationArgs, "type" | "name" | "props" | "opts">;
export type Validation = (args: ResourceArgs, report: ReportViolation) => void;

const COMMAND = "command:remote:Command";
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const NETWORK = "docker:index/network:Network";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const DOCKER_PROVIDER = "pulumi:providers:docker";

function label(props: Record<string, any>, name: string): string | undefined {
    return (props.labels ?? []).find((l: { label: string }) => l.label === name)?.value;
}

function trigger(props: Record<string, any>, kind: string): Record<string, any> | undefined {
    const t = Array.isArray(props.triggers) ? props.triggers[0] : undefined;
    return t && typeof t === "object" && t.kind === kind ? t : undefined;
}

/** An address only reachable inside a host or a private network (loopback, RFC 1918, CGNAT/WireGuard ranges, IPv6 ULA). */
export function isPrivateAddress(ip: string): boolean {
    if (ip === "::1" || /^f[cd][0-9a-f]{2}:/i.test(ip)) return true;
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
    if (!m) return false;
    const [a, b] = [Number(m[1]), Number(m[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

/**
 * Database and cache containers publish ports only on loopback, or (several
 * hosts) on a private address: never on every interface or a public one.
 */
export const dataPortsPrivate: Validation = (args, report) => {
    if (args.type !== CONTAINER) return;
    const role = label(args.props, "berth.role");
    if (role !== "database" && role !== "cache") return;
    for (const p of args.props.ports ?? []) {
        const ip = p.ip ?? "0.0.0.0";
        if (!isPrivateAddress(ip)) {
            report(`${args.name}: ${role} port ${p.external ?? "?"}->${p.internal} is published on ${ip}; publish data services on 127.0.0.1, or a private address behind berth's data firewall (Docker's published ports bypass ufw)`);
        }
    }
};

/**
 * A data port published beyond loopback (a multi-host data host) is guarded
 * by berth's data firewall in the same stack: a remote command whose rules
 * end in a DROP of every other connection DNATed to that port
 * (components/data/dataFirewall.ts), after admitting only the app hosts.
 */
export const dataPortsFirewalled: StackValidation = (args, report) => {
    const guarded = new Set<number>();
    for (const r of args.resources) {
        if (r.type !== COMMAND || typeof r.props.create !== "string") continue;
        for (const m of r.props.create.matchAll(/--ctstate DNAT --ctorigdstport (\d+) -j DROP/g)) guarded.add(Number(m[1]));
    }
    for (const r of args.resources) {
        if (r.type !== CONTAINER) continue;
        const role = label(r.props, "berth.role");
        if (role !== "database" && role !== "cache") continue;
        for (const p of r.props.ports ?? []) {
            const ip = p.ip ?? "0.0.0.0";
            if (ip === "127.0.0.1" || ip === "::1") continue;
            if (!guarded.has(Number(p.external))) {
                report(`${r.name}: ${role} port ${p.external ?? "?"} is published on ${ip} with no berth data firewall for it; only the stack's app hosts may reach it`);
            }
        }
    }
};

/** Every remote connection pins a host key: commands and the Docker provider's ssh. */
export const remoteConnectionsPinHostKey: Validation = (args, report) => {
    if (args.type === COMMAND) {
        const hostKey = args.props.connection?.hostKey;
        if (typeof hostKey !== "string" || hostKey.trim() === "") {
            report(`${args.name}: connection to ${args.props.connection?.host ?? "?"} has no hostKey; pin the host's SSH key (berth:hostKey)`);
        }
    }
    if (args.type === DOCKER_PROVIDER && String(args.props.host ?? "").startsWith("ssh://")) {
        const raw = args.props.sshOpts;
        const opts: string[] = typeof raw === "string" ? JSON.parse(raw) : (raw ?? []);
        const strict = opts.includes("StrictHostKeyChecking=yes");
        const pinned = opts.some((o) => o.startsWith("KnownHostsCommand=") || (o.startsWith("UserKnownHostsFile=") && o !== "UserKnownHostsFile=/dev/null"));
        if (!strict || !pinned) {
            report(`${args.name}: the Docker provider's ssh connection to ${args.props.host} does not pin a host key (needs StrictHostKeyChecking=yes and KnownHostsCommand= or UserKnownHostsFile=)`);
        }
    }
};

/** Production data volumes are protected. */
export const productionDataProtected: Validation = (args, report) => {
    if (args.type !== VOLUME || label(args.props, "berth.data") !== "true") return;
    if (label(args.props, "berth.production") === "true" && !args.opts.protect) {
        report(`${args.name}: production data volume ${args.props.name} must be protected (protect: true, retainOnDelete: true)`);
    }
};

/**
 * Advisory: production containers and network are protected (lib/lifecycle.ts),
 * so `pulumi destroy` cannot stop the site. Advisory, not mandatory: the one
 * `pulumi up` that replaces a data container sets `berth:protect` false on
 * purpose; the warning reminds to set it back.
 */
export const productionServicesProtected: Validation = (args, report) => {
    if (args.type !== CONTAINER && args.type !== NETWORK) return;
    if (label(args.props, "berth.production") === "true" && !args.opts.protect) {
        report(`${args.name}: production ${args.type === NETWORK ? "network" : "container"} ${args.props.name} is not protected; set berth:protect back to true (unset) after the up that needed it`);
    }
};

/** Literal secrets in a command line: credentials in URLs, password assignments, private keys. */
const SECRET_IN_ARGV: [RegExp, string][] = [
    [/\b(postgres(?:ql)?|redis|rediss|mysql|amqp):\/\/[^\s:@/'"]*:[^\s@'"$]+@/, "a URL with a password"],
    [/\b[A-Z_]*(PASSWORD|PASSWD|SECRET|TOKEN)[A-Z_]*=(?!["']?\$)[^\s'";]+/, "a password/secret assignment"],
    [/--requirepass\b|\bAUTH\s+\S+/, "a Redis password"],
    [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
];

/** No remote command passes a secret through `environment` or argv; secret-bearing outputs are secret. */
export const noSecretsInCommands: Validation = (args, report) => {
    if (args.type !== COMMAND) return;
    const env = args.props.environment;
    if (env && Object.keys(env).length > 0) {
        report(`${args.name}: uses the remote 'environment' (${Object.keys(env).join(", ")}); pass secrets on stdin (environment needs sshd AcceptEnv and is not secret-safe)`);
    }
    for (const k of ["create", "update", "delete"]) {
        const v = args.props[k];
        if (typeof v !== "string") continue;
        for (const [re, what] of SECRET_IN_ARGV) {
            if (re.test(v)) report(`${args.name}: '${k}' contains ${what}; pass secrets on stdin, never in the command line`);
        }
    }
    if (args.props.stdin !== undefined && args.props.stdin !== "") {
        const secretOutputs = args.opts.additionalSecretOutputs ?? [];
        for (const out of ["stdout", "stderr"]) {
            if (!secretOutputs.includes(out)) report(`${args.name}: reads stdin (secrets) but '${out}' is not in additionalSecretOutputs`);
        }
        if (args.props.logging !== "none") report(`${args.name}: reads stdin (secrets) but logging is '${args.props.logging ?? "stdoutAndStderr"}', not 'none'`);
    }
};

/** A git ref that cannot move: a full commit sha or a tag. */
export function isImmutableRef(ref: string): boolean {
    return /^[0-9a-f]{40}$/.test(ref) || ref.startsWith("refs/tags/") || /^v?\d+(\.\d+)*([-.+][0-9A-Za-z.-]+)?$/.test(ref);
}

/** Production app revision is an immutable commit sha or tag. */
export const productionRevisionImmutable: Validation = (args, report) => {
    if (args.type !== COMMAND) return;
    const t = trigger(args.props, "berth-release");
    if (!t || t.production !== true) return;
    if (typeof t.ref !== "string" || !isImmutableRef(t.ref)) {
        report(`${args.name}: production releases ${JSON.stringify(t.ref)}, which can move; set berth:revision to a full commit sha or a tag`);
    }
    if (typeof t.revision !== "string" || !/^[0-9a-f]{40}$/.test(t.revision)) {
        report(`${args.name}: release revision ${JSON.stringify(t.revision)} is not a resolved commit sha`);
    }
};

/** Advisory: images pinned to a digest or an exact version tag. */
export const imagesPinned: Validation = (args, report) => {
    let ref: string | undefined;
    if (args.type === IMAGE) ref = args.props.name;
    if (args.type === CONTAINER && typeof args.props.image === "string" && !args.props.image.startsWith("sha256:")) ref = args.props.image;
    if (!ref) return;
    if (/@sha256:[0-9a-f]{64}$/.test(ref)) return;
    const tag = /:([^/:@]+)$/.exec(ref)?.[1];
    if (!tag || tag === "latest" || !/^v?\d+\.\d+(\.\d+)?([-.][0-9A-Za-z.-]+)?$/.test(tag)) {
        report(`${args.name}: image ${ref} is not pinned; use a digest (@sha256:...) or an exact version tag (e.g. postgres:16.4)`);
    }
};

/** Advisory: HSTS on production sites. */
export const productionHsts: Validation = (args, report) => {
    if (args.type !== COMMAND) return;
    const t = trigger(args.props, "berth-nginx-site");
    if (t && t.production === true && t.hsts !== true) {
        report(`${args.name}: production site ${t.domain} is served without HSTS (berth:nginx.hsts)`);
    }
};

/** The subset of StackValidationArgs the stack validations read. */
export interface StackArgs {
    resources: Pick<ResourceValidationArgs, "type" | "name" | "props">[];
}
export type StackValidation = (args: StackArgs, report: ReportViolation) => void;

/**
 * Production stacks take backups: a production release (trigger
 * `berth-release`, production) needs the backup's repository command
 * (trigger `berth-backup`) in the same stack.
 */
export const productionHasBackups: StackValidation = (args, report) => {
    const releases = args.resources.filter((r) => r.type === COMMAND && trigger(r.props, "berth-release")?.production === true);
    if (releases.length === 0) return;
    if (args.resources.some((r) => r.type === COMMAND && trigger(r.props, "berth-backup") !== undefined)) return;
    const t = trigger(releases[0].props, "berth-release")!;
    report(`production stack ${t.app ?? "?"}-${t.stack ?? "?"} has no backups; set berth:backup (repository, hostKey, privateKey, password) so its database is backed up off host`);
};

/**
 * Advisory: backup retention reaches back at least 7 days (the longest of
 * keep-daily days, keep-weekly weeks and keep-monthly months).
 */
export const backupRetentionAWeek: Validation = (args, report) => {
    if (args.type !== COMMAND) return;
    const t = trigger(args.props, "berth-backup");
    if (!t) return;
    const r = t.retention ?? {};
    const days = Math.max(Number(r.daily ?? 0), 7 * Number(r.weekly ?? 0), 30 * Number(r.monthly ?? 0));
    if (!(days >= 7)) {
        report(`${args.name}: backups of ${t.app ?? "?"}-${t.stack ?? "?"} are kept for ${days} day(s); keep at least 7 days (berth:backup.retention)`);
    }
};

/**
 * Review stacks never target a production host: in a stack whose review
 * seed command carries the trigger `berth-review` (components/data/reviewSeed.ts:
 * the review stack's number and the production stack's host addresses when
 * `berth review up` made it), no remote command connects to, and no Docker
 * provider dials, one of those addresses.
 */
export const reviewNotOnProduction: StackValidation = (args, report) => {
    const t = args.resources.map((r) => (r.type === COMMAND ? trigger(r.props, "berth-review") : undefined)).find((x) => x !== undefined);
    if (!t) return;
    const prod = new Set<string>((t.productionHosts ?? []).map(String));
    const hostOf = (r: StackArgs["resources"][number]): string | undefined => {
        if (r.type === COMMAND) return r.props.connection?.host;
        if (r.type === DOCKER_PROVIDER && typeof r.props.host === "string") return /^ssh:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)/.exec(r.props.host)?.[1]?.replace(/^\[|\]$/g, "");
        return undefined;
    };
    const seen = new Set<string>();
    for (const r of args.resources) {
        const h = hostOf(r);
        if (h === undefined || !prod.has(h) || seen.has(h)) continue;
        seen.add(h);
        report(`review stack ${t.app ?? "?"}-${t.stack ?? "?"} (pull request ${t.pr ?? "?"}) targets ${h}, a host of the production stack (${r.name}); review stacks run on staging's hosts only`);
    }
};

function policy(name: string, description: string, enforcementLevel: EnforcementLevel, validate: Validation): ResourceValidationPolicy {
    return { name, description, enforcementLevel, validateResource: (args, report) => validate(args, report) };
}

function stackPolicy(name: string, description: string, enforcementLevel: EnforcementLevel, validate: StackValidation): StackValidationPolicy {
    return { name, description, enforcementLevel, validateStack: (args, report) => validate(args, report) };
}

export const policies: Policies = [
    policy("data-ports-private", "Database and cache containers publish ports only on loopback or a private address.", "mandatory", dataPortsPrivate),
    stackPolicy("data-ports-firewalled", "A data port published beyond loopback is covered by berth's data firewall (app hosts only).", "mandatory", dataPortsFirewalled),
    policy("remote-connections-pin-host-key", "Every remote command and the Docker provider's ssh connection pin the host key.", "mandatory", remoteConnectionsPinHostKey),
    policy("production-data-protected", "Production data volumes are protected.", "mandatory", productionDataProtected),
    policy("production-services-protected", "Production containers and network are protected (berth:protect).", "advisory", productionServicesProtected),
    policy("no-secrets-in-commands", "No remote command passes a secret through environment or argv; stdin-bearing commands keep outputs secret.", "mandatory", noSecretsInCommands),
    policy("production-revision-immutable", "The production app revision is an immutable commit sha or tag.", "mandatory", productionRevisionImmutable),
    policy("images-pinned", "Images are pinned to a digest or an exact version tag.", "advisory", imagesPinned),
    policy("production-hsts", "Production nginx sites send HSTS.", "advisory", productionHsts),
    stackPolicy("production-has-backups", "Production stacks back up their database off host (berth:backup).", "mandatory", productionHasBackups),
    policy("backup-retention-a-week", "Backups are kept for at least 7 days.", "advisory", backupRetentionAWeek),
    stackPolicy("review-not-on-production", "Review stacks (berth review up) never target a production host.", "mandatory", reviewNotOnProduction),
];

// `pulumi preview --policy-pack policy` runs this module and the pack starts
// serving the engine. The unit tests import the validations only.
if (process.env.BERTH_POLICY_UNIT_TEST !== "1") {
    new PolicyPack("berth", { policies });
}

/**
 * Pure value checks behind the configuration schema (lib/config/schemas.ts),
 * also used by parseConfig's cross-key checks and by tests.
 */
import { isCalendarExpression } from "./calendar";

const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

export function isHostname(v: string): boolean {
    if (v.length === 0 || v.length > 253 || v.endsWith(".")) return false;
    const labels = v.split(".");
    return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

const HOST_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "ssh-dss",
];

/**
 * Host key types berth cannot pin for `berth:hostKey`: pulumi-command offers
 * the server only the pinned key's own algorithm (HostKeyAlgorithms =
 * [key.Type()]), so an `ssh-rsa` key negotiates SHA-1 RSA signatures, which
 * OpenSSH >= 8.8 servers refuse; DSA is gone from OpenSSH altogether.
 */
export const UNPINNABLE_HOST_KEY_TYPES = ["ssh-rsa", "ssh-dss"];
/** For `berth:repositoryHostKey` (git runs OpenSSH, which uses rsa-sha2-* with an ssh-rsa key): only DSA. */
export const UNPINNABLE_GIT_HOST_KEY_TYPES = ["ssh-dss"];

/** The key type of a host key line (`ssh-ed25519 AAAA...` -> `ssh-ed25519`). */
export function hostKeyType(v: string): string {
    return v.trim().split(/\s+/)[0] ?? "";
}

/**
 * An OpenSSH public host key line, `type base64 [comment]`, whose base64 blob
 * really encodes a key of that type (the blob starts with the type string).
 */
export function isHostKey(v: string): boolean {
    const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: .*)?$/.exec(v.trim());
    if (!m || !HOST_KEY_TYPES.includes(m[1])) return false;
    const blob = Buffer.from(m[2], "base64");
    if (blob.length < 4) return false;
    const len = blob.readUInt32BE(0);
    return blob.subarray(4, 4 + len).toString("latin1") === m[1];
}

export function isPrivateKey(v: string): boolean {
    return /^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----\n[\s\S]+\n-----END \1 PRIVATE KEY-----\s*$/.test(v);
}

/** Git revisions that can never move: a full commit sha or a tag. */
export function isImmutableRevision(v: string): boolean {
    return /^[0-9a-f]{40}$/.test(v) || v.startsWith("refs/tags/") || /^v?\d+(\.\d+)*([-.+][0-9A-Za-z.-]+)?$/.test(v);
}

export const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Set by berth: neither `berth:env` nor `berth:secretEnv` may set them. */
export const RESERVED_ENV = new Set([
    "DATABASE_URL",
    "REDIS_URL",
    "RAILS_ENV",
    "RACK_ENV",
    "PORT",
    "REVISION",
]);
/**
 * Secrets the app reads by a well-known name: only `berth:secretEnv` may set
 * them (a secret in plain config is an error). `SECRET_KEY_BASE` there
 * replaces the one berth generates (an app moving to berth keeps its
 * sessions); `RAILS_MASTER_KEY` decrypts config/credentials.yml.enc.
 */
export const SECRET_ONLY_ENV = new Set(["SECRET_KEY_BASE", "RAILS_MASTER_KEY"]);
export const APT_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
export const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

/**
 * A restic SFTP repository URL, `sftp:user@host:/path` or
 * `sftp://user@host[:port]//path` (restic's two spellings), split into its
 * parts; undefined when it is neither.
 */
export function parseSftpRepository(v: string): { user: string; host: string; port: number; path: string } | undefined {
    const short = /^sftp:([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9.-]+):(\/[A-Za-z0-9._\/-]*)$/.exec(v);
    if (short) return { user: short[1], host: short[2], port: 22, path: short[3] };
    const long = /^sftp:\/\/([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9.-]+)(?::(\d{1,5}))?\/(\/?[A-Za-z0-9._\/-]+)$/.exec(v);
    if (!long) return undefined;
    const port = long[3] === undefined ? 22 : Number(long[3]);
    if (port < 1 || port > 65535) return undefined;
    return { user: long[1], host: long[2], port, path: long[4] };
}

/**
 * A systemd calendar expression (OnCalendar=, systemd.time(7)) systemd
 * accepts: parsed by lib/config/calendar.ts (a subset of systemd's grammar,
 * cross-checked against `systemd-analyze calendar` in the unit tests).
 */
export function isCalendarSpec(v: string): boolean {
    return isCalendarExpression(v);
}

export const ROLES = ["web", "worker", "data"] as const;
export type Role = (typeof ROLES)[number];

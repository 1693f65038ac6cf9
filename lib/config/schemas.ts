/**
 * zod building blocks of the configuration schema: value schemas with
 * berth's error messages, and the schemas of the object-valued keys. The
 * top-level keys themselves are declared in lib/config/keys.ts.
 */
import * as net from "node:net";
import { z } from "zod";
import { ENV_NAME, IMAGE, isCalendarSpec, isHostKey, isHostname, isPrivateKey, parseSftpRepository, RESERVED_ENV, ROLES, SECRET_ONLY_ENV } from "./checks";

export const show = (v: unknown) => JSON.stringify(v);

export function str(check: (v: string) => boolean, what: string) {
    return z
        .string({ error: "must be a string" })
        .refine(check, { error: (iss) => `${show(iss.input)} is not ${what}` });
}

export const hostname = () => str(isHostname, "a valid host name");
export const port = () =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((p) => p >= 1 && p <= 65535, { error: (iss) => `${show(iss.input)} is out of range (1-65535)` });
export const positiveInt = (max: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .refine((n) => n >= 1 && n <= max, { error: (iss) => `${show(iss.input)} is out of range (1-${max})` });
export const image = () => str((v) => IMAGE.test(v), "a valid image reference");
export const rotation = () => z.union([z.string(), z.number()], { error: "must be a string or number" }).transform(String);
export const envMap = (secret: boolean) =>
    z.record(
        z.string().refine((k) => ENV_NAME.test(k) && !RESERVED_ENV.has(k) && (secret || !SECRET_ONLY_ENV.has(k)), {
            error: (iss) =>
                RESERVED_ENV.has(String(iss.input))
                    ? `${show(iss.input)} is set by berth and cannot be overridden`
                    : SECRET_ONLY_ENV.has(String(iss.input))
                      ? `${show(iss.input)} is a secret and cannot be plain config: use pulumi config set --secret --path secretEnv.${String(iss.input)}`
                      : `${show(iss.input)} is not a valid environment variable name (A-Z, 0-9, _)`,
        }),
        z
            .string({ error: "must be a string" })
            .refine((v) => !v.includes("\n"), {
                error: (iss) => (secret ? "must be a single line" : `${show(iss.input)} must be a single line`),
            }),
        { error: "must be an object of NAME: value" },
    );

export const PostgresSchema = z
    .object({
        image: image().default("postgres:16.4"),
        role: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid role name (a-z, 0-9, _)").optional(),
        database: str((v) => /^[a-z_][a-z0-9_]{0,62}$/.test(v), "a valid database name (a-z, 0-9, _)").optional(),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

export const RedisSchema = z
    .object({
        image: image().default("redis:7.4.1"),
        port: port().optional(),
        passwordRotation: rotation().default("1"),
    }, { error: "must be an object" })
    .strict();

export const CloudflareSchema = z
    .object({
        zoneId: str((v) => /^[0-9a-f]{32}$/.test(v), "a Cloudflare zone id (32 hex characters)").optional(),
        zone: hostname().optional(),
        proxied: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

export const NginxSchema = z
    .object({
        clientMaxBodySize: str((v) => /^\d+[kKmMgG]?$/.test(v), "an nginx size (e.g. 10m)").default("10m"),
        proxyTimeout: positiveInt(3600).default(60),
        hsts: z.boolean({ error: "must be true or false" }).optional(),
    }, { error: "must be an object" })
    .strict();

export const AcmeSchema = z
    .object({
        challenge: z.enum(["http-01", "dns-01"], { error: (iss) => `${show(iss.input)} is not a challenge type (http-01 or dns-01)` }).optional(),
        email: str((v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v), "an e-mail address").optional(),
        server: str((v) => /^https:\/\/[^\s'"]+$/.test(v), "an https:// ACME directory URL").optional(),
        caBundle: str((v) => /-----BEGIN CERTIFICATE-----/.test(v), "a PEM certificate bundle").optional(),
    }, { error: "must be an object" })
    .strict();

export const keep = (max: number, def: number) =>
    z
        .number({ error: "must be an integer" })
        .int({ error: "must be an integer" })
        .min(0, { error: "must be 0 or more" })
        .max(max, { error: `must be at most ${max}` })
        .default(def);

export const BackupSchema = z
    .object({
        repository: str((v) => parseSftpRepository(v) !== undefined, "a restic SFTP repository (sftp:user@host:/path or sftp://user@host:port//path)"),
        hostKey: str(isHostKey, "the SFTP server's SSH public host key (e.g. \"ssh-ed25519 AAAA...\")"),
        privateKey: z.string({ error: "must be a string" }).refine(isPrivateKey, { error: "is not a PEM/OpenSSH private key" }),
        password: z
            .string({ error: "must be a string" })
            .refine((v) => v.length >= 16 && !/[\n\r]/.test(v), { error: "must be a single line of at least 16 characters" }),
        schedule: str(isCalendarSpec, "a systemd calendar expression (e.g. \"*-*-* 03:15:00\")").default("*-*-* 03:15:00"),
        restoreTestSchedule: str(isCalendarSpec, "a systemd calendar expression (e.g. \"Sun *-*-* 04:30:00\")").default("Sun *-*-* 04:30:00"),
        retention: z
            .object({ daily: keep(3650, 7), weekly: keep(520, 4), monthly: keep(240, 6) }, { error: "must be an object" })
            .strict()
            .default({ daily: 7, weekly: 4, monthly: 6 }),
        redis: z.boolean({ error: "must be true or false" }).default(false),
    }, { error: "must be an object" })
    .strict();

export const HostSchema = z
    .object({
        name: str((v) => /^[a-z][a-z0-9-]{0,14}$/.test(v) && !v.endsWith("-"), "a host name for berth (a-z, 0-9, -, at most 15 characters)"),
        address: str((v) => net.isIPv4(v), "a valid IPv4 address"),
        ipv6: str((v) => net.isIPv6(v), "a valid IPv6 address").optional(),
        hostKey: str(isHostKey, "an SSH public host key (e.g. \"ssh-ed25519 AAAA...\")").optional(),
        roles: z
            .array(z.enum(ROLES, { error: (iss) => `${show(iss.input)} is not a role (web, worker or data)` }), { error: "must be a list of roles" })
            .min(1, { error: "must name at least one role (web, worker, data)" }),
        privateAddress: str((v) => net.isIPv4(v), "a valid IPv4 address").optional(),
    }, { error: "must be an object" })
    .strict();

export const MeshSchema = z
    .object({
        cidr: str((v) => /^10\.(\d{1,3})\.(\d{1,3})\.0\/24$/.test(v) && v.split(/[./]/).slice(1, 3).every((o) => Number(o) <= 255), "a 10.x.y.0/24 network").optional(),
        port: port().optional(),
    }, { error: "must be an object" })
    .strict();

export const dbUrl = (scheme: string) =>
    z.string({ error: "must be a string" }).refine((v) => new RegExp(`^${scheme}s?://[^\\s'"]+$`).test(v), { error: `is not a ${scheme}:// URL` });

export const ExternalDataSchema = z
    .object({
        postgresUrl: dbUrl("postgres").optional(),
        postgresAdminUrl: dbUrl("postgres").optional(),
        redisUrl: dbUrl("redis").optional(),
    }, { error: "must be an object" })
    .strict();

export const Dns01Schema = z
    .object({
        cloudflareApiToken: z.string({ error: "must be a string" }).refine((v) => /^[A-Za-z0-9_-]{20,}$/.test(v), { error: "is not a Cloudflare API token" }).optional(),
        authHook: z.string({ error: "must be a string" }).refine((v) => v.trim() !== "" && !v.includes("\n"), { error: "must be one line of shell" }).optional(),
        cleanupHook: z.string({ error: "must be a string" }).refine((v) => v.trim() !== "" && !v.includes("\n"), { error: "must be one line of shell" }).optional(),
    }, { error: "must be an object" })
    .strict();

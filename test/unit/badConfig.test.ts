/**
 * Bad configuration fails the program before any resource is registered,
 * listing every problem with the key it belongs to. Each case runs the real
 * index.ts under mocks with the staging or production stack file changed.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { configFrom, runProgram, stackConfig } from "./harness";

interface Case {
    name: string;
    stack: "staging" | "production";
    /** Overrides of stack file keys; undefined removes the key. */
    set: Record<string, unknown>;
    errors: string[];
}

const CASES: Case[] = [
    {
        name: "process types: every field named by its key, all at once",
        stack: "staging",
        set: {
            "berth:processes": {
                worker: { command: "bundle exec sidekiq", count: -1 },
                jobs: { command: "", count: 1.5, role: "cron" },
                Web: { command: "bin/web" },
                web: { command: "bin/web" },
                mail: { command: "bin/mail", extra: 1 },
            },
        },
        errors: [
            "berth:processes.worker.count: must be an integer ≥ 0",
            "berth:processes.jobs.command: must be one line of shell",
            "berth:processes.jobs.count: must be an integer ≥ 0",
            'berth:processes.jobs.role: "cron" is not a role (web, worker or data)',
            'berth:processes.Web: "Web" is not a valid process name (a-z, 0-9, -, at most 20 characters)',
            'berth:processes.web: "web" is a name berth uses itself; choose another process name',
            "berth:processes.mail.extra: unknown key",
        ],
    },
    {
        name: "berth:workerCommand and berth:processes together; a placement that cannot be",
        stack: "staging",
        set: {
            "berth:workerCommand": "bundle exec sidekiq",
            "berth:processes": { jobs: { command: "bin/jobs", count: 2 }, mail: { command: "bin/mail", role: "web", hosts: ["main"] } },
        },
        errors: [
            "berth:workerCommand: set together with berth:processes; berth:workerCommand is the process worker: move it to berth:processes.worker.command",
            "berth:processes.mail: set role or hosts, not both",
            "berth:processes.mail.hosts: only with berth:hosts (a berth:host stack runs everything on its one host)",
        ],
    },
    {
        name: "schedules: a calendar expression systemd would refuse, a command, a timeout",
        stack: "production",
        set: {
            "berth:schedules": {
                report: { command: "bin/rails runner Report.mail", schedule: "*-*-* 25:00" },
                nightly: { command: "bin/a\nbin/b", schedule: "daily", timeout: 0 },
                weekly: { command: "bin/rails runner Digest.send", schedule: "Sun..Mon 07:00" },
            },
        },
        errors: [
            'berth:schedules.report.schedule: "*-*-* 25:00" is not a systemd calendar expression (e.g. "*-*-* 03:15:00", "Mon..Fri 08:00", "hourly"; systemd.time(7))',
            "berth:schedules.nightly.command: must be one line of shell",
            "berth:schedules.nightly.timeout: 0 is out of range (1-86400)",
            'berth:schedules.weekly.schedule: "Sun..Mon 07:00" is not a systemd calendar expression (e.g. "*-*-* 03:15:00", "Mon..Fri 08:00", "hourly"; systemd.time(7))',
        ],
    },
    {
        name: "accessories: names, paths, image or build, secrets, URL variables and ports",
        stack: "staging",
        set: {
            "berth:accessories": {
                meili: { image: "getmeili/meilisearch:v1.10", port: 7700, urlEnv: "MEILI_URL", secretEnv: ["MEILI_MASTER_KEY"] },
                cache: { build: { debianPackages: ["memcached"] }, port: 11211, urlEnv: "MEILI_URL", hostPort: 21145 },
                both: { image: "minio/minio", build: { debianPackages: ["minio"] }, command: "minio server /data", port: 9000, urlEnv: "S3_URL", hostPort: 443 },
                neither: { port: 8080, urlEnv: "APP_HOST" },
            },
        },
        errors: [
            "berth:accessories.cache.hostPort: port 21145 is also berth:redis.port's; set berth:accessories.cache.hostPort to a free port",
            'berth:accessories.meili.secretEnv[0]: "MEILI_MASTER_KEY" is not set in berth:secretEnv',
            "berth:accessories.cache.command: required with build (Debian's image runs no service of its own)",
            'berth:accessories.cache.urlEnv: "MEILI_URL" is also the urlEnv of berth:accessories.meili',
            "berth:accessories.both: set image or build, not both",
            "berth:accessories.both.hostPort: 443 is reserved for SSH/HTTP/HTTPS",
            "berth:accessories.neither: set image (a pulled image) or build (one built on the host from Debian packages)",
            'berth:accessories.neither.urlEnv: "APP_HOST" is also set in berth:env; the accessory\'s URL is set by berth',
        ],
    },
    {
        name: "accessories: reserved names and bad fields",
        stack: "staging",
        set: {
            "berth:accessories": {
                postgres: { image: "postgres:17", port: 5432, urlEnv: "PG_URL" },
                search: { image: "getmeili/meilisearch:v1.10", port: 0, urlEnv: "DATABASE_URL", volumes: { data: "relative/path" }, urlScheme: "HTTP" },
            },
        },
        errors: [
            'berth:accessories.postgres: "postgres" is a name berth uses itself; choose another accessory name',
            "berth:accessories.search.port: 0 is out of range (1-65535)",
            'berth:accessories.search.urlEnv: "DATABASE_URL" is not a valid environment variable name berth does not set (A-Z, 0-9, _)',
            'berth:accessories.search.volumes.data: "relative/path" is not an absolute path in the container',
            'berth:accessories.search.urlScheme: "HTTP" is not a URL scheme (e.g. http, memcached)',
        ],
    },
    {
        name: "drain and rollback window out of range",
        stack: "staging",
        set: { "berth:drainSeconds": -1, "berth:rollbackWindow": 86401 },
        errors: ["berth:drainSeconds: must be 0 or more", "berth:rollbackWindow: must be at most 86400"],
    },
    {
        name: "a rollback window that is not an integer",
        stack: "production",
        set: { "berth:rollbackWindow": "5m" },
        errors: ['berth:rollbackWindow: must be an integer'],
    },
    {
        name: "missing required keys",
        stack: "staging",
        set: { "berth:app": undefined, "berth:host": undefined, "berth:domain": undefined },
        errors: ["berth:app: required", "berth:host: required (or list the stack's hosts in berth:hosts)", "berth:domain: required"],
    },
    {
        name: "malformed domain",
        stack: "staging",
        set: { "berth:domain": "exa mple.com" },
        errors: ['berth:domain: "exa mple.com" is not a valid host name'],
    },
    {
        name: "malformed IPv4 and IPv6",
        stack: "staging",
        set: { "berth:host": "300.1.2.3", "berth:hostIpv6": "2001:db8::zz" },
        errors: ['berth:host: "300.1.2.3" is not a valid IPv4 address', 'berth:hostIpv6: "2001:db8::zz" is not a valid IPv6 address'],
    },
    {
        name: "malformed host key",
        stack: "staging",
        set: { "berth:hostKey": "ssh-ed25519 AAAAnotakey" },
        errors: ['berth:hostKey: "ssh-ed25519 AAAAnotakey" is not an SSH public host key (e.g. "ssh-ed25519 AAAA...")'],
    },
    {
        name: "an ssh-rsa host key (pulumi-command would offer only SHA-1 RSA signatures)",
        stack: "staging",
        set: { "berth:hostKey": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAACaurq6urq6urqw== root@vps" },
        errors: ['berth:hostKey: "ssh-rsa AAAAB3NzaC1yc2EAAAAD..." is an ssh-rsa key, which berth\'s SSH client would verify with SHA-1 signatures that OpenSSH >= 8.8 refuses; pin the host\'s ed25519 key (ssh-keyscan -t ed25519 203.0.113.10)'],
    },
    {
        name: "ssh-dss host keys, for the host and the git server",
        stack: "production",
        set: { "berth:hostKey": "ssh-dss AAAAB3NzaC1kc3MAAAADAQABAAAACaurq6urq6urqw==", "berth:repositoryHostKey": "ssh-dss AAAAB3NzaC1kc3MAAAADAQABAAAACaurq6urq6urqw==" },
        errors: [
            'berth:hostKey: "ssh-dss AAAAB3NzaC1kc3MAAAAD..." is an ssh-dss key, which berth\'s SSH client would verify with SHA-1 signatures that OpenSSH >= 8.8 refuses; pin the host\'s ed25519 key (ssh-keyscan -t ed25519 203.0.113.20)',
            'berth:repositoryHostKey: "ssh-dss AAAAB3NzaC1kc3MAAAAD..." is an ssh-dss (DSA) key, which OpenSSH no longer accepts; pin the git server\'s ed25519 key (ssh-keyscan -t ed25519 github.com)',
        ],
    },
    {
        name: "berth:protect must be a boolean",
        stack: "production",
        set: { "berth:protect": "sometimes" },
        errors: ["berth:protect: must be true or false"],
    },
    {
        name: "ports out of range",
        stack: "staging",
        set: { "berth:sshPort": 70000, "berth:postgres": { image: "postgres:16.4", port: 0 } },
        errors: ["berth:sshPort: 70000 is out of range (1-65535)", "berth:postgres.port: 0 is out of range (1-65535)"],
    },
    {
        name: "production without a pinned host key",
        stack: "production",
        set: { "berth:hostKey": "" },
        errors: ["berth:hostKey: required on a production stack (pin the host key: ssh-keyscan -t ed25519 203.0.113.20)"],
    },
    {
        name: "production following a branch",
        stack: "production",
        set: { "berth:revision": "main" },
        errors: ['berth:revision: "main" can move; production needs a full commit sha or a tag'],
    },
    {
        name: "unknown keys in object-valued config and at the top level",
        stack: "staging",
        set: { "berth:postgres": { image: "postgres:16.4", prot: 5432 }, "berth:cloudflare": { zone: "shop.example.com", proxy: true }, "berth:domian": "x.example.com" },
        errors: ["berth:domian: unknown key", "berth:postgres.prot: unknown key", "berth:cloudflare.proxy: unknown key"],
    },
    {
        name: "berth:backup: every bad field at once",
        stack: "production",
        set: {
            "berth:backup": {
                repository: "s3:s3.amazonaws.com/bucket",
                hostKey: "ssh-ed25519 AAAAnotakey",
                schedule: "daily; rm -rf /",
                retention: { daily: -1, weekly: "4", hourly: 24 },
                redis: "yes",
                privateKey: { secure: "x" },
                password: { secure: "x" },
                target: "x",
            },
        },
        errors: [
            'berth:backup.repository: "s3:s3.amazonaws.com/bucket" is not a restic SFTP repository (sftp:user@host:/path or sftp://user@host:port//path)',
            'berth:backup.hostKey: "ssh-ed25519 AAAAnotakey" is not the SFTP server\'s SSH public host key (e.g. "ssh-ed25519 AAAA...")',
            'berth:backup.schedule: "daily; rm -rf /" is not a systemd calendar expression (e.g. "*-*-* 03:15:00")',
            "berth:backup.retention.daily: must be 0 or more",
            "berth:backup.retention.weekly: must be an integer",
            "berth:backup.retention.hourly: unknown key",
            "berth:backup.redis: must be true or false",
            "berth:backup.target: unknown key",
        ],
    },
    {
        name: "berth:backup: missing repository and secrets, a retention that keeps nothing",
        stack: "production",
        set: { "berth:backup": { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILg2U62y1ZMM03OoNhpsk9opMEKvZ4gzf4BICAs+jPTr", retention: { daily: 0, weekly: 0, monthly: 0 }, schedule: "*-*-* 03:15:00" } },
        errors: [
            "berth:backup: must be a secret (pulumi config set --secret backup ...)",
            "berth:backup.repository: required",
            "berth:backup.privateKey: required",
            "berth:backup.password: required",
        ],
    },
    {
        name: "berth:backup: a password too short for the repository",
        stack: "production",
        set: { "berth:backup": { repository: "sftp:shop@backup.example.net:/srv/restic/shop", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILg2U62y1ZMM03OoNhpsk9opMEKvZ4gzf4BICAs+jPTr", privateKey: { secure: "x" }, password: "short", retention: { daily: 0, weekly: 0, monthly: 0 } } },
        errors: ["berth:backup.password: must be a single line of at least 16 characters"],
    },
    {
        name: "berth:backup: a retention that keeps nothing",
        stack: "production",
        set: { "berth:backup": { repository: "sftp:shop@backup.example.net:/srv/restic/shop", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILg2U62y1ZMM03OoNhpsk9opMEKvZ4gzf4BICAs+jPTr", privateKey: { secure: "x" }, password: { secure: "x" }, retention: { daily: 0, weekly: 0, monthly: 0 } } },
        errors: ["berth:backup.retention: keeps nothing; set at least one of daily, weekly, monthly"],
    },
    {
        name: "wrong types",
        stack: "staging",
        set: { "berth:sshPort": "twenty-two", "berth:dns": "yes", "berth:extraHostnames": ["ok.shop.example.com", "bad_name"] },
        errors: ["berth:sshPort: must be an integer", "berth:dns: must be true or false", 'berth:extraHostnames[1]: "bad_name" is not a valid host name'],
    },
    {
        name: "a secret key set in plain text",
        stack: "staging",
        set: { "berth:deployKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n" },
        errors: ["berth:deployKey: must be a secret (pulumi config set --secret deployKey ...)"],
    },
    {
        name: "reserved and invalid environment variable names",
        stack: "staging",
        set: { "berth:env": { DATABASE_URL: "postgres://elsewhere", "lower-case": "x" } },
        errors: ['berth:env.DATABASE_URL: "DATABASE_URL" is set by berth and cannot be overridden', 'berth:env.lower-case: "lower-case" is not a valid environment variable name (A-Z, 0-9, _)'],
    },
    {
        name: "names outside the DNS zone and ports overridden into each other",
        stack: "staging",
        set: { "berth:domain": "staging.other.example.org", "berth:postgres": { port: 25000 }, "berth:redis": { port: 25000 } },
        errors: ['berth:domain: "staging.other.example.org" is not in the zone "shop.example.com"', "berth:redis.port: 25000 is already used by berth:postgres.port"],
    },
];

function header(stack: string, n: number): string {
    return `berth: invalid configuration for stack "${stack}" (${n} problem${n === 1 ? "" : "s"}):`;
}

describe("invalid configuration", () => {
    for (const c of CASES) {
        test(c.name, async () => {
            const base = stackConfig(c.stack);
            const raw: Record<string, unknown> = {};
            // Rebuild from the stack file with the overrides applied.
            const sc = stackConfig(c.stack, c.set);
            Object.assign(raw, sc);
            const r = await runProgram(sc);
            assert.ok(r.error, "the program must fail");
            const lines = r.error.message.split("\n");
            assert.equal(lines[0], header(c.stack, c.errors.length), r.error.message);
            assert.deepEqual(
                lines.slice(1).map((l) => l.replace(/^ {2}- /, "")).sort(),
                [...c.errors].sort(),
            );
            assert.equal(r.resources.length, 0, `registered: ${r.resources.map((x) => x.name).join(", ")}`);
            assert.ok(base.values["berth:app"], "sanity: the base stack file is valid input");
        });
    }

    test("secret values never appear in error messages", async () => {
        const sc = configFrom("staging", { ...stackConfigRaw("staging"), "berth:sshPort": 0 });
        sc.values["berth:privateKey"] = "not a key but a secret value 12345";
        const r = await runProgram(sc);
        assert.ok(r.error);
        assert.match(r.error.message, /berth:privateKey: is not a PEM\/OpenSSH private key/);
        assert.doesNotMatch(r.error.message, /secret value 12345/);
    });

    test("an ssh-rsa key for the git server is fine (git runs OpenSSH, which signs with rsa-sha2-*)", async () => {
        const r = await runProgram(stackConfig("staging", { "berth:repositoryHostKey": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAACaurq6urq6urqw==" }));
        assert.equal(r.error, undefined, r.error?.message);
    });

    test("the valid stack files register resources (the cases above fail for their reason only)", async () => {
        for (const stack of ["staging", "production"]) {
            const r = await runProgram(stackConfig(stack));
            assert.equal(r.error, undefined, r.error?.message);
            assert.ok(r.resources.length > 10);
        }
    });
});

function stackConfigRaw(stack: string): Record<string, unknown> {
    // The stack file's values as the engine would deliver them (secrets included).
    const sc = stackConfig(stack);
    return Object.fromEntries(Object.entries(sc.values).map(([k, v]) => [k, v]));
}

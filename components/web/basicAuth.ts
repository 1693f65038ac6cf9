/**
 * BasicAuth: the password file of `berth:basicAuth`, the basic-auth gate a
 * staging or review stack puts in front of its HTTPS site (the NginxSite's
 * `auth_basic` lines point at it; lib/config.ts refuses the key on a
 * production stack). The passwords travel only on stdin; the host keeps
 * SHA-512 crypt hashes (`openssl passwd -6`, read from stdin: no password
 * in argv), which nginx checks with crypt(3) (libxcrypt on Debian 12/13 and
 * Ubuntu 24.04). A user whose password did not change keeps their hash
 * (same salt, same text), so a re-run rewrites nothing and reloads nothing;
 * a removed user is gone from the file. nginx reads the file at each
 * request: no reload is needed for a change.
 *
 * Only stacks that set the key have this resource (new URNs for them only).
 * Delete removes the file (outside production, like every remote command).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, remoteScript } from "../../lib/remote";
import { basicAuthFile } from "../../lib/names";
import { cmd, quote, script, secretsPayload } from "../../lib/shell";

/** What the builders read of the configuration: the stack, this web host, the users. */
export const BASIC_AUTH_SCOPE = ["project", "stack", "production", "protect", "names", "host", "basicAuth"] as const;
export type BasicAuthScope = Pick<BerthConfig, (typeof BASIC_AUTH_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface BasicAuthArgs extends BasicAuthScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** The host's packages (openssl) and nginx. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class BasicAuth extends pulumi.ComponentResource {
    public readonly command: command.remote.Command;
    /** The password file on the host. */
    public readonly path: string;

    constructor(name: string, args: BasicAuthArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:web:BasicAuth", name, {}, opts);
        const cfg: BasicAuthScope = args;
        this.path = basicAuthFile(cfg);
        this.command = remoteScript(
            `${name}-htpasswd`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: basicAuthScript(cfg),
                delete: basicAuthDeleteScript(cfg),
                stdin: basicAuthPayload(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ path: this.path, command: this.command.id });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested; the script runs under real bash in the tests)
// ---------------------------------------------------------------------------

/** stdin: one `user:password` line per user, in name order (the script reads them with `read`). */
export function basicAuthPayload(cfg: Pick<BasicAuthScope, "basicAuth">): string {
    const users = cfg.basicAuth ?? {};
    return secretsPayload(Object.keys(users).sort().map((u) => `${u}:${users[u]}`));
}

/**
 * Builds the file from stdin in a temporary file next to it: for each user,
 * the old hash when the password still matches it (re-hashed with its own
 * salt), else a new one; installs it (root:www-data 0640) only when it
 * differs. `BERTH_ROOT` (tests) prefixes the path.
 */
export function basicAuthScript(cfg: BasicAuthScope): string {
    const file = basicAuthFile(cfg);
    const dir = file.slice(0, file.lastIndexOf("/"));
    return script(
        `f="\${BERTH_ROOT:-}"${quote(file)}`,
        `install -d -m 0755 "\${BERTH_ROOT:-}"${quote(dir)}`,
        'tmp=$(mktemp "$f.berth.XXXXXX")',
        `trap 'rm -f "$tmp"' EXIT`,
        "users=0",
        "while IFS= read -r line; do",
        '  [ -n "$line" ] || continue',
        '  user=${line%%:*}',
        '  password=${line#*:}',
        "  hash=",
        `  old=$(awk -F: -v u="$user" '$1 == u { print $2; exit }' "$f" 2>/dev/null || true)`,
        '  if [[ "$old" == "\\$6\\$"* ]]; then',
        "    salt=${old#\\$6\\$}",
        "    salt=${salt%%\\$*}",
        `    if [ "$(printf '%s\\n' "$password" | openssl passwd -6 -salt "$salt" -stdin)" = "$old" ]; then hash=$old; fi`,
        "  fi",
        `  if [ -z "$hash" ]; then hash=$(printf '%s\\n' "$password" | openssl passwd -6 -stdin); fi`,
        `  printf '%s:%s\\n' "$user" "$hash" >> "$tmp"`,
        "  users=$((users + 1))",
        "done",
        `if [ "$users" = 0 ]; then echo ${quote("berth: berth:basicAuth names no user (nothing on stdin)")} >&2; exit 64; fi`,
        'if cmp -s "$tmp" "$f" && [ "$(stat -c \'%a %U:%G\' "$f")" = \'640 root:www-data\' ]; then',
        `  echo ${quote(`berth: basic auth of ${cfg.names.id} unchanged`)} "($users users)"`,
        "else",
        '  chmod 0640 "$tmp"',
        '  chown root:www-data "$tmp"',
        '  mv -f "$tmp" "$f"',
        `  echo ${quote(`berth: basic auth of ${cfg.names.id} updated`)} "($users users)"`,
        "fi",
    );
}

export function basicAuthDeleteScript(cfg: BasicAuthScope): string {
    const file = basicAuthFile(cfg);
    return script(cmd("rm", "-f", file));
}

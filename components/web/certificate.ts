/**
 * Certificate: one certbot lineage (`names.certName`) for every host name of
 * the stack (`certificate.domains`: with `berth:review.certificate` wildcard
 * also `*.<review.domain>`, which review stacks on the same host serve
 * without a Certificate of their own). certbot.timer renews it; the deploy
 * hook reloads nginx. The environment makes this depend on the DNS records
 * and on the challenge site, and the full (HTTPS) site on this. certbot
 * stores how it validated (the authenticator and its options) in the
 * lineage's renewal conf, so timer renewals validate the same way.
 *
 * `berth:acme.challenge` http-01 (the default with one web host): HTTP-01 in
 * webroot mode: certbot only writes challenge files under `names.webroot`
 * (served by the challenge site) and never edits nginx files.
 *
 * dns-01 (required with several web hosts: the CA's HTTP request would land
 * on any of them): each web host obtains and renews its own certificate by
 * publishing a TXT record `_acme-challenge.<name>`, in one of two ways
 * (`berth:dns01`, a secret; the values travel on the command's stdin only,
 * never in the script text, argv or a log):
 *   - `cloudflareApiToken`: certbot's Cloudflare plugin (Debian's
 *     python3-certbot-dns-cloudflare, installed here under the host lock),
 *     the token in `<names.etc>/dns01/cloudflare.ini` (0600 in a 0700 root
 *     directory); it waits CLOUDFLARE_PROPAGATION_SECONDS after adding the
 *     record, and its cleanup deletes only the record it added.
 *   - `authHook` + `cleanupHook` (any other DNS provider, the e2e DNS
 *     server): each one line of shell, installed as a root-only (0700)
 *     `#!/bin/sh` script in `<names.etc>/dns01/`, run by certbot's manual
 *     plugin (`--manual --preferred-challenges dns`) with CERTBOT_DOMAIN and
 *     CERTBOT_VALIDATION (cleanup also CERTBOT_AUTH_OUTPUT) in the
 *     environment, exactly as certbot would run the line itself (`sh -c`).
 *     certbot asks the CA to validate as soon as the auth hook returns: a hook
 *     for a DNS provider with propagation delay must wait until the record is
 *     served (e.g. poll the authoritative servers, or sleep).
 * The renewal conf then holds only those file paths, never a secret.
 *
 * Idempotent: certbot runs with --keep-until-expiring, so an unchanged
 * certificate is not reissued. Debian 12's certbot (2.1.0) has no `certbot
 * reconfigure` (2.3.0+), and `certonly` leaves the renewal conf alone when it
 * keeps a certificate; so when the lineage's renewal conf names another
 * authenticator or other credential/hook files (a switch http-01 -> dns-01,
 * Cloudflare <-> hooks) or another CA, the script reissues with
 * --force-renewal, which rewrites the renewal conf for the new way. The
 * files of the way no longer used are removed after certbot succeeded.
 * Limitation: the http-01 script is kept byte for byte as it was (it has no
 * such check), so after a switch dns-01 -> http-01 the lineage keeps
 * renewing over DNS-01 (its renewal conf and the dns01 files stay) until it
 * is reissued (e.g. a CA change), and its delete leaves the dns01 directory.
 *
 * Several web hosts request certificates for the same names. Two validations
 * at the same moment could interfere with hooks (a cleanup that clears every
 * TXT value of the name removes the other host's record too), so the
 * environment chains the hosts' certificate commands (one host after the
 * other). Timer renewals on the hosts are not coordinated; they are spread by
 * certbot.timer's randomized delay, and a renewal that failed is retried at
 * the next run (twice a day, from 30 days before expiry). A cleanup hook
 * should therefore delete only its own value ($CERTBOT_VALIDATION) where the
 * DNS API allows it (Cloudflare's plugin does).
 *
 * Delete (dns-01): the dns01 directory carries an identity file naming the
 * resource that wrote it; the delete of a replaced resource (created before
 * the old one is deleted) finds the newer identity and leaves the lineage and
 * the files alone, otherwise it deletes the lineage, the private-CA trust and
 * the dns01 directory (credentials and hooks).
 *
 * Private ACME CAs (Pebble, step-ca): `berth:acme.caBundle` is written to
 * `<names.etc>/acme-ca.pem`, certbot runs with REQUESTS_CA_BUNDLE pointing at
 * it, and a drop-in for certbot.service sets the same variable so timer
 * renewals trust it. That drop-in applies to every renewal certbot does on
 * the host: two stacks with different private CAs, or a private CA and a
 * public one (Let's Encrypt), on one host would conflict (the drop-in that
 * sorts last wins); keep such stacks on separate hosts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig, LETSENCRYPT } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { dns01Paths, HOST_LOCK } from "../../lib/names";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { osAptInstall } from "../../lib/os";
import { cmd, hostLock, Lines, quote, raw, readSecrets, script, secretsPayload, writeFile } from "../../lib/shell";

/** What the builders read of the configuration: the stack, this web host, the names and the ACME settings. */
export const CERTIFICATE_SCOPE = ["project", "stack", "production", "protect", "names", "host", "certificate", "acme"] as const;
export type CertificateScope = Pick<BerthConfig, (typeof CERTIFICATE_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface CertificateArgs extends CertificateScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** What must exist first: the DNS records and the challenge site. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
}

export class Certificate extends pulumi.ComponentResource {
    public readonly command: command.remote.Command;
    /** Full chain the HTTPS site serves. */
    public readonly certPath: string;
    /** Private key (root only, never leaves the host). */
    public readonly keyPath: string;

    constructor(name: string, args: CertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:web:Certificate", name, {}, opts);
        const cfg: CertificateScope = args;
        if (cfg.certificate.from !== undefined || cfg.certificate.lineage !== cfg.names.certName) {
            throw new Error(`berth: ${cfg.stack} serves the certificate of stack ${cfg.certificate.from} (berth:review.certificate wildcard) and requests none`);
        }
        const paths = certificatePaths(cfg);
        this.certPath = paths.fullchain;
        this.keyPath = paths.privkey;
        const commandName = `${name}-certbot`;
        const stdin = dns01Stdin(cfg);
        // Production keeps its certificate on destroy (issuance is rate limited).
        this.command = remoteScript(
            commandName,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: certificateScript(cfg, commandName),
                delete: certificateDeleteScript(cfg, commandName),
                lifecycle: lifecycle(cfg, "command"),
                ...(stdin === undefined ? {} : { stdin: pulumi.secret(stdin) }),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ certPath: this.certPath, keyPath: this.keyPath, command: this.command.id });
    }
}

// ---------------------------------------------------------------------------
// Pure builders
// ---------------------------------------------------------------------------

export interface CertificatePaths {
    readonly live: string;
    readonly fullchain: string;
    readonly privkey: string;
    readonly cert: string;
    readonly renewal: string;
}

/** The lineage's files (`berth:review.certificate` wildcard: a review stack's are its source stack's). */
export function certificatePaths(cfg: Pick<BerthConfig, "certificate">): CertificatePaths {
    const live = `/etc/letsencrypt/live/${cfg.certificate.lineage}`;
    return {
        live,
        fullchain: `${live}/fullchain.pem`,
        privkey: `${live}/privkey.pem`,
        cert: `${live}/cert.pem`,
        renewal: `/etc/letsencrypt/renewal/${cfg.certificate.lineage}.conf`,
    };
}

export function acmeCaPath(cfg: CertificateScope): string {
    return `${cfg.names.etc}/acme-ca.pem`;
}

export function certbotDropInPath(cfg: CertificateScope): string {
    return `/etc/systemd/system/certbot.service.d/${cfg.names.dropIn}.conf`;
}

/** The certbot.service drop-in that makes timer renewals trust the private CA. */
export function certbotDropIn(cfg: CertificateScope): string {
    return [
        managedBy(cfg),
        `# certbot renewals of ${cfg.names.certName} need the private ACME CA of berth:acme.caBundle.`,
        "# This applies to every renewal on this host (one private CA per host).",
        "[Service]",
        `Environment=REQUESTS_CA_BUNDLE=${acmeCaPath(cfg)}`,
        "",
    ].join("\n");
}

// --- DNS-01 ----------------------------------------------------------------

/** The package of certbot's Cloudflare DNS plugin (the same name on every release lib/os.ts supports; Debian 12: 2.0.0, Debian 13: 4.0.0). */
export const CLOUDFLARE_PLUGIN_PACKAGE = "python3-certbot-dns-cloudflare";

/**
 * Seconds certbot's Cloudflare plugin waits between adding the TXT record
 * and asking the CA to validate (the plugin's default is 10).
 */
export const CLOUDFLARE_PROPAGATION_SECONDS = 30;

/** How certbot publishes the TXT record: its Cloudflare plugin, or the user's hooks (manual plugin). */
export type Dns01Method = "cloudflare" | "hooks";

/** The DNS-01 method of the configuration; undefined for http-01. */
export function dns01Method(cfg: CertificateScope): Dns01Method | undefined {
    if (cfg.acme.challenge !== "dns-01") return undefined;
    const d = cfg.acme.dns01;
    if (d?.cloudflareApiToken) return "cloudflare";
    if (d?.authHook && d.cleanupHook) return "hooks";
    throw new Error("berth: acme.challenge dns-01 needs berth:dns01 (cloudflareApiToken, or authHook and cleanupHook)");
}

/**
 * The certificate command's stdin (secret): dns-01's token, or its two hook
 * lines, one per line as `readSecrets` reads them; undefined for http-01
 * (no stdin, as before).
 */
export function dns01Stdin(cfg: CertificateScope): string | undefined {
    const method = dns01Method(cfg);
    const d = cfg.acme.dns01;
    if (method === "cloudflare") return secretsPayload([d!.cloudflareApiToken!]);
    if (method === "hooks") return secretsPayload([d!.authHook!, d!.cleanupHook!]);
    return undefined;
}

/** The line of the identity file: which resource (`owner`) manages the lineage's DNS-01 files. */
export function dns01IdentityLine(cfg: CertificateScope, owner: string): string {
    return `# berth certificate identity: ${JSON.stringify({ certName: cfg.names.certName, owner })}`;
}

/**
 * The renewal conf entries (`[renewalparams]`) certbot writes for this
 * configuration's way of validating: when the lineage's differ, it is
 * reissued so its renewal conf follows.
 */
export function renewalParams(cfg: CertificateScope): [string, string][] {
    const p = dns01Paths(cfg);
    switch (dns01Method(cfg)) {
        case "cloudflare":
            return [
                ["authenticator", "dns-cloudflare"],
                ["dns_cloudflare_credentials", p.cloudflareCredentials],
                ["dns_cloudflare_propagation_seconds", String(CLOUDFLARE_PROPAGATION_SECONDS)],
            ];
        case "hooks":
            return [
                ["authenticator", "manual"],
                ["manual_auth_hook", p.authHook],
                ["manual_cleanup_hook", p.cleanupHook],
            ];
        default:
            return [["authenticator", "webroot"]];
    }
}

/** certbot's authenticator and its options. */
function authenticatorArgs(cfg: CertificateScope): string[] {
    const p = dns01Paths(cfg);
    switch (dns01Method(cfg)) {
        case "cloudflare":
            return [
                "--dns-cloudflare",
                "--dns-cloudflare-credentials",
                p.cloudflareCredentials,
                "--dns-cloudflare-propagation-seconds",
                String(CLOUDFLARE_PROPAGATION_SECONDS),
            ];
        case "hooks":
            return ["--manual", "--preferred-challenges", "dns", "--manual-auth-hook", p.authHook, "--manual-cleanup-hook", p.cleanupHook];
        default:
            return ["--webroot", "-w", cfg.names.webroot];
    }
}

/** certbot's arguments except the renewal policy flag (chosen on the host). */
export function certbotArgs(cfg: CertificateScope): string[] {
    return [
        "certonly",
        ...authenticatorArgs(cfg),
        "--cert-name",
        cfg.names.certName,
        ...cfg.certificate.domains.flatMap((h) => ["-d", h]),
        "--non-interactive",
        "--agree-tos",
        ...(cfg.acme.email ? ["-m", cfg.acme.email, "--no-eff-email"] : ["--register-unsafely-without-email"]),
        "--server",
        cfg.acme.server,
        "--expand",
        "--deploy-hook",
        "systemctl reload nginx",
    ];
}

/** The private CA's trust for this run and for timer renewals (or its removal); then a daemon-reload when needed. */
function caTrustLines(cfg: CertificateScope): Lines {
    const dropInPath = certbotDropInPath(cfg);
    const ca = acmeCaPath(cfg);
    return [
        "changed=0",
        cfg.acme.caBundle
            ? [
                  cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", cfg.names.etc),
                  writeFile(ca, cfg.acme.caBundle.endsWith("\n") ? cfg.acme.caBundle : `${cfg.acme.caBundle}\n`, { mode: "0644" }),
                  cmd("install", "-d", "-m", "0755", "/etc/systemd/system/certbot.service.d"),
                  writeFile(dropInPath, certbotDropIn(cfg), { mode: "0644" }),
                  `export REQUESTS_CA_BUNDLE=${quote(ca)}`,
              ]
            : [
                  `if [ -e ${quote(dropInPath)} ]; then ${cmd("rm", "-f", dropInPath)}; changed=1; fi`,
                  cmd("rm", "-f", ca),
              ],
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
    ];
}

/** Chooses `$policy`: keep the certificate until it expires, unless the lineage comes from another CA (or, `more`, validates another way). */
function policyLines(cfg: CertificateScope, more: Lines = []): Lines {
    const p = certificatePaths(cfg);
    return [
        `server=${quote(cfg.acme.server)}`,
        // A lineage from another CA (e.g. staging -> production) is replaced now, not at expiry.
        "policy=--keep-until-expiring",
        `if [ -f ${quote(p.renewal)} ]; then`,
        `  current=$(awk -F ' *= *' '$1 == "server" { print $2; exit }' ${quote(p.renewal)})`,
        `  current=\${current:-${LETSENCRYPT}}`,
        '  if [ "$current" != "$server" ]; then',
        '    echo "berth: the certificate comes from $current; replacing it with one from $server"',
        "    policy=--force-renewal",
        "  fi",
        more,
        "fi",
    ];
}

/** The certbot run and what follows it on every path. */
function certbotLines(cfg: CertificateScope, after: Lines = []): Lines {
    return [
        `${cmd("certbot", ...certbotArgs(cfg))} "$policy"`,
        after,
        cmd("systemctl", "enable", "--now", "--quiet", "certbot.timer"),
        cmd("openssl", "x509", "-noout", "-issuer", "-enddate", "-in", certificatePaths(cfg).cert),
    ];
}

/**
 * The certificate command's create (= update) script. `owner` (the command's
 * resource name) goes into the dns-01 identity file; http-01 ignores it.
 */
export function certificateScript(cfg: CertificateScope, owner: string = cfg.names.certName): string {
    if (dns01Method(cfg) !== undefined) return dns01CertificateScript(cfg, owner);
    return script(
        cmd("install", "-d", "-m", "0755", "/var/www/berth-acme", cfg.names.webroot),
        caTrustLines(cfg),
        policyLines(cfg),
        certbotLines(cfg),
    );
}

/** Writes a root-only file from a producer command (a builtin fed from a secret variable), only when it differs; sets $changed. */
function secretFile(path: string, mode: "0600" | "0700", producer: string): string[] {
    return [
        `tmp=$(mktemp ${quote(`${path}.berth.XXXXXX`)})`,
        `${producer} >"$tmp"`,
        cmd("chmod", mode, raw('"$tmp"')),
        `if cmp -s "$tmp" ${quote(path)} && [ "$(stat -c '%a %U:%G' ${quote(path)})" = ${quote(`${mode.replace(/^0/, "")} root:root`)} ]; then rm -f "$tmp"; else mv -f "$tmp" ${quote(path)}; changed=1; fi`,
    ];
}

/** A hook script: `#!/bin/sh`, the managed-by header, then the user's line from the secret variable `variable`. */
function hookFile(cfg: CertificateScope, path: string, kind: "auth" | "cleanup", variable: string): string[] {
    const what =
        kind === "auth"
            ? "publishes the TXT record _acme-challenge.{CERTBOT_DOMAIN} = {CERTBOT_VALIDATION} (certbot's environment)"
            : "removes the TXT record _acme-challenge.{CERTBOT_DOMAIN} = {CERTBOT_VALIDATION} (certbot's environment)";
    const header = ["#!/bin/sh", managedBy(cfg), `# certbot --manual-${kind}-hook of ${cfg.names.certName} (berth:dns01.${kind}Hook): ${what}.`];
    return secretFile(path, "0700", `printf '%s\\n' ${header.map(quote).join(" ")} "$${variable}"`);
}

/** dns-01: the plugin (Cloudflare), the credentials or hooks from stdin, then certbot as for http-01. */
function dns01CertificateScript(cfg: CertificateScope, owner: string): string {
    const method = dns01Method(cfg)!;
    const p = dns01Paths(cfg);
    const cloudflare = method === "cloudflare";
    return script(
        "umask 077",
        `trap 'rm -f "\${tmp:-}"' EXIT`,
        cloudflare
            ? [
                  readSecrets("CLOUDFLARE_API_TOKEN"),
                  `if ! [[ "$CLOUDFLARE_API_TOKEN" =~ ^[A-Za-z0-9_-]{20,}$ ]]; then echo 'berth: no Cloudflare API token on stdin' >&2; exit 64; fi`,
                  osAptInstall([CLOUDFLARE_PLUGIN_PACKAGE], { lock: hostLock(HOST_LOCK, `certificate ${cfg.names.certName}: ${CLOUDFLARE_PLUGIN_PACKAGE}`) }),
                  // Releases the host lock (taken only to install): certbot below does not need it.
                  "exec 9>&-",
              ]
            : [
                  readSecrets("DNS01_AUTH_HOOK", "DNS01_CLEANUP_HOOK"),
                  `if [ -z "\${DNS01_AUTH_HOOK// /}" ] || [ -z "\${DNS01_CLEANUP_HOOK// /}" ]; then echo 'berth: the dns-01 auth and cleanup hooks did not arrive on stdin' >&2; exit 64; fi`,
              ],
        caTrustLines(cfg),
        cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", cfg.names.etc, p.dir),
        "changed=0",
        writeFile(p.identity, `${dns01IdentityLine(cfg, owner)}\n`, { mode: "0600" }),
        cloudflare
            ? secretFile(p.cloudflareCredentials, "0600", `printf 'dns_cloudflare_api_token = %s\\n' "$CLOUDFLARE_API_TOKEN"`)
            : [hookFile(cfg, p.authHook, "auth", "DNS01_AUTH_HOOK"), hookFile(cfg, p.cleanupHook, "cleanup", "DNS01_CLEANUP_HOOK")],
        `if [ "$changed" = 1 ]; then echo ${quote(`berth: dns-01 ${cloudflare ? "credentials" : "hooks"} of ${cfg.names.certName} updated`)}; fi`,
        "umask 022",
        policyLines(cfg, [
            `  for want in ${renewalParams(cfg).map(([k, v]) => quote(`${k}=${v}`)).join(" ")}; do`,
            `    have=$(awk -F ' *= *' -v k="\${want%%=*}" '$1 == k { print $2; exit }' ${quote(certificatePaths(cfg).renewal)})`,
            '    if [ "$have" != "${want#*=}" ]; then',
            '      echo "berth: the certificate renews with ${want%%=*} = ${have:-(unset)}; reissuing it with ${want#*=}"',
            "      policy=--force-renewal",
            "    fi",
            "  done",
        ]),
        certbotLines(
            cfg,
            // The other way's files, once the lineage no longer names them.
            [cmd("rm", "-f", ...(cloudflare ? [p.authHook, p.cleanupHook] : [p.cloudflareCredentials]))],
        ),
    );
}

/**
 * Destroy (non-production only): delete the lineage and the private-CA
 * trust; with dns-01 also the credentials and hooks, unless the identity
 * file names another (newer) resource, which then owns all of it.
 */
export function certificateDeleteScript(cfg: CertificateScope, owner: string = cfg.names.certName): string {
    const p = certificatePaths(cfg);
    const dropInPath = certbotDropInPath(cfg);
    const dns = dns01Method(cfg) !== undefined ? dns01Paths(cfg) : undefined;
    return script(
        dns && [
            `if [ -f ${quote(dns.identity)} ] && ! grep -qxF ${quote(dns01IdentityLine(cfg, owner))} ${quote(dns.identity)}; then`,
            `  echo ${quote(`berth: ${cfg.names.certName} belongs to a newer certificate resource (${dns.identity}); leaving it`)}`,
            "  exit 0",
            "fi",
        ],
        `if [ -e ${quote(p.renewal)} ] || [ -e ${quote(p.live)} ]; then`,
        `  if ! ${cmd("certbot", "delete", "--cert-name", cfg.names.certName, "--non-interactive")}; then`,
        // A lineage certbot cannot read (half-written, hand-edited) is removed by hand.
        `    echo ${quote(`berth: certbot could not delete ${cfg.names.certName}; removing its files`)} >&2`,
        `    ${cmd("rm", "-rf", p.live, `/etc/letsencrypt/archive/${cfg.names.certName}`, p.renewal)}`,
        "  fi",
        "fi",
        `if [ -e ${quote(dropInPath)} ]; then ${cmd("rm", "-f", dropInPath)}; systemctl daemon-reload; fi`,
        cmd("rm", "-f", acmeCaPath(cfg)),
        dns && cmd("rm", "-rf", "--one-file-system", dns.dir),
    );
}

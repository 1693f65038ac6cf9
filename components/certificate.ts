/**
 * Certificate: one certbot lineage (`names.certName`) for every host name of
 * the stack, issued over HTTP-01 in webroot mode: certbot only writes
 * challenge files under `names.webroot` (served by the challenge site) and
 * never edits nginx files. certbot.timer renews it; the deploy hook reloads
 * nginx. The environment makes this depend on the DNS records and on the
 * challenge site, and the full (HTTPS) site on this.
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
import { BerthConfig, LETSENCRYPT } from "../lib/config";
import { lifecycle } from "../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../lib/remote";
import { cmd, quote, script, writeFile } from "../lib/shell";

export interface CertificateArgs {
    /** Validated stack configuration. */
    config: BerthConfig;
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
        const cfg = args.config;
        const paths = certificatePaths(cfg);
        this.certPath = paths.fullchain;
        this.keyPath = paths.privkey;
        // Production keeps its certificate on destroy (issuance is rate limited).
        this.command = remoteScript(
            `${name}-certbot`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: certificateScript(cfg),
                delete: certificateDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
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

export function certificatePaths(cfg: BerthConfig): CertificatePaths {
    const live = `/etc/letsencrypt/live/${cfg.names.certName}`;
    return {
        live,
        fullchain: `${live}/fullchain.pem`,
        privkey: `${live}/privkey.pem`,
        cert: `${live}/cert.pem`,
        renewal: `/etc/letsencrypt/renewal/${cfg.names.certName}.conf`,
    };
}

export function acmeCaPath(cfg: BerthConfig): string {
    return `${cfg.names.etc}/acme-ca.pem`;
}

export function certbotDropInPath(cfg: BerthConfig): string {
    return `/etc/systemd/system/certbot.service.d/${cfg.names.dropIn}.conf`;
}

/** The certbot.service drop-in that makes timer renewals trust the private CA. */
export function certbotDropIn(cfg: BerthConfig): string {
    return [
        managedBy(cfg),
        `# certbot renewals of ${cfg.names.certName} need the private ACME CA of berth:acme.caBundle.`,
        "# This applies to every renewal on this host (one private CA per host).",
        "[Service]",
        `Environment=REQUESTS_CA_BUNDLE=${acmeCaPath(cfg)}`,
        "",
    ].join("\n");
}

/** certbot's arguments except the renewal policy flag (chosen on the host). */
export function certbotArgs(cfg: BerthConfig): string[] {
    return [
        "certonly",
        "--webroot",
        "-w",
        cfg.names.webroot,
        "--cert-name",
        cfg.names.certName,
        ...cfg.hostnames.flatMap((h) => ["-d", h]),
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

export function certificateScript(cfg: BerthConfig): string {
    const p = certificatePaths(cfg);
    const dropIn = certbotDropIn(cfg);
    const dropInPath = certbotDropInPath(cfg);
    const ca = acmeCaPath(cfg);
    return script(
        cmd("install", "-d", "-m", "0755", "/var/www/berth-acme", cfg.names.webroot),
        "changed=0",
        cfg.acme.caBundle
            ? [
                  cmd("install", "-d", "-m", "0700", "-o", "root", "-g", "root", cfg.names.etc),
                  writeFile(ca, cfg.acme.caBundle.endsWith("\n") ? cfg.acme.caBundle : `${cfg.acme.caBundle}\n`, { mode: "0644" }),
                  cmd("install", "-d", "-m", "0755", "/etc/systemd/system/certbot.service.d"),
                  writeFile(dropInPath, dropIn, { mode: "0644" }),
                  `export REQUESTS_CA_BUNDLE=${quote(ca)}`,
              ]
            : [
                  `if [ -e ${quote(dropInPath)} ]; then ${cmd("rm", "-f", dropInPath)}; changed=1; fi`,
                  cmd("rm", "-f", ca),
              ],
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
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
        "fi",
        `${cmd("certbot", ...certbotArgs(cfg))} "$policy"`,
        cmd("systemctl", "enable", "--now", "--quiet", "certbot.timer"),
        cmd("openssl", "x509", "-noout", "-issuer", "-enddate", "-in", p.cert),
    );
}

/** Destroy (non-production only): delete the lineage and the private-CA trust. */
export function certificateDeleteScript(cfg: BerthConfig): string {
    const p = certificatePaths(cfg);
    const dropInPath = certbotDropInPath(cfg);
    return script(
        `if [ -e ${quote(p.renewal)} ] || [ -e ${quote(p.live)} ]; then`,
        `  if ! ${cmd("certbot", "delete", "--cert-name", cfg.names.certName, "--non-interactive")}; then`,
        // A lineage certbot cannot read (half-written, hand-edited) is removed by hand.
        `    echo ${quote(`berth: certbot could not delete ${cfg.names.certName}; removing its files`)} >&2`,
        `    ${cmd("rm", "-rf", p.live, `/etc/letsencrypt/archive/${cfg.names.certName}`, p.renewal)}`,
        "  fi",
        "fi",
        `if [ -e ${quote(dropInPath)} ]; then ${cmd("rm", "-f", dropInPath)}; systemctl daemon-reload; fi`,
        cmd("rm", "-f", acmeCaPath(cfg)),
    );
}

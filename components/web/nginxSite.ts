/**
 * NginxSite: the stack's nginx site, in two phases that own one file each so
 * that neither can undo the other:
 *
 * - `challenge`: `sites-available/<names.nginxSite>.conf`, the port-80 server
 *   for every host name: ACME HTTP-01 challenges from `names.webroot`, a 301
 *   to HTTPS for everything else. It exists before the certificate, and its
 *   step only succeeds once nginx really serves a probe file from the webroot
 *   for every host name (over loopback: nginx is checked, not DNS).
 * - `full`: `sites-available/<names.nginxSite>-https.conf`, the 443 server
 *   (TLS with the certbot lineage, HSTS, security headers, fingerprinted
 *   assets from the union `shared/public/assets` of the kept releases, other
 *   static files from `current/public`, everything else proxied to the
 *   upstream with the headers of lib/proxy.ts). It needs the certificate.
 *   It writes the upstream file `names.nginxUpstream` only when missing (the
 *   socket symlink `names.webSocket`); the switch owns it afterwards.
 *
 * Behind Cloudflare's proxy (`realIpFrom`: Cloudflare's published ranges),
 * both servers take the visitor's address from `CF-Connecting-IP` on
 * connections from those ranges, so `$remote_addr` (the access logs, and
 * X-Real-IP / X-Forwarded-For to the app) is the visitor, not Cloudflare.
 *
 * Adding a host name therefore updates the port-80 server first (so the new
 * name's challenge can be answered), the certificate is expanded, then the
 * 443 server follows: HTTPS keeps serving throughout.
 *
 * Every change is tested with `nginx -t`; a rejected file is rolled back
 * (previous file restored, or the new one removed) and the step fails with
 * nginx's message. create = update (no separate update script).
 *
 * Delete removes the phase's file(s) outside production; on production the
 * site is kept like every remote command (lib/lifecycle.ts: no delete script,
 * retainOnDelete), so `pulumi destroy` leaves HTTPS answering. The full phase
 * carries a `triggers` identity (production, hsts, domain) for the policy
 * pack, so changing one of those replaces it; the replacement is created before the old one is
 * deleted, so the old one's delete removes the file only if it still holds
 * its own identity line.
 */
import { isIP } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { HOST_LOCK, SitePhase, basicAuthFile, siteFileName, siteLink, sitePath } from "../../lib/names";
import { Lines, cmd, hostLock, indent, quote, script, writeFile } from "../../lib/shell";
import { nginxProxyHeaderLines } from "../../lib/proxy";
import { certificatePaths } from "./certificate";
import { appPrefix, frontendLocations, publicHealthPath } from "./frontend";
import { nginxIdent, upstreamFile } from "./upstream";

export { nginxIdent, upstreamFile };

export { type SitePhase, siteLink, sitePath };

/** What the builders read of the configuration: the stack, this web host, the site names and nginx settings. */
export const NGINX_SITE_SCOPE = ["project", "stack", "production", "protect", "names", "host", "domain", "hostnames", "certificate", "maintenance", "nginx", "acme", "basicAuth", "release", "frontend"] as const;
export type NginxSiteScope = Pick<BerthConfig, (typeof NGINX_SITE_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface NginxSiteArgs extends NginxSiteScope {
    /** This host's SSH connection (its Host's `connection`). */
    connection: pulumi.Input<Connection>;
    /** `challenge` (port 80 only, before the certificate) or `full` (the HTTPS server, after it). */
    phase: SitePhase;
    /** challenge: the host's packages/app user; full: the Certificate. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
    /**
     * Traffic arrives through Cloudflare's proxy: Cloudflare's published
     * ranges (CIDRs), whose `CF-Connecting-IP` nginx trusts as the client
     * address. Undefined: no real-IP handling (the site is unchanged).
     */
    realIpFrom?: pulumi.Input<string[]>;
}

export class NginxSite extends pulumi.ComponentResource {
    public readonly command: command.remote.Command;
    public readonly phase: SitePhase;
    /** The file this phase owns under /etc/nginx/sites-available. */
    public readonly path: string;

    constructor(name: string, args: NginxSiteArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:web:NginxSite", name, {}, opts);
        const cfg: NginxSiteScope = args;
        this.phase = args.phase;
        this.path = sitePath(cfg, args.phase);
        this.command = remoteScript(
            `${name}-${args.phase === "full" ? "https" : "http"}`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create:
                    args.realIpFrom === undefined
                        ? siteScript(cfg, args.phase)
                        : pulumi.output(args.realIpFrom).apply((ranges) => siteScript(cfg, args.phase, ranges)),
                delete: siteDeleteScript(cfg, args.phase),
                triggers: args.phase === "full" ? [siteTrigger(cfg)] : undefined,
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ phase: this.phase, path: this.path, command: this.command.id });
    }
}

// ---------------------------------------------------------------------------
// Pure builders (golden-tested; the site files pass a real `nginx -t`)
// ---------------------------------------------------------------------------

/** What the policy pack reads to find sites; a change replaces the HTTPS site. */
export function siteTrigger(cfg: NginxSiteScope) {
    return { kind: "berth-nginx-site", production: cfg.production, hsts: cfg.nginx.hsts, domain: cfg.domain };
}

function logLines(cfg: NginxSiteScope): string[] {
    return [
        `    access_log /var/log/nginx/${cfg.names.nginxSite}.access.log;`,
        `    error_log /var/log/nginx/${cfg.names.nginxSite}.error.log;`,
    ];
}

/**
 * Security headers, each added unless the response already carries it
 * (Rails sends its own): the value comes from a per-site map on the
 * upstream's header, and nginx skips add_header when the value is empty.
 */
function headerMaps(cfg: NginxSiteScope): { maps: string[]; addHeaders: string[] } {
    const id = nginxIdent(cfg);
    const headers: [string, string, string][] = [
        ...(cfg.nginx.hsts ? [["Strict-Transport-Security", "hsts", "max-age=63072000; includeSubDomains"] as [string, string, string]] : []),
        ["X-Content-Type-Options", "xcto", "nosniff"],
        ["X-Frame-Options", "xfo", "SAMEORIGIN"],
        ["Referrer-Policy", "referrer", "strict-origin-when-cross-origin"],
    ];
    const variable = (short: string) => `$${id}_${short}`;
    return {
        maps: headers.map(
            ([name, short, value]) =>
                `map $upstream_http_${name.toLowerCase().replace(/-/g, "_")} ${variable(short)} { "" "${value}"; default ""; }`,
        ),
        addHeaders: headers.map(([name, short]) => `add_header ${name} ${variable(short)} always;`),
    };
}

/**
 * Behind Cloudflare: on a connection from one of `ranges`, the client
 * address is `CF-Connecting-IP` (Cloudflare sets it to the visitor's
 * address); from anywhere else the header is ignored. Not recursive: the
 * header holds one address. None without ranges.
 */
function realIpLines(ranges: readonly string[] | undefined): string[] {
    if (!ranges || ranges.length === 0) return [];
    for (const r of ranges) {
        const [addr, bits, ...rest] = r.split("/");
        const family = isIP(addr ?? "");
        if (rest.length > 0 || family === 0 || !/^\d{1,3}$/.test(bits ?? "") || Number(bits) > (family === 4 ? 32 : 128)) {
            throw new Error(`berth: ${JSON.stringify(r)} is not a CIDR range (Cloudflare's IP ranges)`);
        }
    }
    return [
        "    # Cloudflare proxies this site: the visitor's address from CF-Connecting-IP,",
        "    # trusted only on connections from Cloudflare's published ranges.",
        ...ranges.map((r) => `    set_real_ip_from ${r};`),
        "    real_ip_header CF-Connecting-IP;",
        "    real_ip_recursive off;",
    ];
}

function httpServer(cfg: NginxSiteScope, realIpFrom?: readonly string[]): string[] {
    return [
        "server {",
        "    listen 80;",
        "    listen [::]:80;",
        `    server_name ${cfg.hostnames.join(" ")};`,
        ...logLines(cfg),
        ...realIpLines(realIpFrom),
        "",
        "    location ^~ /.well-known/acme-challenge/ {",
        `        root ${cfg.names.webroot};`,
        "        default_type text/plain;",
        "    }",
        "",
        "    location / {",
        "        return 301 https://$host$request_uri;",
        "    }",
        "}",
    ];
}

const GZIP_TYPES = [
    "text/plain",
    "text/css",
    "text/xml",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/manifest+json",
    "image/svg+xml",
];

/**
 * Compression (BREACH): nothing the app answers is compressed, since a
 * dynamic page can carry a secret (a CSRF token, a session's data) next to
 * text the requester controls, and its compressed length then leaks the
 * secret. `gzip off` for the server overrides the `gzip on` of Debian's
 * nginx.conf, and the named location `@app` inherits it from the server;
 * static files (the fingerprinted assets, with their precompressed `.gz`
 * through `gzip_static`, and the other files of public/) turn it back on in
 * their locations. The settings below apply where it is on.
 */
function gzipServerLines(): string[] {
    return [
        "    # gzip only in the static locations: responses from the app are never",
        "    # compressed (BREACH: a secret and attacker-chosen text in one compressed body).",
        "    gzip off;",
        "    gzip_vary on;",
        "    gzip_proxied any;",
        "    gzip_comp_level 5;",
        "    gzip_min_length 256;",
        `    gzip_types ${GZIP_TYPES.join(" ")};`,
    ];
}

/**
 * `berth:basicAuth`: the whole HTTPS server asks for a user and password
 * (components/web/basicAuth.ts writes the file), except the health path, so
 * an uptime monitor still sees it (berth's own switch probe goes to the
 * instance's socket, not through nginx). The realm
 * comes from a map on `$uri`, and a realm of `off` turns the check off:
 * `$uri` is still the health path inside `@app` after `try_files`, so the
 * named location (which inherits the server's auth_basic) lets it through
 * too. The maintenance page (a server-level `return`, before the access
 * phase) needs no password. None without the key.
 */
function basicAuthMap(cfg: NginxSiteScope): string[] {
    if (!cfg.basicAuth) return [];
    return [`map $uri $${nginxIdent(cfg)}_auth { default "${cfg.names.id}"; "${publicHealthPath(cfg)}" off; }`];
}

function basicAuthLines(cfg: NginxSiteScope): string[] {
    if (!cfg.basicAuth) return [];
    return [
        "    # berth:basicAuth: every path but the health path asks for a password.",
        `    auth_basic $${nginxIdent(cfg)}_auth;`,
        `    auth_basic_user_file ${basicAuthFile(cfg)};`,
    ];
}

/** Mozilla "intermediate" TLS (TLS 1.2 with AEAD ECDHE suites, and TLS 1.3). */
const TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

function httpsFile(cfg: NginxSiteScope, realIpFrom?: readonly string[]): string[] {
    const n = cfg.names;
    const id = nginxIdent(cfg);
    const { maps, addHeaders } = headerMaps(cfg);
    return [
        `include ${n.nginxUpstream};`,
        "",
        ...maps,
        `map $http_upgrade $${id}_connection { default "upgrade"; "" ""; }`,
        ...basicAuthMap(cfg),
        "",
        "server {",
        "    listen 443 ssl http2;",
        "    listen [::]:443 ssl http2;",
        `    server_name ${appHostnames(cfg).join(" ")};`,
        ...logLines(cfg),
        ...realIpLines(realIpFrom),
        "",
        ...tlsLines(cfg, id),
        "",
        ...indent("    ", addHeaders),
        "",
        `    client_max_body_size ${cfg.nginx.clientMaxBodySize};`,
        ...basicAuthLines(cfg),
        ...gzipServerLines(),
        "",
        `    root ${n.root}/current/public;`,
        "",
        ...maintenanceLines(cfg),
        ...(cfg.frontend?.mount === "root" ? [...frontendLocations(cfg, addHeaders), "", ...appUnderPrefix(cfg, id)] : locationLines(cfg, id, addHeaders)),
        "}",
        ...frontendServer(cfg, realIpFrom, addHeaders),
    ];
}

/** The names the app's HTTPS server answers: every host name but the frontend's own (`berth:frontend.mount`). */
function appHostnames(cfg: NginxSiteScope): readonly string[] {
    const m = cfg.frontend?.mount;
    return typeof m === "object" ? cfg.hostnames.filter((h) => h.toLowerCase() !== m.hostname.toLowerCase()) : cfg.hostnames;
}

/** `berth:frontend` on a host name of its own: a second HTTPS server (same certificate) serving only the published site. */
function frontendServer(cfg: NginxSiteScope, realIpFrom: readonly string[] | undefined, addHeaders: readonly string[]): string[] {
    const m = cfg.frontend?.mount;
    if (typeof m !== "object") return [];
    return [
        "",
        "server {",
        "    listen 443 ssl http2;",
        "    listen [::]:443 ssl http2;",
        `    server_name ${m.hostname};`,
        ...logLines(cfg),
        ...realIpLines(realIpFrom),
        "",
        ...tlsLines(cfg, nginxIdent(cfg)),
        "",
        ...indent("    ", addHeaders),
        ...basicAuthLines(cfg),
        ...gzipServerLines(),
        "",
        ...maintenanceLines(cfg),
        ...frontendLocations(cfg, addHeaders),
        "}",
    ];
}

/** `berth:frontend` at the root: the app under its prefix (stripped: `/api/up` reaches the app as `/up`). */
function appUnderPrefix(cfg: NginxSiteScope, id: string): string[] {
    const prefix = appPrefix(cfg);
    return [
        `    # The app, under ${prefix}/ (the prefix is stripped; the app sees X-Forwarded-Prefix).`,
        `    location = ${prefix} {`,
        `        return 301 ${prefix}/;`,
        "    }",
        "",
        `    location ^~ ${prefix}/ {`,
        ...appProxyLines(cfg, id, "/"),
        `        proxy_set_header X-Forwarded-Prefix ${prefix};`,
        "    }",
    ];
}

/** The HTTPS server's certificate and TLS settings (TLS12_CIPHERS; session cache named by the site). */
function tlsLines(cfg: NginxSiteScope, id: string): string[] {
    const cert = certificatePaths(cfg);
    return [
        ...(cfg.certificate.from === undefined ? [] : [`    # Stack ${cfg.certificate.from}'s wildcard certificate (berth:review.certificate): renewed there.`]),
        `    ssl_certificate ${cert.fullchain};`,
        `    ssl_certificate_key ${cert.privkey};`,
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        `    ssl_ciphers ${TLS12_CIPHERS.join(":")};`,
        "    ssl_prefer_server_ciphers off;",
        `    ssl_session_cache shared:${id}:10m;`,
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
    ];
}

/** The HTTPS server's locations: the assets union, the other static files of public/, and the app (`@app`). */
function locationLines(cfg: NginxSiteScope, id: string, addHeaders: readonly string[]): string[] {
    return [
        "    # Fingerprinted assets: cached forever, from the union of the kept releases'",
        "    # assets (a page of the previous release still finds its files during and",
        "    # after a switch). add_header here replaces the server's, so the security",
        "    # headers are repeated.",
        "    location ^~ /assets/ {",
        `        root ${assetsRoot(cfg)};`,
        "        gzip on;",
        "        gzip_static on;",
        "        expires max;",
        '        add_header Cache-Control "public, immutable";',
        ...indent("        ", addHeaders),
        "        try_files $uri =404;",
        "    }",
        "",
        "    # Other files of public/ (favicon, robots.txt, error pages) are static too.",
        "    location / {",
        "        gzip on;",
        "        try_files $uri @app;",
        "    }",
        "",
        "    location @app {",
        ...appProxyLines(cfg, id, ""),
        "    }",
    ];
}

/** The body of a location proxying to the app (`uri`: what replaces the location's prefix; "" keeps the request URI). */
function appProxyLines(cfg: NginxSiteScope, id: string, uri: string): string[] {
    return [
        `        proxy_pass http://${id}${uri};`,
        "        proxy_http_version 1.1;",
        "        proxy_set_header Upgrade $http_upgrade;",
        `        proxy_set_header Connection $${id}_connection;`,
        ...indent("        ", nginxProxyHeaderLines()),
        "        proxy_redirect off;",
        `        proxy_read_timeout ${cfg.nginx.proxyTimeout}s;`,
        `        proxy_send_timeout ${cfg.nginx.proxyTimeout}s;`,
        "        proxy_next_upstream error timeout;",
    ];
}

/** The `root` under which `/assets/x` is the union's `x` (lib/names.ts `assets`; components/app/release.ts fills it). */
function assetsRoot(cfg: NginxSiteScope): string {
    const union = cfg.names.assets;
    if (!union.endsWith("/assets")) throw new Error(`berth: the assets union ${union} must end in /assets to be served under /assets/`);
    return union.slice(0, -"/assets".length);
}

/** The page served in maintenance mode when the release has no `public/maintenance.html`. */
export const DEFAULT_MAINTENANCE_PAGE =
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Down for maintenance</title></head><body><h1>Down for maintenance</h1><p>We will be back shortly.</p></body></html>";

/**
 * `berth:maintenance`: a server-level `return 503` (before any location, so
 * every path of the HTTPS server answers 503; ACME challenges are served by
 * the port-80 site, which does not change), and the 503 page from the named
 * location: the release's `public/maintenance.html` if present, else the
 * default. An internal redirect to a named location skips the server-level
 * return, so the page itself is served (with status 503).
 */
function maintenanceLines(cfg: NginxSiteScope): string[] {
    if (!cfg.maintenance) return [];
    return [
        "    # berth:maintenance is on: every request answers 503 with the maintenance page.",
        "    error_page 503 @berth_maintenance;",
        "    return 503;",
        "",
        "    location @berth_maintenance {",
        '        add_header Retry-After 300 always;',
        '        add_header Cache-Control "no-store" always;',
        "        try_files /maintenance.html @berth_maintenance_default;",
        "    }",
        "",
        "    location @berth_maintenance_default {",
        '        add_header Retry-After 300 always;',
        '        add_header Cache-Control "no-store" always;',
        "        default_type text/html;",
        `        return 503 '${DEFAULT_MAINTENANCE_PAGE}';`,
        "    }",
        "",
    ];
}

/** The line the HTTPS file carries so a replaced resource's delete can tell the file is no longer its own. */
export function identityLine(cfg: NginxSiteScope): string {
    return `# berth site identity: ${JSON.stringify(siteTrigger(cfg))}`;
}

/**
 * The file a phase writes (challenge: the port-80 server; full: the 443
 * server); `realIpFrom`: Cloudflare's ranges when it proxies the site.
 */
export function nginxSiteFile(cfg: NginxSiteScope, phase: SitePhase, realIpFrom?: readonly string[]): string {
    const hosts = cfg.hostnames.join(", ");
    const body =
        phase === "challenge"
            ? [`# HTTP for ${hosts}: ACME HTTP-01 challenges; everything else is redirected to HTTPS.`, ...httpServer(cfg, realIpFrom)]
            : [
                  identityLine(cfg),
                  `# HTTPS for ${hosts}. HTTP (ACME challenges, redirect) is in ${siteFileName(cfg, "challenge")}.`,
                  ...httpsFile(cfg, realIpFrom),
              ];
    return [managedBy(cfg), ...body, ""].join("\n");
}

/** Installs `text` as the phase's site (backup, write, link); sets $changed. */
function installSite(cfg: NginxSiteScope, phase: SitePhase, realIpFrom?: readonly string[]): Lines {
    return [
        `site=${quote(sitePath(cfg, phase))}`,
        `link=${quote(siteLink(cfg, phase))}`,
        "had_site=0",
        'if [ -f "$site" ]; then cp -p "$site" "$site.berth-prev"; had_site=1; fi',
        "had_link=0",
        'if [ -L "$link" ]; then had_link=1; fi',
        writeFile(sitePath(cfg, phase), nginxSiteFile(cfg, phase, realIpFrom), { mode: "0644" }),
        'if [ "$(readlink "$link" 2>/dev/null)" != "$site" ]; then ln -sfn "$site" "$link"; changed=1; fi',
    ];
}

/** nginx -t, then reload; on rejection roll back what this run changed and fail. */
function testAndReload(cfg: NginxSiteScope, phase: SitePhase, rollbackExtra: Lines = []): Lines {
    return [
        'if [ "$changed" = 1 ]; then',
        '  if ! out=$(nginx -t 2>&1); then',
        '    if [ "$had_site" = 1 ]; then mv -f "$site.berth-prev" "$site"; else rm -f "$site"; fi',
        '    if [ "$had_link" = 0 ]; then rm -f "$link"; fi',
        ...rollbackExtra.map((l) => `    ${l}`),
        `    printf '%s\\n' "$out" >&2`,
        `    echo ${quote(`berth: nginx -t rejected the ${phase} site of ${cfg.names.id}; the previous configuration is back in place`)} >&2`,
        "    exit 1",
        "  fi",
        '  rm -f "$site.berth-prev"',
        "  if systemctl is-active --quiet nginx; then systemctl reload nginx; else systemctl start nginx; fi",
        `  echo ${quote(`berth: ${phase} site of ${cfg.names.id} updated`)}`,
        "else",
        '  rm -f "$site.berth-prev"',
        "  systemctl is-active --quiet nginx || systemctl start nginx",
        `  echo ${quote(`berth: ${phase} site of ${cfg.names.id} unchanged`)}`,
        "fi",
    ];
}

export function siteScript(cfg: NginxSiteScope, phase: SitePhase, realIpFrom?: readonly string[]): string {
    const n = cfg.names;
    if (phase === "challenge") {
        return script(
            hostLock(HOST_LOCK, `nginx site of ${n.id}`),
            cmd("install", "-d", "-m", "0755", "/var/www/berth-acme", n.webroot),
            "changed=0",
            installSite(cfg, phase, realIpFrom),
            testAndReload(cfg, phase),
            challengeProbe(cfg),
        );
    }
    const cert = certificatePaths(cfg);
    const from = cfg.certificate.from;
    // Stack names are [a-z0-9-]: safe inside the double quotes below.
    const first = from === undefined ? "the certificate step must succeed before the HTTPS site" : `it is the wildcard certificate of stack ${from} (berth:review.certificate): run pulumi up on ${from} first`;
    return script(
        hostLock(HOST_LOCK, `nginx site of ${n.id}`),
        `for f in ${quote(cert.fullchain)} ${quote(cert.privkey)}; do`,
        `  if [ ! -e "$f" ]; then echo "berth: $f is missing; ${first}" >&2; exit 1; fi`,
        "done",
        wildcardCoverLines(cfg),
        cmd("install", "-d", "-m", "0755", "/etc/nginx/berth"),
        "changed=0",
        "new_upstream=0",
        `if [ ! -e ${quote(n.nginxUpstream)} ]; then`,
        writeFile(n.nginxUpstream, upstreamFile(cfg), { mode: "0644" }),
        "  new_upstream=1",
        "fi",
        installSite(cfg, phase, realIpFrom),
        testAndReload(cfg, phase, [`if [ "$new_upstream" = 1 ]; then ${cmd("rm", "-f", n.nginxUpstream)}; fi`]),
    );
}

/**
 * A review stack under its source stack's wildcard: every host name of the
 * site must match the source's lineage (a source without the wildcard yet, or
 * a review domain that changed, would serve a certificate browsers refuse).
 * Nothing for a stack that requests its own certificate.
 */
export function wildcardCoverLines(cfg: NginxSiteScope): Lines {
    const from = cfg.certificate.from;
    if (from === undefined) return [];
    const fullchain = certificatePaths(cfg).fullchain;
    return cfg.certificate.domains.map((h) => [
        `if ! openssl x509 -noout -checkhost ${quote(h)} -in ${quote(fullchain)} | grep -q ' does match certificate$'; then`,
        `  echo ${quote(`berth: ${fullchain} (stack ${from}'s certificate) does not cover ${h}: set berth:review.certificate wildcard on ${from} and run pulumi up there first`)} >&2`,
        "  exit 1",
        "fi",
    ]);
}

/**
 * A reload only signals nginx; before certbot asks the CA to validate, make
 * sure nginx really serves a file from the webroot for every host name
 * (over loopback: this checks nginx, not DNS).
 */
function challengeProbe(cfg: NginxSiteScope): string[] {
    const dir = `${cfg.names.webroot}/.well-known/acme-challenge`;
    return [
        cmd("install", "-d", "-m", "0755", `${cfg.names.webroot}/.well-known`, dir),
        `probe=$(mktemp ${quote(`${dir}/berth-probe.XXXXXX`)})`,
        'token=$(basename "$probe")',
        'printf \'%s\' "$token" > "$probe"',
        'chmod 0644 "$probe"',
        `hosts=(${cfg.hostnames.map(quote).join(" ")})`,
        'for host in "${hosts[@]}"; do',
        "  ready=0",
        "  for _ in $(seq 1 50); do",
        '    if [ "$(curl -s --max-time 2 -H "Host: $host" "http://127.0.0.1/.well-known/acme-challenge/$token")" = "$token" ]; then ready=1; break; fi',
        "    sleep 0.2",
        "  done",
        '  if [ "$ready" != 1 ]; then rm -f "$probe"; echo "berth: nginx does not serve ACME challenges for $host on port 80" >&2; exit 1; fi',
        "done",
        'rm -f "$probe"',
    ];
}

function reloadAfterRemoval(cfg: NginxSiteScope): string[] {
    return [
        "if command -v nginx >/dev/null 2>&1; then",
        "  if ! out=$(nginx -t 2>&1); then",
        `    printf '%s\\n' "$out" >&2`,
        `    echo ${quote(`berth: nginx -t fails after removing the site of ${cfg.names.id}; nginx was not reloaded`)} >&2`,
        "    exit 1",
        "  fi",
        "  if systemctl is-active --quiet nginx; then systemctl reload nginx; fi",
        "fi",
    ];
}

export function siteDeleteScript(cfg: NginxSiteScope, phase: SitePhase): string {
    const site = sitePath(cfg, phase);
    const lock = hostLock(HOST_LOCK, `nginx site of ${cfg.names.id}`);
    if (phase === "challenge") {
        return script(
            lock,
            cmd("rm", "-f", siteLink(cfg, phase), site, `${site}.berth-prev`),
            cmd("rm", "-rf", "--one-file-system", cfg.names.webroot),
            reloadAfterRemoval(cfg),
        );
    }
    return script(
        lock,
        `if [ -f ${quote(site)} ] && ! grep -qxF ${quote(identityLine(cfg))} ${quote(site)}; then`,
        `  echo ${quote(`berth: ${site} belongs to a newer site resource; leaving it`)}`,
        "  exit 0",
        "fi",
        cmd("rm", "-f", siteLink(cfg, phase), site, `${site}.berth-prev`, cfg.names.nginxUpstream),
        reloadAfterRemoval(cfg),
    );
}

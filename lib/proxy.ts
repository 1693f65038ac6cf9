/**
 * The request headers nginx sets when it proxies a request to the app, in
 * one table, so the health probe (components/app/switch.ts) sends exactly
 * what real traffic carries for the primary domain. An app that redirects
 * plain HTTP (Rails' `force_ssl`), trusts `X-Forwarded-Proto` (`assume_ssl`)
 * or checks the host name (`config.hosts`) then passes the probe exactly
 * when it would serve real traffic. Pure data.
 */

export interface ProxyHeader {
    /** Header name. */
    readonly name: string;
    /** What nginx's `proxy_set_header` sends (an nginx variable expression). */
    readonly nginx: string;
    /** What the probe sends instead, for a request to `domain` over HTTPS from loopback. */
    readonly probe: (domain: string) => string;
}

/** Headers of every proxied request (the WebSocket `Upgrade`/`Connection` pair aside). */
export const PROXY_HEADERS: readonly ProxyHeader[] = [
    { name: "Host", nginx: "$host", probe: (domain) => domain },
    { name: "X-Real-IP", nginx: "$remote_addr", probe: () => "127.0.0.1" },
    { name: "X-Forwarded-For", nginx: "$proxy_add_x_forwarded_for", probe: () => "127.0.0.1" },
    // The site that proxies is the HTTPS server: $scheme is always https there.
    { name: "X-Forwarded-Proto", nginx: "$scheme", probe: () => "https" },
    { name: "X-Forwarded-Host", nginx: "$host", probe: (domain) => domain },
];

/** `proxy_set_header` lines of the HTTPS site. */
export function nginxProxyHeaderLines(): string[] {
    return PROXY_HEADERS.map((h) => `proxy_set_header ${h.name} ${h.nginx};`);
}

/** `Name: value` pairs the probe sends for `domain`. */
export function probeHeaders(domain: string): [string, string][] {
    return PROXY_HEADERS.map((h) => [h.name, h.probe(domain)]);
}

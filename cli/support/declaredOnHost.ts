/**
 * What the program declares for the host a Stack view is on, with the
 * stdout of the commands others read taken from the hosts themselves (the
 * mesh's public keys), for verify and repair.
 */
import { BerthConfig, HostConfig } from "../../lib/config";
import { meshKeyScript, meshNames, publicKeyFromOutput } from "../../components/host/meshScripts";
import { sitePath } from "../../lib/names";
import { viewOf } from "../../lib/plan";
import { has, releaseHost } from "../../lib/topology";
import { cmd, quote, raw, script } from "../../lib/shell";
import { declaredUnits } from "./compare";
import { Declared, declared, ReadCommand, StdoutSource } from "./declared";
import { Probe, ProbeRequest } from "./probe";
import { Stack } from "./stack";

/**
 * The revision to declare: the one the host serves (its switch's state); a
 * host that serves none (the data host) takes the release host's.
 */
export function servedRevision(s: Stack, p: Probe): string | undefined {
    if (!s.cfg.multiHost || has(s.cfg.host, "web") || has(s.cfg.host, "worker")) return p.revision;
    s.shared.served ??= { sha: s.on(releaseHost(s.source.config).name).probe().revision };
    return s.shared.served.sha;
}

/**
 * The stdout the engine holds for each command others read (cli/support/declared.ts),
 * read on the host it runs on. The mesh's key step prints the host's
 * WireGuard public key: it is read with `wg pubkey` from the host's key file,
 * so only the public key leaves the host. `run` (repair): a command not
 * readable that way (a host whose key file is missing) runs its create
 * script, idempotent and printing the same stdout, as the engine runs every
 * key step before any config step.
 */
export function hostOutputs(s: Stack, run: boolean): StdoutSource {
    return (read) => {
        const out: Record<string, string> = {};
        for (const c of read) {
            const known = s.shared.stdouts.get(c.name);
            if (known !== undefined) {
                out[c.name] = known;
                continue;
            }
            const h = s.source.config.hosts.find((x) => x.address === c.host);
            if (!h) continue;
            const on = s.on(h.name);
            let stdout = "";
            if (meshKeyStepOf(s.source.config, c)) {
                stdout = on.host.check(meshPublicKeyScript(on.cfg), `reading the WireGuard public key of host ${h.name}`);
                if (!publicKeyFromOutput(stdout)) stdout = "";
            }
            if (!stdout && run) {
                const r = on.host.run(c.script, c.stdin, 900_000);
                if (r.code !== 0) throw new Error(`berth: ${c.name} failed on host ${h.name} (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
                process.stderr.write(`repair: ${c.name} (on ${h.name}, its output is read by others): ok\n`);
                stdout = r.stdout;
            }
            s.shared.stdouts.set(c.name, stdout);
            out[c.name] = stdout;
        }
        return out;
    };
}

/** The host whose mesh key step `c` is (its create script is exactly that host's key script), if it is one. */
export function meshKeyStepOf(cfg: BerthConfig, c: ReadCommand): HostConfig | undefined {
    if (!cfg.mesh.enabled) return undefined;
    const h = cfg.hosts.find((x) => x.address === c.host);
    return h && c.script === meshKeyScript(viewOf(cfg, h.name)!, c.name.replace(/-key$/, "")) ? h : undefined;
}

/** Read-only: the host's mesh public key from its key file (what its key step prints), or nothing without a key. */
export function meshPublicKeyScript(cfg: BerthConfig): string {
    const key = meshNames(cfg).key;
    return script(`if [ -s ${quote(key)} ]; then ${cmd("wg", "pubkey", raw("<"), key)}; fi`);
}

/** The declared state for the revision the host serves. */
export async function declaredFor(s: Stack, served: string | undefined, run = false): Promise<Declared> {
    const ranges = s.cfg.dns.proxied && has(s.cfg.host, "web") ? cloudflareRangesOnHost(s) : s.cfg.dns.proxied ? [] : undefined;
    return declared(s.cfg, s.source.values, s.source.secretKeys, s.randoms(), served, ranges, hostOutputs(s, run));
}

/**
 * A proxied stack's nginx sites restore the visitor's address from
 * Cloudflare's published ranges (the provider's getIpRanges data source, read
 * where pulumi runs). Those ranges are Cloudflare's, not the program's: the
 * declaration takes the ones the host's HTTPS site carries, so verify holds
 * every other line of the sites against the program (a range Cloudflare
 * added since the last up is the next up's change, not drift).
 */
function cloudflareRangesOnHost(s: Stack): string[] {
    const out = s.host.check(script(`sed -nE 's/^[[:space:]]*set_real_ip_from[[:space:]]+([^;[:space:]]+);.*/\\1/p' ${quote(sitePath(s.cfg, "full"))} 2>/dev/null | awk '!seen[$0]++' || true`), "reading Cloudflare's ranges from the HTTPS site");
    return out.split("\n").map((l) => l.trim()).filter(Boolean);
}

export function verifyRequest(s: Stack, d: Declared, color: string | undefined): ProbeRequest {
    return {
        files: d.files.filter((f) => !f.masked).map((f) => f.path),
        maskedFiles: d.files.filter((f) => f.masked).map((f) => f.path),
        links: d.files.filter((f) => f.path.startsWith("/etc/nginx/sites-available/")).map((f) => f.path.replace("/sites-available/", "/sites-enabled/")),
        units: declaredUnits(s.cfg, d.files, color).map(([u]) => u),
        containers: d.containers.map((c) => c.name),
        hostSettings: true,
    };
}

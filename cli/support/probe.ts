/**
 * One read-only script that reports what a host runs for a stack, as
 * tab-separated records, and its parser. `status`, `releases` and `verify`
 * all read the host through it. It reads only what the switch and the other
 * components write (state/color, state/revision, state/stamp, slots/,
 * current, releases/), never a secret: files are reported by digest, the
 * env file included (and the mesh's wg-quick config with its private key
 * line masked before hashing).
 */
import { BerthConfig } from "../../lib/config";
import { BUILT_MARKER, RELEASED_MARKER, sitePath } from "../../lib/names";
import { PRIVATE_KEY_PLACEHOLDER } from "../../components/host/meshScripts";
import { cmd, type Lines, quote, script } from "../../lib/shell";
import { has } from "../../lib/topology";

export interface ProbeRequest {
    /** Files to report (mode, owner, sha256). */
    files: string[];
    /** Files the host puts its private key in: the sha256 is of the text with that line masked (components/host/meshScripts.ts PRIVATE_KEY_PLACEHOLDER). */
    maskedFiles?: string[];
    /** Symlinks to report (target). */
    links: string[];
    /** Units to report (is-active, is-enabled). */
    units: string[];
    /** Containers to report. */
    containers: string[];
    /** Firewall and sshd settings, nginx -t (verify only). */
    hostSettings: boolean;
}

export interface ProbeFile {
    exists: boolean;
    modeOwner?: string;
    sha256?: string;
}

export interface Probe {
    color?: string;
    revision?: string;
    stamp?: string;
    current?: string;
    slots: Record<string, string>;
    releases: { sha: string; builtAt: number; built: boolean; released: boolean }[];
    units: Record<string, { active: string; enabled: string }>;
    containers: Record<string, { status: string; health: string; imageId: string; tags: string[] }>;
    certs: Record<string, { notAfter?: string; names: string[] }>;
    files: Record<string, ProbeFile>;
    links: Record<string, string>;
    nginxTest?: { ok: boolean; output: string };
    upstream?: { server: string; target: string };
    ufw: string[];
    sshd: Record<string, string>;
    maintenance?: boolean;
}

/** Records: KIND<TAB>fields... (one per line). */
export function probeScript(cfg: BerthConfig, req: ProbeRequest): string {
    return script(
        "r() { local IFS=$'\\t'; printf '%s\\n' \"$*\"; }",
        probeServingLines(cfg),
        probeUnitAndContainerLines(req),
        // The certificate nginx serves for each name (SNI over loopback): web hosts only.
        probeCertificateLines(has(cfg.host, "web") ? cfg.hostnames : []),
        probeFileLines(req),
        probeNginxAndSettingsLines(cfg, req),
        cmd("true"),
    );
}

/** S, L, R records: the switch's state files, current, maintenance, the slots, the releases. */
function probeServingLines(cfg: BerthConfig): Lines {
    const n = cfg.names;
    const state = `${n.root}/state`;
    return [
        `for k in color revision stamp; do if [ -f ${quote(`${state}/`)}"$k" ]; then r S "$k" "$(head -c 500 ${quote(`${state}/`)}"$k")"; fi; done`,
        `r S current "$(readlink -f ${quote(`${n.root}/current`)} 2>/dev/null || true)"`,
        `if grep -qs 'berth:maintenance is on' ${quote(sitePath(cfg, "full"))}; then r S maintenance on; else r S maintenance off; fi`,
        `for c in blue green; do r L ${quote(`${n.root}/slots/`)}"$c" "$(readlink -f ${quote(`${n.root}/slots/`)}"$c" 2>/dev/null || true)"; done`,
        `if [ -d ${quote(`${n.root}/releases`)} ]; then`,
        `  find ${quote(`${n.root}/releases`)} -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%f\\t%T@\\n' | while IFS=$'\\t' read -r sha at; do`,
        `    d=${quote(`${n.root}/releases/`)}"$sha"`,
        `    if [ -f "$d/${BUILT_MARKER}" ]; then at=$(stat -c %Y "$d/${BUILT_MARKER}"); fi`,
        `    r R "$sha" "\${at%.*}" "$([ -f "$d/${BUILT_MARKER}" ] && echo 1 || echo 0)" "$([ -f "$d/${RELEASED_MARKER}" ] && echo 1 || echo 0)"`,
        "  done",
        "fi",
    ];
}

/** U and C records: the requested units and containers. */
function probeUnitAndContainerLines(req: ProbeRequest): Lines {
    return [
        req.units.length > 0 && [
            `units=(${req.units.map(quote).join(" ")})`,
            'for u in "${units[@]}"; do',
            '  r U "$u" "$(systemctl is-active "$u" 2>/dev/null || true)" "$(systemctl is-enabled "$u" 2>/dev/null || true)"',
            "done",
        ],
        req.containers.length > 0 && [
            `containers=(${req.containers.map(quote).join(" ")})`,
            'for c in "${containers[@]}"; do',
            `  if info=$(docker inspect -f '{{.State.Status}}{{"\\t"}}{{if .State.Health}}{{.State.Health.Status}}{{end}}{{"\\t"}}{{.Image}}' "$c" 2>/dev/null); then`,
            `    img=$(printf '%s' "$info" | cut -f3)`,
            `    r C "$c" "$info" "$(docker image inspect -f '{{join .RepoTags " "}}' "$img" 2>/dev/null || true)"`,
            "  else",
            '    r C "$c" missing',
            "  fi",
            "done",
        ],
    ];
}

/** X records: the certificate nginx serves for each name. */
function probeCertificateLines(hostnames: readonly string[]): Lines {
    return [
        `names=(${hostnames.map(quote).join(" ")})`,
        'for h in "${names[@]}"; do',
        `  pem=$(openssl s_client -connect 127.0.0.1:443 -servername "$h" </dev/null 2>/dev/null | openssl x509 2>/dev/null || true)`,
        '  if [ -n "$pem" ]; then',
        `    r X "$h" "$(printf '%s\\n' "$pem" | openssl x509 -noout -enddate | cut -d= -f2)" "$(printf '%s\\n' "$pem" | openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ')"`,
        "  else",
        '    r X "$h"',
        "  fi",
        "done",
    ];
}

/** F and L records: the requested files (digests, masked where asked) and links. */
function probeFileLines(req: ProbeRequest): Lines {
    return [
        req.files.length > 0 && [
            `files=(${req.files.map(quote).join(" ")})`,
            'for f in "${files[@]}"; do',
            `  if [ -f "$f" ]; then r F "$f" "$(stat -c '%a %U:%G' "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; else r F "$f" missing; fi`,
            "done",
        ],
        (req.maskedFiles ?? []).length > 0 && [
            `masked=(${req.maskedFiles!.map(quote).join(" ")})`,
            'for f in "${masked[@]}"; do',
            `  if [ -f "$f" ]; then r F "$f" "$(stat -c '%a %U:%G' "$f")" "$(sed ${quote(`s/^PrivateKey = .*/${PRIVATE_KEY_PLACEHOLDER}/`)} "$f" | sha256sum | cut -d' ' -f1)"; else r F "$f" missing; fi`,
            "done",
        ],
        req.links.length > 0 && [`links=(${req.links.map(quote).join(" ")})`, 'for l in "${links[@]}"; do r L "$l" "$(readlink "$l" 2>/dev/null || true)"; done'],
    ];
}

/** N, W, H records: nginx's upstream; with hostSettings, nginx -t, ufw and sshd -T. */
function probeNginxAndSettingsLines(cfg: BerthConfig, req: ProbeRequest): Lines {
    return [
        `up=${quote(cfg.names.nginxUpstream)}`,
        'if [ -f "$up" ]; then',
        `  server=$(awk '$1 == "server" { print $2; exit }' "$up")`,
        '  case "$server" in unix:*) r N upstream "$server" "$(readlink -f "${server#unix:}" 2>/dev/null || true)" ;; *) r N upstream "$server" "" ;; esac',
        "fi",
        req.hostSettings && [
            'if out=$(nginx -t 2>&1); then r N test ok; else r N test fail "$(printf \'%s\' "$out" | tr \'\\n\\t\' \'  \')"; fi',
            "ufw status verbose 2>&1 | while IFS= read -r line; do r W \"$line\"; done",
            "sshd -T 2>/dev/null | while IFS= read -r line; do r H \"$line\"; done",
        ],
    ];
}

export function parseProbe(text: string): Probe {
    const p: Probe = { slots: {}, releases: [], units: {}, containers: {}, certs: {}, files: {}, links: {}, ufw: [], sshd: {} };
    for (const line of text.split("\n")) {
        if (!line) continue;
        const [kind, ...f] = line.split("\t");
        switch (kind) {
            case "S":
                if (f[0] === "color") p.color = f[1]?.trim();
                else if (f[0] === "revision") p.revision = f[1]?.trim();
                else if (f[0] === "stamp") p.stamp = f[1]?.trim();
                else if (f[0] === "current") p.current = f[1] || undefined;
                else if (f[0] === "maintenance") p.maintenance = f[1] === "on";
                break;
            case "R":
                p.releases.push({ sha: f[0], builtAt: Number(f[1]), built: f[2] === "1", released: f[3] === "1" });
                break;
            case "U":
                p.units[f[0]] = { active: f[1] || "unknown", enabled: f[2] || "unknown" };
                break;
            case "C":
                p.containers[f[0]] = f[1] === "missing" ? { status: "missing", health: "", imageId: "", tags: [] } : { status: f[1], health: f[2] ?? "", imageId: f[3] ?? "", tags: (f[4] ?? "").split(" ").filter(Boolean) };
                break;
            case "X":
                p.certs[f[0]] = { notAfter: f[1] || undefined, names: (f[2] ?? "").split(",").map((s) => s.replace(/^DNS:/, "")).filter(Boolean) };
                break;
            case "F":
                p.files[f[0]] = f[1] === "missing" ? { exists: false } : { exists: true, modeOwner: f[1], sha256: f[2] };
                break;
            case "L": {
                p.links[f[0]] = f[1] ?? "";
                const slot = /\/slots\/(blue|green)$/.exec(f[0]);
                if (slot && f[1]) p.slots[slot[1]] = f[1];
                break;
            }
            case "N":
                if (f[0] === "upstream") p.upstream = { server: f[1], target: f[2] ?? "" };
                else if (f[0] === "test") p.nginxTest = { ok: f[1] === "ok", output: f[2] ?? "" };
                break;
            case "W":
                p.ufw.push(f.join("\t"));
                break;
            case "H": {
                const [k, ...v] = f.join("\t").split(" ");
                if (k) p.sshd[k.toLowerCase()] = v.join(" ");
                break;
            }
        }
    }
    p.releases.sort((a, b) => b.builtAt - a.builtAt);
    return p;
}

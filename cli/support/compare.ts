/**
 * Drift: the differences between what the program declares for a host
 * (cli/support/declared.ts) and what the host runs (cli/support/probe.ts),
 * held only against what the host's roles declare. Used by verify and repair.
 */
import { BerthConfig } from "../../lib/config";
import { has } from "../../lib/topology";
import { Declared, DeclaredFile } from "./declared";
import { Probe } from "./probe";
import { roleDaemons } from "./stack";

/** Minimum certificate validity verify accepts (days). */
export const CERT_MIN_DAYS = 21;

export interface Difference {
    kind: "file" | "unit" | "container" | "nginx" | "certificate" | "firewall" | "ssh" | "serving";
    subject: string;
    message: string;
}

export const SYSTEMD_DIR = "/etc/systemd/system/";

/**
 * Units the declared unit files ask for, and the daemons the host's roles
 * run (components/host/host.ts: nginx on a web host, Docker on the data
 * host): [unit name, must be enabled].
 */
export function declaredUnits(cfg: BerthConfig, files: DeclaredFile[], color: string | undefined): [string, boolean][] {
    const out: [string, boolean][] = [];
    for (const f of files) {
        if (!f.path.startsWith(SYSTEMD_DIR) || f.path.slice(SYSTEMD_DIR.length).includes("/")) continue;
        const name = f.path.slice(SYSTEMD_DIR.length);
        const m = /^(.+)@\.(service|socket)$/.exec(name);
        const install = f.variants.some((v) => v.content?.includes("[Install]"));
        if (!m) {
            // Units meant to run on their own ([Install]); a oneshot or a unit
            // without [Install] is started by something else (a timer, a switch).
            const oneshot = f.variants.some((v) => /^Type=oneshot$/m.test(v.content ?? ""));
            if (/\.(service|socket|timer)$/.test(name) && install && !oneshot) out.push([name, true]);
            continue;
        }
        // Templates: the serving instance of the web unit and of any socket.
        if (!color) continue;
        if (m[2] === "socket" || `${m[1]}@` === cfg.names.webUnit) out.push([`${m[1]}@${color}.${m[2]}`, install]);
    }
    for (const daemon of roleDaemons(cfg.host)) out.push([daemon, true]);
    return out;
}

/** ufw settings the firewall script declares. */
export function declaredFirewall(d: Declared): { defaults: [string, string][]; allows: string[] } {
    const defaults: [string, string][] = [];
    const allows: string[] = [];
    for (const c of d.commands) {
        for (const line of c.script.split("\n")) {
            const dm = /^ufw default (\w+) (\w+)/.exec(line);
            if (dm) defaults.push([dm[1], dm[2]]);
            // `ufw allow from <address> to any port <port> proto <proto>` (the mesh's peers): `<port>/<proto> from <address>`.
            const fm = /^ufw allow from (\S+) to any port (\d+) proto (\w+)/.exec(line);
            const am = /^ufw allow (\S+)/.exec(line);
            if (fm) allows.push(`${fm[2]}/${fm[3]} from ${fm[1]}`);
            else if (am) allows.push(am[1]);
        }
    }
    return { defaults, allows };
}

/** sshd settings of the declared drop-ins (`Key value` lines), lower-cased as `sshd -T` prints them. */
export function declaredSshd(files: DeclaredFile[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of files) {
        if (!f.path.startsWith("/etc/ssh/sshd_config.d/")) continue;
        for (const line of f.variants[0]?.content?.split("\n") ?? []) {
            const m = /^([A-Za-z]+)\s+(\S+)$/.exec(line.trim());
            if (m) out[m[1].toLowerCase()] = m[2].toLowerCase();
        }
    }
    return out;
}

const SSHD_ALIASES: Record<string, string> = { "prohibit-password": "without-password" };

/** An ALLOW IN line of `ufw status verbose` for a declared rule (`22/tcp`, or `51820/udp from 203.0.113.32`). */
function ufwAllows(lines: readonly string[], rule: string): boolean {
    const from = /^(\S+) from (\S+)$/.exec(rule);
    return lines.some((l) => {
        const w = l.trim().split(/\s+/);
        return w[1] === "ALLOW" && w[2] === "IN" && (from ? w[0] === from[1] && w[3] === from[2] : w[0] === rule);
    });
}

/**
 * The differences between what the program declares for a host and what the
 * host runs, held only against what the host's roles declare: the serving
 * state on app hosts (slot and upstream on web hosts; a worker host has a
 * current release only), nginx and the certificates on web hosts, the
 * containers and Docker on the data host, files, units, firewall and sshd as
 * the host's own commands write them.
 */
export function compare(cfg: BerthConfig, d: Declared, p: Probe, now = Date.now()): Difference[] {
    const diffs: Difference[] = [];
    const add: AddDifference = (kind, subject, message) => diffs.push({ kind, subject, message });
    const web = has(cfg.host, "web");
    compareServing(cfg, p, web, add);
    compareFiles(cfg, d, p, add);
    compareUnitsAndContainers(cfg, d, p, add);
    // nginx.
    if (web && p.nginxTest && !p.nginxTest.ok) add("nginx", "nginx -t", p.nginxTest.output.trim() || "fails");
    compareCertificates(web ? cfg.hostnames : [], p, now, add);
    compareFirewallAndSshd(d, p, add);
    return diffs;
}

/** Records one difference (compare's helpers share its list through it). */
type AddDifference = (kind: Difference["kind"], subject: string, message: string) => void;

/** Serving (app hosts): state, current, slot, nginx's upstream. */
function compareServing(cfg: BerthConfig, p: Probe, web: boolean, add: AddDifference): void {
    if (!web) {
        if (has(cfg.host, "worker")) {
            const rel = p.revision && `${cfg.names.root}/releases/${p.revision}`;
            if (!rel) add("serving", "switch", "no release is current (state/revision missing)");
            else {
                if (p.current !== rel) add("serving", "current", `points at ${p.current ?? "nothing"}, the switch made ${rel} current`);
                if (/^[0-9a-f]{40}$/.test(cfg.release.revision) && cfg.release.revision !== p.revision) add("serving", "revision", `running ${p.revision}, berth:revision is ${cfg.release.revision}`);
            }
        }
    } else if (!p.color || !p.revision) add("serving", "switch", "no release is serving (state/color or state/revision missing)");
    else {
        const rel = `${cfg.names.root}/releases/${p.revision}`;
        if (p.current !== rel) add("serving", "current", `points at ${p.current ?? "nothing"}, the switch serves ${rel}`);
        if (p.slots[p.color] !== rel) add("serving", `slots/${p.color}`, `points at ${p.slots[p.color] ?? "nothing"}, the switch serves ${rel}`);
        if (/^[0-9a-f]{40}$/.test(cfg.release.revision) && cfg.release.revision !== p.revision) {
            add("serving", "revision", `serving ${p.revision}, berth:revision is ${cfg.release.revision}`);
        }
        const up = p.upstream;
        if (!up) add("nginx", cfg.names.nginxUpstream, "missing");
        else if (up.server.startsWith("unix:")) {
            if (!up.target.endsWith(`/${p.color}.sock`)) add("nginx", "upstream", `${up.server} leads to ${up.target || "nothing"}, not the serving slot ${p.color}`);
        } else {
            const port = p.color === "blue" ? cfg.ports.webBlue : cfg.ports.webGreen;
            if (up.server.replace(/^127\.0\.0\.1:/, "") !== String(port)) add("nginx", "upstream", `${up.server} is not the serving slot ${p.color} (127.0.0.1:${port})`);
        }
    }
}

/** Files: presence, mode/owner, content (or, without the secrets, the served env file's stamp), sites-enabled links. */
function compareFiles(cfg: BerthConfig, d: Declared, p: Probe, add: AddDifference): void {
    for (const f of d.files) {
        const h = p.files[f.path];
        if (!h || !h.exists) {
            add("file", f.path, "missing");
            continue;
        }
        if (!f.variants.some((v) => v.modeOwner === h.modeOwner)) add("file", f.path, `mode/owner ${h.modeOwner}, declared ${f.variants[0].modeOwner}`);
        if (f.secret && !d.secretsKnown) {
            // Without the generated passwords: the env file must be the one the last switch served.
            const served = /env:([0-9a-f]{16})/.exec(p.stamp ?? "")?.[1];
            if (f.path === cfg.names.envFile && served && !h.sha256?.startsWith(served)) add("file", f.path, "content differs from the one the serving release started with");
            continue;
        }
        if (!f.variants.some((v) => v.sha256 === h.sha256)) {
            add("file", f.path, `content differs from what berth writes (sha256 ${h.sha256?.slice(0, 12)}, declared ${f.variants.map((v) => v.sha256.slice(0, 12)).join(" or ")})`);
        }
        if (f.path.startsWith("/etc/nginx/sites-available/")) {
            const link = f.path.replace("/sites-available/", "/sites-enabled/");
            if (p.links[link] !== f.path) add("nginx", link, `links to ${p.links[link] || "nothing"}, declared ${f.path}`);
        }
    }
}

/** Units (active, enabled) and containers (running, healthy, image). */
function compareUnitsAndContainers(cfg: BerthConfig, d: Declared, p: Probe, add: AddDifference): void {
    for (const [unit, enabled] of declaredUnits(cfg, d.files, p.color)) {
        const u = p.units[unit];
        if (!u || u.active !== "active") add("unit", unit, `${u?.active ?? "unknown"}, declared active`);
        if (enabled && u && !["enabled", "enabled-runtime", "static", "indirect", "alias"].includes(u.enabled)) add("unit", unit, `${u.enabled}, declared enabled`);
    }
    for (const c of d.containers) {
        const h = p.containers[c.name];
        if (!h || h.status === "missing") {
            add("container", c.name, "missing");
            continue;
        }
        if (h.status !== "running") add("container", c.name, `${h.status}, declared running`);
        if (h.health && h.health !== "healthy") add("container", c.name, `health ${h.health}`);
        if (h.imageId !== c.image && !h.tags.includes(c.image) && !h.tags.includes(`docker.io/library/${c.image}`)) add("container", c.name, `image ${h.tags.join(" ") || h.imageId}, declared ${c.image}`);
    }
}

/** Certificates (web hosts): the one nginx serves for each name. */
function compareCertificates(hostnames: readonly string[], p: Probe, now: number, add: AddDifference): void {
    for (const hname of hostnames) {
        const c = p.certs[hname];
        if (!c?.notAfter) add("certificate", hname, "nginx serves no certificate for it");
        else {
            if (!c.names.includes(hname)) add("certificate", hname, `not among the served certificate's names (${c.names.join(", ")})`);
            const left = Math.floor((Date.parse(c.notAfter) - now) / 86_400_000);
            if (left <= CERT_MIN_DAYS) add("certificate", hname, `expires ${c.notAfter} (${left} days; needs more than ${CERT_MIN_DAYS})`);
        }
    }
}

/** Firewall (ufw status against the declared rules) and the SSH daemon's effective settings (sshd -T) against the declared drop-in. */
function compareFirewallAndSshd(d: Declared, p: Probe, add: AddDifference): void {
    if (p.ufw.length > 0 || d.commands.length > 0) {
        const fw = declaredFirewall(d);
        if (!p.ufw.some((l) => /^Status: active/.test(l))) add("firewall", "ufw", `not active (${p.ufw[0] ?? "no output"})`);
        const defaults = p.ufw.find((l) => l.startsWith("Default:")) ?? "";
        for (const [policy, dir] of fw.defaults) if (!defaults.includes(`${policy} (${dir})`)) add("firewall", `default ${dir}`, `declared ${policy}; ufw says ${defaults.replace(/^Default:\s*/, "") || "nothing"}`);
        for (const rule of fw.allows) if (!ufwAllows(p.ufw, rule)) add("firewall", rule, "declared allowed, no ALLOW IN rule");
    }
    for (const [k, v] of Object.entries(declaredSshd(d.files))) {
        const actual = p.sshd[k]?.toLowerCase();
        if (actual !== v && actual !== SSHD_ALIASES[v]) add("ssh", k, `sshd runs with ${actual ?? "nothing"}, declared ${v}`);
    }
}

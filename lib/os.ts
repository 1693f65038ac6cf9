/**
 * The host releases berth supports and what differs between them, in one
 * table. Scripts are generated without knowing the host, so the choice per
 * release happens on the host, in bash: `osDetectLines` reads
 * /etc/os-release and stops with one line on an unsupported OS, and
 * `osPackagesCase` sets a bash array to the release's package names with a
 * `case` generated from this table. Every step that installs packages uses
 * them (`osAptInstall`: both, then apt; the host packages, Docker and mesh
 * steps read os-release before taking the host lock), so a package name
 * lives here or in its component, never in a hand-written `case`.
 *
 * What differs (checked against each release's archive by
 * test/unit/os.test.ts and the lists in test/fixtures/packages/):
 * - Debian 13 moved the Docker CLI out of `docker.io` into `docker-cli`,
 *   which `docker.io` only recommends (berth installs without recommends).
 * - Debian 13 and Ubuntu 24.04 ship pkgconf's pkg-config: their `pkg-config`
 *   is a transitional package.
 * - The Ruby the `ruby` package brings (what the Rails preset and
 *   `berth:bundler: system` build with): 3.1, 3.3, 3.2.
 */
import { aptInstallWanted, Lines, quote } from "./shell";

export interface HostRelease {
    /** `ID` in /etc/os-release. */
    readonly id: "debian" | "ubuntu";
    /** `VERSION_ID` in /etc/os-release. */
    readonly versionId: string;
    /** How berth names it to people. */
    readonly name: string;
    /** Major.minor of the Ruby its `ruby` package (ruby-defaults) depends on. */
    readonly ruby: string;
}

/** The releases berth supports, oldest first. */
export const HOST_RELEASES = [
    { id: "debian", versionId: "12", name: "Debian 12", ruby: "3.1" },
    { id: "debian", versionId: "13", name: "Debian 13", ruby: "3.3" },
    { id: "ubuntu", versionId: "24.04", name: "Ubuntu 24.04", ruby: "3.2" },
] as const satisfies readonly HostRelease[];

/** `<ID>:<VERSION_ID>`, the word the generated `case` matches. */
export type ReleaseKey = KeyOf<(typeof HOST_RELEASES)[number]>;
type KeyOf<R> = R extends { id: infer I extends string; versionId: infer V extends string } ? `${I}:${V}` : never;

export function releaseKey(r: HostRelease): ReleaseKey {
    return `${r.id}:${r.versionId}` as ReleaseKey;
}

/** The release of `key` (throws on one berth does not support). */
export function hostRelease(key: string): HostRelease {
    const r = HOST_RELEASES.find((x) => releaseKey(x) === key);
    if (!r) throw new Error(`berth does not support host release ${JSON.stringify(key)}; it supports ${supportedNames()}`);
    return r;
}

/** `Debian 12, Debian 13, Ubuntu 24.04` */
export function supportedNames(): string {
    return HOST_RELEASES.map((r) => r.name).join(", ");
}

/**
 * Logical packages whose real names differ between releases: logical name
 * -> the packages apt installs for it on each release. A name not listed
 * here is the package of that name on every release (`ufw`, `nginx`, ...).
 */
export const RELEASE_PACKAGES: Readonly<Record<string, Readonly<Record<ReleaseKey, readonly string[]>>>> = {
    /** The Docker engine, daemon and CLI: Debian 13 split the CLI into docker-cli, which docker.io only recommends. */
    "docker-engine": { "debian:12": ["docker.io"], "debian:13": ["docker.io", "docker-cli"], "ubuntu:24.04": ["docker.io"] },
    /** pkg-config: the real package on Debian 12; pkgconf (whose pkg-config is transitional) on Debian 13 and Ubuntu 24.04. */
    "pkg-config": { "debian:12": ["pkg-config"], "debian:13": ["pkgconf"], "ubuntu:24.04": ["pkgconf"] },
    /** What jsbundling-rails & co. build with: node, npm and Debian's yarn (`yarnpkg`; Yarn 1.22 on Debian 12, Yarn 4 on Debian 13). */
    "js-bundling": { "debian:12": ["nodejs", "npm", "yarnpkg"], "debian:13": ["nodejs", "npm", "yarnpkg"], "ubuntu:24.04": ["nodejs", "npm", "yarnpkg"] },
};

/** The real package names of `logicals` on `release`, in order, each once. */
export function packageNames(logicals: readonly string[], release: HostRelease | ReleaseKey): string[] {
    const key = typeof release === "string" ? releaseKey(hostRelease(release)) : releaseKey(release);
    return [...new Set(logicals.flatMap((l) => RELEASE_PACKAGES[l]?.[key] ?? [l]))];
}

/** The os-release file the generated lines read; `BERTH_OS_RELEASE` overrides it (the unit tests point it at fixtures). */
export const OS_RELEASE = "/etc/os-release";

/**
 * Lines that read /etc/os-release into `$host_os` (`<ID>:<VERSION_ID>`) and
 * stop with one line (exit 1) on a release berth does not support.
 * The file is sourced in subshells, so its variables stay out of the script.
 */
export function osDetectLines(): string[] {
    const keys = HOST_RELEASES.map(releaseKey);
    return [
        `os_release=\${BERTH_OS_RELEASE:-${OS_RELEASE}}`,
        `if [ ! -r "$os_release" ]; then echo "berth: cannot read $os_release: berth supports ${supportedNames()}" >&2; exit 1; fi`,
        "# shellcheck source=/dev/null",
        `host_os=$(. "$os_release" && printf '%s:%s' "\${ID:-}" "\${VERSION_ID:-}")`,
        'case "$host_os" in',
        `  ${keys.join("|")}) ;;`,
        "  *)",
        "    # shellcheck source=/dev/null",
        `    host_os_name=$(. "$os_release" && printf '%s' "\${PRETTY_NAME:-\${NAME:-unknown}}")`,
        `    printf 'berth: unsupported host OS "%s" (%s); berth supports %s\\n' "$host_os_name" "\${host_os/:/ }" ${quote(supportedNames())} >&2`,
        "    exit 1",
        "    ;;",
        "esac",
    ];
}

/**
 * A `case "$host_os"` that sets `variable` to `valueOf(release)` (a word, or
 * a bash array when it returns a list), releases with equal values in one
 * branch. Needs `osDetectLines` first.
 */
export function osCase(variable: string, valueOf: (r: HostRelease) => string | readonly string[]): string[] {
    if (!/^[a-z_][a-z0-9_]*$/.test(variable)) throw new Error(`invalid shell variable name ${JSON.stringify(variable)}`);
    const branches = new Map<string, ReleaseKey[]>();
    for (const r of HOST_RELEASES) {
        const v = valueOf(r);
        const text = typeof v === "string" ? quote(v) : `(${v.map(quote).join(" ")})`;
        branches.set(text, [...(branches.get(text) ?? []), releaseKey(r)]);
    }
    return ['case "$host_os" in', ...[...branches].map(([text, keys]) => `  ${keys.join("|")}) ${variable}=${text} ;;`), "esac"];
}

/** A `case` that sets the bash array `variable` to the real package names of `logicals` on the host's release. */
export function osPackagesCase(variable: string, logicals: readonly string[]): string[] {
    return osCase(variable, (r) => packageNames(logicals, r));
}

/**
 * Installs the packages of `logicals` the host's release names and that are
 * not installed yet (lib/shell.ts `aptInstallWanted`): reads os-release,
 * refuses an unsupported release, sets `wanted`, runs apt only when
 * something is missing. Options as `aptInstallWanted`'s.
 */
export function osAptInstall(logicals: readonly string[], opts: { lock?: Lines; stderr?: boolean } = {}): Lines {
    return [osDetectLines(), osPackagesCase("wanted", logicals), aptInstallWanted(opts)];
}

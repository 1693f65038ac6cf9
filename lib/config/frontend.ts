/**
 * `berth:frontend` and `berth:soakSeconds` (issue 19 items 1 and 2): the
 * schema of the frontend object and its cross-key checks. The keys are
 * declared in lib/config/keys.ts; lib/config.ts builds `BerthConfig.frontend`
 * with `buildFrontend`.
 *
 * A frontend is a static site built on the host by any command that writes
 * a directory (`hugo --minify -d "$OUT"`), from the app's repository and
 * revision unless it names its own, published by nginx either at the
 * primary domain's root (`mount: root`, the app under `appPath`, default
 * `/api`, prefix stripped) or on a host name of its own (`mount: <name>`,
 * one of berth:extraHostnames, so the certificate covers it; the app keeps
 * the other names).
 */
import { z } from "zod";
import { APT_PACKAGE, isHostname, isImmutableRevision } from "./checks";
import { commandLine, show, str } from "./schemas";

const relativeDir = () =>
    str((v) => /^[A-Za-z0-9._][A-Za-z0-9._\/-]*$/.test(v) && !v.split("/").includes("..") && !v.startsWith("/"), "a directory relative to the checkout (no .., not absolute)");

export const FrontendSchema = z
    .object(
        {
            build: commandLine(),
            output: relativeDir().optional(),
            repository: str((v) => v.trim() !== "" && !/\s/.test(v), "a git repository URL").optional(),
            revision: str((v) => /^[A-Za-z0-9._\/-]{1,200}$/.test(v), "a branch, tag or commit").optional(),
            mount: str((v) => v === "root" || isHostname(v), 'root or a host name').default("root"),
            appPath: str((v) => /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(v), "a URL path like /api (no trailing /)").optional(),
            packages: z.array(str((v) => APT_PACKAGE.test(v), "a valid Debian package name"), { error: "must be a list of package names" }).default([]),
            keepReleases: z.number({ error: "must be an integer" }).int({ error: "must be an integer" }).min(1, { error: "must be 1 or more" }).max(50, { error: "must be at most 50" }).default(3),
        },
        { error: "must be an object {build, output, repository, revision, mount, appPath, packages, keepReleases}" },
    )
    .strict();

export type RawFrontend = z.infer<typeof FrontendSchema>;

/** `berth:frontend` as the components read it. */
export interface FrontendConfig {
    /** One line of shell run in the checkout as the app user; writes the site into "$OUT" (or into `output`). */
    readonly build: string;
    /** Where the build writes, relative to the checkout, when it does not honour $OUT. */
    readonly output?: string;
    /** The frontend's repository; undefined = the app's (berth:repository), fetched with the same deploy key. */
    readonly repository?: string;
    /** The frontend's branch, tag or commit; undefined = the app's resolved revision. */
    readonly revision?: string;
    /** `root`: the frontend at the primary domain's root and the app under `appPath`; a host name: the frontend there alone. */
    readonly mount: "root" | { readonly hostname: string };
    /** mount root: the path prefix the app answers under (stripped before the app sees it); undefined otherwise. */
    readonly appPath?: string;
    /** Debian packages the build needs (hugo): installed with berth:packages by the host's package step. */
    readonly packages: readonly string[];
    /** Frontend releases kept for rollback. */
    readonly keepReleases: number;
}

/** Validated frontend, or undefined; problems (each naming its key) pushed onto `errors`. */
export function buildFrontend(
    raw: { frontend?: RawFrontend; soakSeconds: number; extraHostnames: readonly string[]; domain: string; hosts?: readonly { roles: readonly string[] }[]; production: boolean },
    errors: string[],
): FrontendConfig | undefined {
    const f = raw.frontend;
    if (!f) return undefined;
    const key = (k: string) => `berth:frontend.${k}`;
    const webs = (raw.hosts ?? []).filter((h) => h.roles.includes("web")).length;
    if (webs > 1) errors.push(`berth:frontend: one web host only for now (berth:hosts has ${webs}); the soak and the frontend switch run on the one web host`);
    if (f.repository !== undefined && f.revision === undefined) errors.push(`${key("revision")}: required with frontend.repository (the app's revision names a commit of the app's repository)`);
    if (raw.production && f.revision !== undefined && !isImmutableRevision(f.revision)) {
        errors.push(`${key("revision")}: ${show(f.revision)} can move; production needs a full commit sha or a tag`);
    }
    if (f.mount !== "root") {
        if (f.mount.toLowerCase() === raw.domain.toLowerCase()) errors.push(`${key("mount")}: ${show(f.mount)} is berth:domain, where the app is served; use root (the app under appPath) or another name`);
        else if (!raw.extraHostnames.some((h) => h.toLowerCase() === f.mount.toLowerCase())) {
            errors.push(`${key("mount")}: ${show(f.mount)} is not in berth:extraHostnames; list it there so the certificate (and DNS) covers it`);
        }
        if (f.appPath !== undefined) errors.push(`${key("appPath")}: only with mount root (on its own host name the frontend leaves every path of berth:domain to the app)`);
    }
    return {
        build: f.build,
        output: f.output,
        repository: f.repository,
        revision: f.revision,
        mount: f.mount === "root" ? "root" : { hostname: f.mount },
        appPath: f.mount === "root" ? (f.appPath ?? "/api") : undefined,
        packages: f.packages,
        keepReleases: f.keepReleases,
    };
}

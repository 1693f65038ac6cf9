/**
 * Frontend: `berth:frontend`, a static site built on the web host and
 * published atomically (issue 19 item 1):
 *
 *   <root>/frontend/releases/<sha>/site/     one built site (nginx's root once published)
 *   <root>/frontend/releases/<sha>/.berth-built   the build finished
 *   <root>/frontend/current -> releases/<sha>/site   swapped with `ln -sfn` + `mv -T`
 *   <root>/frontend/repo                     bare mirror of its own repository (else the app's <root>/repo)
 *   <root>/frontend/.berth-frontend          identity line the delete checks
 *
 * Two commands with different triggers, so `pulumi preview` shows what a
 * change does:
 * - `build` (triggers: the frontend's sha, build command, output): extracts
 *   the revision (its Debian packages are the host's, berth:packages), runs the
 *   build as the app user with `OUT` set (systemd-run, like the app's
 *   build), keeps what it wrote as releases/<sha>/site. It runs BEFORE the
 *   backend switch (the environment puts it in the switch's dependsOn), so a
 *   frontend that does not build stops the release before anything moves.
 * - `publish` (its script names the frontend's sha: a new one is an update,
 *   never a replacement, so no delete runs): moves `current`, after the
 *   backend's soak (components/app/soak.ts) when the backend changes in the
 *   same `up`. A backend-only change replaces neither command; a
 *   frontend-only change replaces both and not the switch or the soak.
 *
 * nginx serves `current` (components/web/nginxSite.ts, frontend locations
 * below): HTML `no-cache`, fingerprinted files (a hash of 8+ hex characters
 * in the name) a year `immutable`, the app under `appPath` (mount root) or
 * on the other names (own host name).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { frontendNames, HOST_LOCK, runAsApp } from "../../lib/names";
import { cmd, hostLock, Lines, pinnedSshWords, quote, script, writeFile } from "../../lib/shell";

/** What the builders read of the configuration: the stack, this web host, the frontend, the app's repository and deploy key. */
export const FRONTEND_SCOPE = ["project", "stack", "production", "protect", "names", "host", "frontend", "release"] as const;
export type FrontendScope = Pick<BerthConfig, (typeof FRONTEND_SCOPE)[number]>;
type Configured = FrontendScope & { frontend: NonNullable<FrontendScope["frontend"]> };

/** The scope's settings (the one web host from lib/plan.ts), then the resources. */
export interface FrontendArgs extends FrontendScope {
    /** The web host's SSH connection. */
    connection: pulumi.Input<Connection>;
    /** Commit of the frontend to serve (berth:frontend.revision resolved, else the app's). */
    sha: string;
    /** Before the build: packages, app user, env file, deploy key, and the app's checkout when the frontend shares its mirror. */
    buildAfter: pulumi.Input<pulumi.Resource>[];
}

export class Frontend extends pulumi.ComponentResource {
    /** Builds releases/<sha> (no traffic change). */
    public readonly build: command.remote.Command;
    /** Points `current` at the build; declared by `publishAfter` (after the backend's soak). */
    public publish!: command.remote.Command;
    public readonly sha: string;
    private readonly frontendArgs: FrontendArgs;
    private readonly frontendName: string;

    constructor(name: string, args: FrontendArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:web:Frontend", name, {}, opts);
        const cfg = configured(args);
        this.sha = args.sha;
        this.frontendArgs = args;
        this.frontendName = name;
        this.build = remoteScript(
            `${name}-build`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: frontendBuildScript(cfg, args.sha),
                triggers: [frontendTrigger(cfg, args.sha)],
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: args.buildAfter },
        );
        this.registerOutputs({ sha: this.sha, build: this.build.id });
    }

    /** Declares the publish, after `after` (the HTTPS site and the backend's soak). Called once, by the environment. */
    public publishAfter(after: pulumi.Input<pulumi.Resource>[]): command.remote.Command {
        const cfg = configured(this.frontendArgs);
        this.publish = remoteScript(
            `${this.frontendName}-publish`,
            {
                connection: this.frontendArgs.connection,
                sudo: cfg.host.sudo,
                create: frontendPublishScript(cfg, this.sha),
                // No triggers: a new sha is an update (the script runs again), never a
                // replacement, whose delete of the old resource would remove the frontend.
                delete: frontendDeleteScript(cfg),
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: [this.build, ...after] },
        );
        return this.publish;
    }
}

// ---------------------------------------------------------------------------
// Pure helpers and script builders
// ---------------------------------------------------------------------------

function configured(cfg: FrontendScope): Configured {
    if (!cfg.frontend) throw new Error("berth: the Frontend component needs berth:frontend");
    return cfg as Configured;
}

/** What a build depends on: a change of any rebuilds (a new release directory when the sha changes). */
export function frontendTrigger(cfg: Configured, sha: string) {
    const f = cfg.frontend;
    return { kind: "berth-frontend", sha, build: f.build, output: f.output ?? null };
}

/** The path prefix the app answers under publicly: `appPath` with the frontend at the root, else nothing. */
export function appPrefix(cfg: Pick<BerthConfig, "frontend">): string {
    return cfg.frontend?.mount === "root" ? (cfg.frontend.appPath ?? "") : "";
}

/** The public URL of the app's health path on `domain` (the soak's probe; the basic-auth exemption). */
export function publicHealthPath(cfg: Pick<BerthConfig, "frontend" | "release">): string {
    return `${appPrefix(cfg)}${cfg.release.healthPath}`;
}

/** The identity line of the frontend directory (the delete removes only a directory carrying it). */
export function frontendIdentity(cfg: Pick<BerthConfig, "project" | "stack" | "names">): string {
    return `berth frontend of ${cfg.names.id} (project ${cfg.project}, stack ${cfg.stack})`;
}

/** Fetches `sha` into the mirror (the frontend's own, or the app's), then extracts it into "$src". */
function sourceLines(cfg: Configured, sha: string): Lines {
    const fn = frontendNames(cfg.names);
    const own = cfg.frontend.repository !== undefined;
    const repo = cfg.frontend.repository ?? cfg.release.repository;
    const mirror = own ? fn.mirror : `${cfg.names.root}/repo`;
    const etc = cfg.names.etc;
    return [
        cfg.release.deployKey !== undefined && `export GIT_SSH_COMMAND=${quote(pinnedSshWords(`${etc}/deploy_key`, `${etc}/git_known_hosts`).join(" "))}`,
        "export GIT_TERMINAL_PROMPT=0",
        `if [ ! -d ${quote(mirror)} ]; then`,
        `  ${cmd("git", "clone", "--quiet", "--mirror", "--", repo, mirror)}`,
        "fi",
        `if ! ${cmd("git", "--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`)} 2>/dev/null; then`,
        `  ${cmd("git", "--git-dir", mirror, "fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")}`,
        "fi",
        `${cmd("git", "--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`)} || { echo ${quote(`berth: frontend commit ${sha} is not in ${repo}`)} >&2; exit 1; }`,
        `${cmd("git", "--git-dir", mirror, "archive", "--format=tar", sha)} | tar -x -C "$src"`,
    ];
}

/** Build: releases/<sha>/site from the revision, as the app user (idempotent: a built release is reused). */
export function frontendBuildScript(cfg: Configured, sha: string): string {
    const fn = frontendNames(cfg.names);
    const f = cfg.frontend;
    const rel = `${fn.releases}/${sha}`;
    const u = cfg.names.user;
    return script(
        `if [ -f ${quote(`${rel}/.berth-built`)} ]; then echo ${quote(`berth: frontend ${sha} is already built; reusing it`)}; exit 0; fi`,
        cmd("install", "-d", "-m", "0755", fn.dir, fn.releases),
        "changed=0",
        writeFile(fn.identity, `${managedBy(cfg)}\n${frontendIdentity(cfg)}\n`, { mode: "0644" }),
        `if [ "$changed" = 1 ]; then echo ${quote(`berth: wrote ${fn.identity}`)}; fi`,
        `src=${quote(`${fn.releases}/.${sha}.src`)}`,
        `out=${quote(`${fn.releases}/.${sha}.out`)}`,
        'rm -rf --one-file-system "$src" "$out"',
        'install -d -m 0755 "$src" "$out"',
        sourceLines(cfg, sha),
        `chown -R ${quote(`${u}:${u}`)} "$src" "$out"`,
        `echo ${quote(`berth: building frontend ${sha}`)}`,
        // The build's own variables ($OUT) expand in the app user's shell, not here.
        "# shellcheck disable=SC2016",
        runAsApp(cfg, fn.buildUnit, `${fn.releases}/.${sha}.src`, f.build, ["-p", `Environment=OUT=${fn.releases}/.${sha}.out`, "-p", `Environment=REVISION=${sha}`]),
        f.output !== undefined && [
            `if [ ! -d "$src"/${quote(f.output)} ]; then echo ${quote(`berth: the frontend build did not write ${f.output} (berth:frontend.output)`)} >&2; exit 1; fi`,
            `rm -rf "$out" && mv -T "$src"/${quote(f.output)} "$out"`,
        ],
        `if [ ! -f "$out/index.html" ]; then echo ${quote(`berth: the frontend build of ${sha} wrote no index.html ${f.output !== undefined ? `in ${f.output} (berth:frontend.output)` : "into the directory OUT names (berth:frontend.build)"}; nothing published`)} >&2; exit 1; fi`,
        'chown -R root:root "$out" && chmod -R u=rwX,go=rX "$out"',
        'rm -rf --one-file-system "$src"',
        cmd("rm", "-rf", "--one-file-system", rel),
        cmd("install", "-d", "-m", "0755", rel),
        `mv -T "$out" ${quote(`${rel}/site`)}`,
        cmd("touch", `${rel}/.berth-built`),
        `echo ${quote(`berth: frontend ${sha} built in ${rel}/site`)}`,
    );
}

/** Publish: one atomic move of `current`, the time recorded, old releases pruned (the served one always kept). */
export function frontendPublishScript(cfg: Configured, sha: string): string {
    const fn = frontendNames(cfg.names);
    const rel = `${fn.releases}/${sha}`;
    return script(
        hostLock(HOST_LOCK, `frontend publish of ${cfg.names.id}`),
        `if [ ! -f ${quote(`${rel}/.berth-built`)} ]; then echo ${quote(`berth: frontend ${sha} is not built`)} >&2; exit 1; fi`,
        `if [ "$(readlink ${quote(fn.current)} 2>/dev/null)" = ${quote(`${rel}/site`)} ]; then`,
        `  echo ${quote(`berth: frontend ${sha} already published`)}`,
        "else",
        `  ln -sfn ${quote(`${rel}/site`)} ${quote(`${fn.current}.berth-new`)}`,
        `  mv -T ${quote(`${fn.current}.berth-new`)} ${quote(fn.current)}`,
        `  install -d -m 0755 ${quote(`${cfg.names.root}/state`)}`,
        `  echo "$(date +%s.%N) ${sha}" > ${quote(fn.published)}`,
        `  echo ${quote(`berth: frontend ${sha} published`)}`,
        "fi",
        `find ${quote(fn.releases)} -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\\n' | sort -rn | tail -n +${cfg.frontend.keepReleases + 1} | cut -d' ' -f2- | while read -r old; do`,
        `  if [ "$old" != ${quote(rel)} ]; then rm -rf --one-file-system "$old"; echo "berth: pruned frontend $old"; fi`,
        "done",
    );
}

/** Delete (non-production): the frontend directory, only when it carries this stack's identity line. */
export function frontendDeleteScript(cfg: FrontendScope): string {
    const fn = frontendNames(cfg.names);
    return script(
        `if [ -d ${quote(fn.dir)} ] && ! grep -qxF ${quote(frontendIdentity(cfg))} ${quote(fn.identity)} 2>/dev/null; then`,
        `  echo ${quote(`berth: ${fn.dir} is not this stack's frontend (no identity line); leaving it`)}`,
        "  exit 0",
        "fi",
        cmd("rm", "-rf", "--one-file-system", fn.dir, fn.published),
    );
}

// ---------------------------------------------------------------------------
// nginx (components/web/nginxSite.ts calls these when berth:frontend is set)
// ---------------------------------------------------------------------------

/** Extensions of fingerprinted static files. */
const STATIC_EXT = "css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|woff2?|ttf|otf|eot|json|txt|xml|wasm";

/**
 * The locations serving the published frontend: a file whose name carries a
 * hash (8+ hex characters between dots or after a dash: `main.3f2a9c1b.css`,
 * `app-3f2a9c1b.js`) is cached a year `immutable`; everything else (HTML
 * first) is `no-cache` (revalidated every time, answered 304 when unchanged).
 * add_header in a location replaces the server's, so the security headers
 * are repeated.
 */
export function frontendLocations(cfg: Pick<BerthConfig, "names">, addHeaders: readonly string[]): string[] {
    const root = frontendNames(cfg.names).current;
    const ind = (l: readonly string[]) => l.map((x) => `        ${x}`);
    return [
        "    # berth:frontend: fingerprinted files are immutable for a year; HTML and",
        "    # everything else is revalidated (no-cache).",
        `    location ~* "[.-][0-9a-f]{8,}\\.(${STATIC_EXT})$" {`,
        `        root ${root};`,
        "        gzip on;",
        '        add_header Cache-Control "public, max-age=31536000, immutable";',
        ...ind(addHeaders),
        "        try_files $uri =404;",
        "    }",
        "",
        "    location / {",
        `        root ${root};`,
        "        gzip on;",
        '        add_header Cache-Control "no-cache";',
        ...ind(addHeaders),
        "        try_files $uri $uri/index.html $uri.html =404;",
        "    }",
    ];
}

/**
 * Release: one revision of the app on the host, Capistrano style:
 *
 *   <root>/repo                 bare mirror of the repository (root only)
 *   <root>/releases/<sha>/      an extracted, built release (read-only to the app)
 *   <root>/shared/{log,tmp,storage}  linked into every release
 *   <root>/shared/bundle, npm-cache, yarn-cache   gems and JS package caches, across releases
 *   <root>/shared/public/assets  the union of the kept releases' assets (hard links),
 *                               which nginx serves under /assets/: a page of the
 *                               previous release still loads its fingerprinted files
 *   <root>/current -> releases/<sha>   the active release (the switch moves it)
 *
 * Each release keeps its own real public/assets with its own manifest
 * (Propshaft's .manifest.json, Sprockets' .sprockets-manifest-*.json), so a
 * rollback serves its own asset names; the switch's prune removes from the
 * union what no kept release has (components/app/switch.ts pruneLines).
 *
 * The checkout is replaced for every new revision (its `triggers` carry the
 * resolved sha); the build and the release command (db:prepare) run once per
 * release, and setting the revision back to a kept release reuses it
 * without rebuilding. Build and release commands run as the app user through
 * `systemd-run`, so systemd reads the same EnvironmentFile as the units and
 * no secret is ever placed in argv or in a shell-sourced file.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { BerthConfig } from "../../lib/config";
import { lifecycle } from "../../lib/lifecycle";
import { Connection, managedBy, remoteScript } from "../../lib/remote";
import { gitKnownHostsLine, ResolvedRevision } from "../../lib/revision";
import { Arg, cmd, hostLock, indent, Lines, pinnedSshWords, quote, raw, readSecrets, script, secretsPayload, writeFile } from "../../lib/shell";
import { HOST_LOCK } from "../../lib/names";
import { osAptInstall } from "../../lib/os";
import { RUBY_CHECK, rubyCheckArgs } from "../../lib/ruby";
import { releaseBackupLines } from "../data/backup";

export interface ReleaseArgs {
    /** Validated stack configuration. */
    config: BerthConfig;
    connection: pulumi.Input<Connection>;
    /** The configured ref and the commit it resolved to where pulumi runs. */
    revision: ResolvedRevision;
    /** Host steps that must be done first (packages, app user). */
    hostReady: pulumi.Input<pulumi.Resource>[];
    /** The env file command: builds and the release command read it. */
    envFile: pulumi.Input<pulumi.Resource>;
    /** The Postgres role the release command (db:prepare) logs in with; none when the app's own URL to a managed database is given. */
    role?: pulumi.Input<pulumi.Resource>;
    /** With `berth:backup`: the installed backup (components/data/backup.ts) the release command runs before migrating. */
    backup?: pulumi.Input<pulumi.Resource>[];
    /**
     * Multi-host: false; the environment then declares the release command
     * on one host only (lib/topology.ts releaseHost) with
     * `addReleaseCommand`, once every host has built the release.
     */
    runReleaseCommand?: boolean;
}

export class Release extends pulumi.ComponentResource {
    /** Deploy key and pinned git host key on the host (no-op for non-SSH repositories). */
    public readonly deployKey?: command.remote.Command;
    /** Fetch, extract and build the release directory. */
    public readonly checkout: command.remote.Command;
    /** The release command (Rails: db:prepare), once per release; undefined on hosts that do not run it. */
    public migrate?: command.remote.Command;
    public readonly sha: string;
    public readonly path: string;

    constructor(name: string, args: ReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:app:Release", name, {}, opts);
        const cfg = args.config;
        const { connection } = args;
        const sudo = cfg.host.sudo;
        this.sha = args.revision.sha;
        this.path = releasePath(cfg, this.sha);

        if (cfg.release.deployKey) {
            const key = cfg.release.deployKey;
            this.deployKey = remoteScript(
                `${name}-deploy-key`,
                {
                    connection,
                    sudo,
                    create: deployKeyScript(cfg),
                    delete: script(cmd("rm", "-f", `${cfg.names.etc}/deploy_key`, `${cfg.names.etc}/git_known_hosts`)),
                    lifecycle: lifecycle(cfg, "command"),
                    stdin: pulumi.secret(secretsPayload([Buffer.from(key.endsWith("\n") ? key : `${key}\n`).toString("base64")])),
                },
                { parent: this, dependsOn: args.hostReady },
            );
        }

        this.checkout = remoteScript(
            `${name}-checkout`,
            {
                connection,
                sudo,
                create: checkoutScript(cfg, this.sha),
                triggers: [releaseTrigger(cfg, args.revision)],
                lifecycle: lifecycle(cfg, "command"),
            },
            {
                parent: this,
                dependsOn: [...args.hostReady, args.envFile, ...(this.deployKey ? [this.deployKey] : [])],
            },
        );

        this.releaseArgs = args;
        this.releaseName = name;
        if (args.runReleaseCommand !== false) this.addReleaseCommand([], { backup: true });

        this.registerOutputs({ sha: this.sha, path: this.path, checkout: this.checkout.id });
    }

    private readonly releaseArgs: ReleaseArgs;
    private readonly releaseName: string;

    /**
     * Declares the release command on this host, after `after` (multi-host:
     * every other host's build and the data host's backup named after the
     * release, which then replaces the backup inside the release command).
     */
    public addReleaseCommand(after: pulumi.Input<pulumi.Resource>[], opts: { backup: boolean } = { backup: false }): command.remote.Command {
        const args = this.releaseArgs;
        const cfg = args.config;
        this.migrate = remoteScript(
            `${this.releaseName}-release-command`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: releaseCommandScript(cfg, this.sha, opts),
                triggers: [this.sha],
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: [this.checkout, ...(args.role ? [args.role] : []), args.envFile, ...(args.backup ?? []), ...after] },
        );
        return this.migrate;
    }
}

// ---------------------------------------------------------------------------
// Pure helpers and script builders
// ---------------------------------------------------------------------------

/** The trigger the policy pack reads to check production revisions. */
export function releaseTrigger(cfg: BerthConfig, rev: ResolvedRevision) {
    return { kind: "berth-release", app: cfg.app, stack: cfg.stack, production: cfg.production, ref: rev.ref, revision: rev.sha };
}

export function releasePath(cfg: BerthConfig, sha: string): string {
    return `${cfg.names.root}/releases/${sha}`;
}

/** Marker files inside a release directory. */
export const BUILT_MARKER = ".berth-built";
export const RELEASED_MARKER = ".berth-released";

/**
 * Runs `body` (bash) as the app user in `dir` with the app's environment,
 * through systemd-run: systemd parses the EnvironmentFile exactly as it does
 * for the units, output is piped back, and the exit status is returned.
 */
export function runAsApp(cfg: BerthConfig, unitSuffix: string, dir: string, body: string, extra: Arg[] = []): string {
    const n = cfg.names;
    return cmd(
        "systemd-run",
        "--quiet",
        "--wait",
        "--pipe",
        "--collect",
        "--service-type=exec",
        raw(`--unit=${quote(`berth-${n.id}-${unitSuffix}`)}-"$$"`),
        "-p",
        `User=${n.user}`,
        "-p",
        `Group=${n.user}`,
        "-p",
        `EnvironmentFile=${n.envFile}`,
        "-p",
        `WorkingDirectory=${dir}`,
        "-p",
        `Environment=HOME=${n.root}/shared`,
        "-p",
        "UMask=0022",
        ...extra,
        "/bin/bash",
        "-c",
        `set -euo pipefail\n${body}`,
    );
}

/**
 * Bundler settings of the Rails preset. `deployment`: Capistrano's
 * BUNDLE_DEPLOYMENT semantics (lockfile enforced, gems under shared/bundle,
 * no development/test groups). `system`: gems come from the host (Debian's
 * ruby-* packages); Bundler's deployment mode cannot use system gems, so the
 * closest equivalent is a frozen lockfile with the same groups left out.
 */
export function bundlerSettings(cfg: BerthConfig): [string, string][] {
    const common: [string, string][] = [["without", "development:test"]];
    return cfg.release.bundler === "deployment"
        ? [["deployment", "true"], ["path", `${cfg.names.root}/shared/bundle`], ...common]
        : [["frozen", "true"], ...common];
}

export function buildSteps(cfg: BerthConfig): string[] {
    const steps: string[] = [];
    if (cfg.release.preset === "rails") {
        for (const [k, v] of bundlerSettings(cfg)) steps.push(cmd("bundle", "config", "set", "--local", k, v));
        steps.push(cfg.release.bundler === "deployment" ? "bundle install --jobs 2 --retry 3 --quiet" : "bundle install --local --quiet");
        steps.push(jsInstallStep(cfg));
        steps.push("bin/rails assets:precompile");
    }
    if (cfg.release.buildCommand) steps.push(cfg.release.buildCommand);
    return steps;
}

// ---------------------------------------------------------------------------
// JavaScript and CSS bundling (jsbundling-rails, cssbundling-rails)

/** The JS package managers berth runs, by what the checkout finds (`$js`, `BERTH_JS` in the build). */
export type JsManager = "npm" | "yarn" | "yarn-berry";

/** Debian's Yarn (Yarn 1.22 on Debian 12 and Ubuntu 24.04, Yarn 4 on Debian 13). */
export const YARNPKG = "/usr/bin/yarnpkg";

/**
 * Root, in the extracted release `dir` (Rails preset): which package manager
 * its lockfile asks for (into `$js`, empty for an importmap app), the
 * refusals that are clearer here than in the middle of a build (bun, pnpm,
 * a lockfile of the other Yarn generation), and Node + npm + yarnpkg from
 * the OS when missing (lib/os.ts "js-bundling"), under the host lock like
 * every apt run, released right after.
 */
export function jsDetectLines(cfg: BerthConfig, dir: string, sha: string): Lines {
    const d = (f: string) => quote(`${dir}/${f}`);
    const fail = (msg: string) => `{ echo ${quote(`berth: release ${sha}: ${msg}`)} >&2; exit 1; }`;
    return [
        "js=",
        `if [ -f ${d("package.json")} ]; then`,
        `  if [ -f ${d("bun.lockb")} ] || [ -f ${d("bun.lock")} ]; then`,
        `    ${fail("its lockfile is bun's (bun.lockb/bun.lock), and bun is not packaged by the host OS. Commit a package-lock.json (npm install) or a yarn.lock (yarnpkg install) instead")}`,
        `  elif [ -f ${d("pnpm-lock.yaml")} ]; then`,
        `    ${fail("its lockfile is pnpm's (pnpm-lock.yaml), and pnpm is not packaged by the host OS. Commit a package-lock.json (npm install) or a yarn.lock (yarnpkg install) instead")}`,
        `  elif [ -f ${d("package-lock.json")} ]; then js=npm`,
        `  elif [ -f ${d("yarn.lock")} ] && grep -q '^__metadata:' ${d("yarn.lock")}; then js=yarn-berry`,
        `  elif [ -f ${d("yarn.lock")} ]; then js=yarn`,
        "  else",
        `    echo ${quote(`berth: release ${sha} has a package.json without a lockfile (package-lock.json, yarn.lock): berth installs no JavaScript packages for it`)} >&2`,
        "  fi",
        "fi",
        'if [ -n "$js" ]; then',
        ...indent("  ", [
            // Only when something is missing does apt run, under the host lock (fd 9), released after.
            osAptInstall(["js-bundling"], { lock: hostLock(HOST_LOCK, `JavaScript packages of ${cfg.names.id}`), stderr: true }),
            "exec 9>&-",
        ]),
        "fi",
        'if [ "$js" = yarn ] || [ "$js" = yarn-berry ]; then',
        "  yarn_major=$(dpkg-query -W -f='${Version}' yarnpkg | sed 's/^[0-9]*://; s/[.].*//')",
        '  if [ "$js" = yarn ] && [ "$yarn_major" != 1 ]; then',
        `    echo "berth: release ${sha}: yarn.lock is a Yarn 1 lockfile, and this host's yarnpkg is Yarn $yarn_major, which cannot install it unchanged. Commit a package-lock.json (npm install) instead, or move the app to Yarn $yarn_major (its yarn.lock and .yarnrc.yml)" >&2`,
        "    exit 1",
        "  fi",
        `  if [ "$js" = yarn-berry ] && [ "$yarn_major" = 1 ] && ! grep -q '^yarnPath:' ${d(".yarnrc.yml")} 2>/dev/null; then`,
        `    echo ${quote(`berth: release ${sha}: yarn.lock is a Yarn 2+ lockfile, and this host's yarnpkg is Yarn 1, which runs a newer Yarn only from the repository: commit it (yarn set version <version> writes .yarn/releases/ and yarnPath in .yarnrc.yml), or a package-lock.json (npm install) instead`)} >&2`,
        "    exit 1",
        "  fi",
        // jsbundling-rails and cssbundling-rails run `yarn build`; Debian's binary is `yarnpkg`.
        `  ${cmd("install", "-d", "-m", "0755", cfg.names.binDir)}`,
        `  ${cmd("ln", "-sfn", YARNPKG, `${cfg.names.binDir}/yarn`)}`,
        "fi",
    ];
}

/**
 * The build step (app user, release directory) for what the checkout found
 * in `$BERTH_JS`: the lockfile-exact install, with the package cache kept
 * under shared/, before assets:precompile. jsbundling/cssbundling then skip
 * their own (not lockfile-exact) install: SKIP_YARN_INSTALL covers every
 * package manager in both gems.
 */
export function jsInstallStep(cfg: BerthConfig): string {
    const n = cfg.names;
    const yarnEnv = `export YARN_CACHE_FOLDER=${quote(n.yarnCache)} SKIP_YARN_INSTALL=1 PATH=${quote(n.binDir)}:"$PATH"`;
    const run = (command: string) => `echo ${quote(`berth: ${command}`)}; ${command}`;
    return [
        'case "${BERTH_JS:-}" in',
        `  npm) export npm_config_cache=${quote(n.npmCache)} SKIP_YARN_INSTALL=1; ${run("npm ci --no-audit --no-fund")} ;;`,
        `  yarn) ${yarnEnv}; ${run("yarnpkg install --frozen-lockfile --non-interactive")} ;;`,
        `  yarn-berry) ${yarnEnv}; ${run("yarnpkg install --immutable")} ;;`,
        "esac",
    ].join("\n");
}

// ---------------------------------------------------------------------------
// Ruby

/**
 * Root, in the extracted release (Rails preset), before anything is built:
 * the host's Ruby against the release's `.ruby-version` and Gemfile `ruby`
 * directive (lib/ruby.ts), failing with one line that names both versions
 * and the supported OS releases whose Ruby matches.
 */
export function rubyCheckLines(dir: string, sha: string): Lines {
    return [
        "if command -v ruby >/dev/null 2>&1; then",
        "  # shellcheck disable=SC2016 # $stderr and #{...} are the Ruby program's",
        `  ${cmd("ruby", "-e", RUBY_CHECK, "--", dir, sha, ...rubyCheckArgs())}`,
        "fi",
    ];
}

// ---------------------------------------------------------------------------
// Assets

/**
 * Root, after the build: hard-links the files of the release's own
 * public/assets into the union (`ln -f`: an existing name is replaced by
 * one rename, never missing for a moment), directory by directory; where
 * releases/ and shared/ are different filesystems (no hard links), each
 * file is copied next to its name and renamed into place. Names
 * starting with a dot (the manifests) stay out: each release reads its own.
 * A release built by an earlier berth (public/assets a symlink to the
 * union) and an app without assets link nothing.
 */
export function linkAssetsLines(cfg: BerthConfig, dir: string): Lines {
    const src = `${dir}/public/assets`;
    const union = cfg.names.assets;
    return [
        `if [ -d ${quote(src)} ] && [ ! -L ${quote(src)} ]; then`,
        `  ${cmd("install", "-d", "-m", "0755", union)}`,
        `  (cd ${quote(src)} && find . -name '.?*' -prune -o -type d -printf '%P\\0') | while IFS= read -r -d '' sub; do`,
        `    ${cmd("install", "-d", "-m", "0755", raw(`${quote(`${union}/`)}"$sub"`))}`,
        `    if ! find ${quote(`${src}/`)}"$sub" -mindepth 1 -maxdepth 1 ! -type d ! -name '.*' -print0 | xargs -0r ln -f -t ${quote(`${union}/`)}"$sub" -- 2>/dev/null; then`,
        // releases/ and shared/ on different filesystems (no hard links): copy each file, renamed into place.
        `      find ${quote(`${src}/`)}"$sub" -mindepth 1 -maxdepth 1 ! -type d ! -name '.*' -print0 | while IFS= read -r -d '' f; do`,
        `        ${cmd("cp", "-p", raw('"$f"'), raw(`${quote(`${union}/`)}"$sub/.berth-new"`))} && ${cmd("mv", "-f", raw(`${quote(`${union}/`)}"$sub/.berth-new"`), raw(`${quote(`${union}/`)}"$sub/\${f##*/}"`))}`,
        "      done",
        "    fi",
        "  done",
        `  echo ${quote(`berth: linked the release's assets into ${union}`)}`,
        "fi",
    ];
}

export function releaseSteps(cfg: BerthConfig): string[] {
    if (cfg.release.releaseCommand) return [cfg.release.releaseCommand];
    return cfg.release.preset === "rails" ? ["bin/rails db:prepare"] : [];
}

/** Directories of shared/ linked into every release (Capistrano's linked_dirs). */
const LINKED_DIRS = ["log", "tmp", "storage"];

/** Links shared/ directories into a release. public/assets stays the release's own (see linkAssetsLines). */
function linkShared(cfg: BerthConfig, dir: string): Lines {
    const shared = `${cfg.names.root}/shared`;
    return LINKED_DIRS.map((d) => `rm -rf ${quote(`${dir}/${d}`)} && ln -s ${quote(`${shared}/${d}`)} ${quote(`${dir}/${d}`)}`);
}

export function deployKeyScript(cfg: BerthConfig): string {
    const etc = cfg.names.etc;
    const known = gitKnownHostsLine(cfg.release.repository, cfg.release.repositoryHostKey ?? "");
    return script(
        readSecrets("DEPLOY_KEY_B64"),
        "changed=0",
        `tmp=$(mktemp ${quote(`${etc}/deploy_key.berth.XXXXXX`)})`,
        `printf '%s' "$DEPLOY_KEY_B64" | base64 -d > "$tmp"`,
        `chmod 0600 "$tmp"`,
        `if cmp -s "$tmp" ${quote(`${etc}/deploy_key`)}; then rm -f "$tmp"; else mv -f "$tmp" ${quote(`${etc}/deploy_key`)}; changed=1; fi`,
        known ? writeFile(`${etc}/git_known_hosts`, `${managedBy(cfg)}\n${known}\n`, { mode: "0644" }) : [],
        'if [ "$changed" = 1 ]; then echo "deploy key updated"; else echo "deploy key unchanged"; fi',
    );
}

function gitSshCommand(cfg: BerthConfig): string {
    const etc = cfg.names.etc;
    return pinnedSshWords(`${etc}/deploy_key`, `${etc}/git_known_hosts`).join(" ");
}

export function checkoutScript(cfg: BerthConfig, sha: string): string {
    const n = cfg.names;
    const rel = releasePath(cfg, sha);
    const tmp = `${n.root}/releases/.${sha}.partial`;
    const mirror = `${n.root}/repo`;
    const repo = cfg.release.repository;
    const ssh = cfg.release.deployKey !== undefined;
    const build = buildSteps(cfg);
    const rails = cfg.release.preset === "rails";
    return script(
        `if [ -f ${quote(`${rel}/${BUILT_MARKER}`)} ]; then echo ${quote(`berth: release ${sha} is already built; reusing it`)}; exit 0; fi`,
        ssh && `export GIT_SSH_COMMAND=${quote(gitSshCommand(cfg))}`,
        "export GIT_TERMINAL_PROMPT=0",
        `if [ ! -d ${quote(mirror)} ]; then`,
        `  ${cmd("git", "clone", "--quiet", "--mirror", "--", repo, mirror)}`,
        "else",
        `  ${cmd("git", "--git-dir", mirror, "remote", "set-url", "origin", repo)}`,
        "fi",
        `if ! ${cmd("git", "--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`)} 2>/dev/null; then`,
        `  ${cmd("git", "--git-dir", mirror, "fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")}`,
        "fi",
        `${cmd("git", "--git-dir", mirror, "cat-file", "-e", `${sha}^{commit}`)} || { echo ${quote(`berth: commit ${sha} is not in ${repo}`)} >&2; exit 1; }`,
        cmd("rm", "-rf", tmp),
        cmd("install", "-d", "-m", "0755", tmp),
        `${cmd("git", "--git-dir", mirror, "archive", "--format=tar", sha)} | ${cmd("tar", "-x", "-C", tmp)}`,
        `printf '%s\\n' ${quote(sha)} > ${quote(`${tmp}/REVISION`)}`,
        rails && [rubyCheckLines(tmp, sha), jsDetectLines(cfg, tmp, sha)],
        linkShared(cfg, tmp),
        cmd("chown", "-R", `${n.user}:${n.user}`, tmp),
        build.length > 0 && [
            `echo ${quote(`berth: building release ${sha}`)}`,
            // The build's own variables ($BERTH_JS, $PATH) expand in the app's shell, not here.
            rails && "# shellcheck disable=SC2016",
            runAsApp(cfg, "build", tmp, build.join("\n"), rails ? [raw('-p "Environment=BERTH_JS=$js"')] : []),
        ],
        cmd("chown", "-R", "root:root", tmp),
        // The app may write only through the shared/ links.
        ...LINKED_DIRS.map((d) => `[ ! -L ${quote(`${tmp}/${d}`)} ] || chown -h ${quote(`${n.user}:${n.user}`)} ${quote(`${tmp}/${d}`)}`),
        `find ${quote(tmp)} -maxdepth 1 -name .bundle -exec chown -R ${quote(`${n.user}:${n.user}`)} {} +`,
        // A directory left without its marker by an interrupted run is not a release (nothing serves it).
        cmd("rm", "-rf", "--one-file-system", rel),
        cmd("mv", "-T", tmp, rel),
        linkAssetsLines(cfg, rel),
        cmd("touch", `${rel}/${BUILT_MARKER}`),
        `echo ${quote(`berth: release ${sha} built in ${rel}`)}`,
    );
}

export function releaseCommandScript(cfg: BerthConfig, sha: string, opts: { backup: boolean } = { backup: true }): string {
    const rel = releasePath(cfg, sha);
    const steps = releaseSteps(cfg);
    return script(
        `if [ ! -f ${quote(`${rel}/${BUILT_MARKER}`)} ]; then echo ${quote(`berth: release ${sha} is not built`)} >&2; exit 1; fi`,
        `if [ -f ${quote(`${rel}/${RELEASED_MARKER}`)} ]; then echo ${quote(`berth: release command of ${sha} already ran`)}; exit 0; fi`,
        // A snapshot named after the release before anything migrates; a failed backup fails the release.
        steps.length > 0 && cfg.backup !== undefined && opts.backup && releaseBackupLines(cfg, sha),
        steps.length > 0 && [`echo ${quote(`berth: running the release command of ${sha}`)}`, runAsApp(cfg, "release", rel, steps.join("\n"))],
        cmd("touch", `${rel}/${RELEASED_MARKER}`),
    );
}

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
import { cmd, Lines, pinnedSshWords, quote, raw, readSecrets, script, secretsPayload, writeFile } from "../../lib/shell";
import { BUILT_MARKER, RELEASED_MARKER, releasePath, runAsApp } from "../../lib/names";
import { presetOf } from "../../lib/presets";
import { bundlerSettings, jsDetectLines, jsInstallStep, type JsManager, rubyCheckLines, YARNPKG } from "../../lib/presets/rails";
import { releaseBackupLines } from "../data/backup";

export { BUILT_MARKER, bundlerSettings, releasePath, jsDetectLines, jsInstallStep, type JsManager, RELEASED_MARKER, rubyCheckLines, runAsApp, YARNPKG };

/** What the builders read of the configuration: the stack, this app host, the release settings and the backup. */
export const RELEASE_SCOPE = ["project", "stack", "production", "protect", "names", "app", "host", "release", "backup", "postgres"] as const;
export type ReleaseScope = Pick<BerthConfig, (typeof RELEASE_SCOPE)[number]>;

/** The scope's settings (per host from lib/plan.ts: `host` is the host this runs on), then the resources. */
export interface ReleaseArgs extends ReleaseScope {
    /** This host's SSH connection (its Host's `connection`). */
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
    backupReady?: pulumi.Input<pulumi.Resource>[];
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
        const cfg: ReleaseScope = args;
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
        const cfg: ReleaseScope = args;
        this.migrate = remoteScript(
            `${this.releaseName}-release-command`,
            {
                connection: args.connection,
                sudo: cfg.host.sudo,
                create: releaseCommandScript(cfg, this.sha, opts),
                triggers: [this.sha],
                lifecycle: lifecycle(cfg, "command"),
            },
            { parent: this, dependsOn: [this.checkout, ...(args.role ? [args.role] : []), args.envFile, ...(args.backupReady ?? []), ...after] },
        );
        return this.migrate;
    }
}

// ---------------------------------------------------------------------------
// Pure helpers and script builders
// ---------------------------------------------------------------------------

/** The trigger the policy pack reads to check production revisions. */
export function releaseTrigger(cfg: ReleaseScope, rev: ResolvedRevision) {
    return { kind: "berth-release", app: cfg.app, stack: cfg.stack, production: cfg.production, ref: rev.ref, revision: rev.sha };
}



export function buildSteps(cfg: ReleaseScope): string[] {
    const steps = presetOf(cfg).buildSteps(cfg);
    if (cfg.release.buildCommand) steps.push(cfg.release.buildCommand);
    return steps;
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
export function linkAssetsLines(cfg: ReleaseScope, dir: string): Lines {
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

export function releaseSteps(cfg: ReleaseScope): string[] {
    if (cfg.release.releaseCommand) return [cfg.release.releaseCommand];
    const preset = presetOf(cfg).releaseCommand;
    return preset ? [preset] : [];
}

/** Links shared/ directories into a release. public/assets stays the release's own (see linkAssetsLines). */
function linkShared(cfg: ReleaseScope, dir: string): Lines {
    const shared = `${cfg.names.root}/shared`;
    return presetOf(cfg).linkedDirs.map((d) => `rm -rf ${quote(`${dir}/${d}`)} && ln -s ${quote(`${shared}/${d}`)} ${quote(`${dir}/${d}`)}`);
}

export function deployKeyScript(cfg: ReleaseScope): string {
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

function gitSshCommand(cfg: ReleaseScope): string {
    const etc = cfg.names.etc;
    return pinnedSshWords(`${etc}/deploy_key`, `${etc}/git_known_hosts`).join(" ");
}

export function checkoutScript(cfg: ReleaseScope, sha: string): string {
    const n = cfg.names;
    const rel = releasePath(cfg, sha);
    const tmp = `${n.root}/releases/.${sha}.partial`;
    const mirror = `${n.root}/repo`;
    const repo = cfg.release.repository;
    const ssh = cfg.release.deployKey !== undefined;
    const build = buildSteps(cfg);
    const preset = presetOf(cfg);
    const expandsLater = preset.buildRunArgs.length > 0;
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
        preset.checkoutLines(cfg, tmp, sha),
        linkShared(cfg, tmp),
        cmd("chown", "-R", `${n.user}:${n.user}`, tmp),
        build.length > 0 && [
            `echo ${quote(`berth: building release ${sha}`)}`,
            // The build's own variables ($BERTH_JS, $PATH) expand in the app's shell, not here.
            expandsLater && "# shellcheck disable=SC2016",
            runAsApp(cfg, "build", tmp, build.join("\n"), [...preset.buildRunArgs]),
        ],
        cmd("chown", "-R", "root:root", tmp),
        // The app may write only through the shared/ links.
        ...presetOf(cfg).linkedDirs.map((d) => `[ ! -L ${quote(`${tmp}/${d}`)} ] || chown -h ${quote(`${n.user}:${n.user}`)} ${quote(`${tmp}/${d}`)}`),
        `find ${quote(tmp)} -maxdepth 1 -name .bundle -exec chown -R ${quote(`${n.user}:${n.user}`)} {} +`,
        // A directory left without its marker by an interrupted run is not a release (nothing serves it).
        cmd("rm", "-rf", "--one-file-system", rel),
        cmd("mv", "-T", tmp, rel),
        linkAssetsLines(cfg, rel),
        cmd("touch", `${rel}/${BUILT_MARKER}`),
        `echo ${quote(`berth: release ${sha} built in ${rel}`)}`,
    );
}

export function releaseCommandScript(cfg: ReleaseScope, sha: string, opts: { backup: boolean } = { backup: true }): string {
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

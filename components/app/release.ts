/**
 * Release: one revision of the app on the host, Capistrano style:
 *
 *   <root>/repo                 bare mirror of the repository (root only)
 *   <root>/releases/<sha>/      an extracted, built release (read-only to the app)
 *   <root>/shared/{log,tmp,storage,bundle,public/assets}  linked into every release
 *   <root>/current -> releases/<sha>   the active release (the switch moves it)
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
export function runAsApp(cfg: BerthConfig, unitSuffix: string, dir: string, body: string): string {
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
        steps.push("bin/rails assets:precompile");
    }
    if (cfg.release.buildCommand) steps.push(cfg.release.buildCommand);
    return steps;
}

export function releaseSteps(cfg: BerthConfig): string[] {
    if (cfg.release.releaseCommand) return [cfg.release.releaseCommand];
    return cfg.release.preset === "rails" ? ["bin/rails db:prepare"] : [];
}

/** Links shared/ directories into a release (Capistrano's linked_dirs). */
function linkShared(cfg: BerthConfig, dir: string): Lines {
    const shared = `${cfg.names.root}/shared`;
    return [
        ...["log", "tmp", "storage"].map((d) => `rm -rf ${quote(`${dir}/${d}`)} && ln -s ${quote(`${shared}/${d}`)} ${quote(`${dir}/${d}`)}`),
        cfg.release.preset === "rails" && [
            cmd("mkdir", "-p", `${dir}/public`),
            `rm -rf ${quote(`${dir}/public/assets`)} && ln -s ${quote(`${shared}/public/assets`)} ${quote(`${dir}/public/assets`)}`,
        ],
    ];
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
        linkShared(cfg, tmp),
        cmd("chown", "-R", `${n.user}:${n.user}`, tmp),
        build.length > 0 && [
            `echo ${quote(`berth: building release ${sha}`)}`,
            runAsApp(cfg, "build", tmp, build.join("\n")),
        ],
        cmd("chown", "-R", "root:root", tmp),
        // The app may write only through the shared/ links.
        ...["log", "tmp", "storage", "public/assets"].map((d) => `[ ! -L ${quote(`${tmp}/${d}`)} ] || chown -h ${quote(`${n.user}:${n.user}`)} ${quote(`${tmp}/${d}`)}`),
        `find ${quote(tmp)} -maxdepth 1 -name .bundle -exec chown -R ${quote(`${n.user}:${n.user}`)} {} +`,
        cmd("mv", "-T", tmp, rel),
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

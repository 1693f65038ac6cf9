/**
 * The Rails preset: Ruby and Bundler from the host OS, JavaScript and CSS
 * bundling (jsbundling-rails, cssbundling-rails) with Node from the host
 * OS, `assets:precompile`, `db:prepare` as the release command, and
 * `bin/rails console`.
 */
import { HOST_LOCK } from "../names";
import { osAptInstall } from "../os";
import { RUBY_CHECK, rubyCheckArgs } from "../ruby";
import { cmd, hostLock, indent, Lines, quote, raw } from "../shell";
import type { Preset, PresetScope } from "./index";

/** Toolchain the Rails preset builds releases with (logical names, as the base packages). */
export const RAILS_PACKAGES = ["ruby", "ruby-dev", "bundler", "build-essential", "libpq-dev", "libyaml-dev", "pkg-config", "tzdata"];

export const rails: Preset = {
    name: "rails",
    packages: RAILS_PACKAGES,
    needsWebCommand: false,
    checkoutLines: (cfg, dir, sha) => [rubyCheckLines(dir, sha), jsDetectLines(cfg, dir, sha), cfg.release.webSocket === "activation" && pumaCheckLines(dir, sha)],
    buildSteps: (cfg) => [
        ...bundlerSettings(cfg).map(([k, v]) => cmd("bundle", "config", "set", "--local", k, v)),
        cfg.release.bundler === "deployment" ? "bundle install --jobs 2 --retry 3 --quiet" : "bundle install --local --quiet",
        jsInstallStep(cfg),
        "bin/rails assets:precompile",
    ],
    buildRunArgs: [raw('-p "Environment=BERTH_JS=$js"')],
    releaseCommand: "bin/rails db:prepare",
    // Rails before 7.1 logs to log/production.log (never rotated by berth) unless told to log to
    // STDOUT, which the journal keeps: the default of the Rails preset, for the units, the build
    // and the release command alike; berth:env may still set it.
    defaultEnv: { RAILS_LOG_TO_STDOUT: "1" },
    ownedEnv: { RAILS_ENV: "production", RACK_ENV: "production" },
    console: "exec bin/rails console",
    linkedDirs: ["log", "tmp", "storage"],
    // Puma takes the socket itself (one hop less: bench/README.md, "The proxy hop"); bin/rails server gets the proxy.
    webSocket: "activation",
    activatedWebCommand: pumaActivated,
};

/**
 * Puma's own CLI (`puma`, `bundle exec puma`, a path ending in `/puma`)
 * adopts systemd's sockets itself (puma/binder.rb `create_activated_fds`,
 * LISTEN_FDS and LISTEN_PID = its pid; `/bin/sh -c 'exec ...'` and
 * `bundle exec` keep the pid). `--bind-to-activated-sockets only` (Puma ≥ 5,
 * a CLI option, so it overrides config/puma.rb) makes it serve exactly the
 * activated sockets and drop every configured bind, Rails' `port
 * ENV.fetch("PORT")` included: no TCP port, and the user's config/puma.rb
 * is not edited. `bin/rails server` has no such option: undefined (proxy).
 */
export function pumaActivated(webCommand: string): string | undefined {
    return /(^|[\s/])puma(\s|$)/.test(webCommand) ? `${webCommand} --bind-to-activated-sockets only` : undefined;
}

/**
 * With `berth:webSocket: activation`, the checkout refuses a release whose
 * Gemfile.lock locks Puma below 5 (it has no `--bind-to-activated-sockets`:
 * its instance would fail the health check only after the release command
 * ran), naming the key. A spec line of Gemfile.lock is `    puma (6.4.2)`
 * (four spaces; a platform may follow the version); no lockfile or no Puma
 * in it: nothing to check.
 */
export function pumaCheckLines(dir: string, sha: string): Lines {
    const lock = quote(`${dir}/Gemfile.lock`);
    return [
        "puma_major=",
        `if [ -f ${lock} ]; then puma_major=$(sed -n '/^    puma (/{s/^    puma (\\([0-9][0-9]*\\)[.].*/\\1/p;q;}' ${lock}); fi`,
        'if [ -n "$puma_major" ] && [ "$puma_major" -lt 5 ]; then',
        `  echo "berth: release ${sha}: Gemfile.lock locks Puma $puma_major, and berth:webSocket activation (the Rails preset's default with Puma's CLI) needs Puma 5 or later (--bind-to-activated-sockets). Update Puma, or set berth:webSocket: proxy" >&2`,
        "  exit 1",
        "fi",
    ];
}

/**
 * Bundler settings of the Rails preset. `deployment`: Capistrano's
 * BUNDLE_DEPLOYMENT semantics (lockfile enforced, gems under shared/bundle,
 * no development/test groups). `system`: gems come from the host (Debian's
 * ruby-* packages); Bundler's deployment mode cannot use system gems, so the
 * closest equivalent is a frozen lockfile with the same groups left out.
 */
export function bundlerSettings(cfg: PresetScope): [string, string][] {
    const common: [string, string][] = [["without", "development:test"]];
    return cfg.release.bundler === "deployment"
        ? [["deployment", "true"], ["path", `${cfg.names.root}/shared/bundle`], ...common]
        : [["frozen", "true"], ...common];
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
export function jsDetectLines(cfg: Pick<PresetScope, "names">, dir: string, sha: string): Lines {
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
export function jsInstallStep(cfg: Pick<PresetScope, "names">): string {
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


#!/usr/bin/env bash
# ensure.sh test|e2e|dev — brings in what a berth command needs before it runs,
# so `npm test`, `npm run test:e2e` and `npm run dev:up` work on a fresh clone
# of a fresh Debian machine with nothing run before them:
#
#   1. Debian packages: the tools the tests spawn (test) or the e2e world's
#      (e2e, dev). As root, the missing ones are installed with
#      scripts/apt-ensure.sh; otherwise ONE line names every missing tool and
#      the apt-get command, and this exits 1 before anything runs.
#   2. npm dependencies: `npm ci` when node_modules is missing or older than
#      package-lock.json (npm's node_modules/.package-lock.json is written by
#      every install), which also brings in Node 24 (the `node` devDependency).
#
# Called by the `pretest` npm hook, test/e2e/run.sh and scripts/dev.sh; .ci/run
# relies on those. Quiet and fast (a few `command -v`) when nothing is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode="${1:-}"
case "$mode" in
  test) what="npm test" ;;
  e2e) what="npm run test:e2e" ;;
  dev) what="npm run dev:up/dev:down" ;;
  *) echo "usage: $0 test|e2e|dev" >&2; exit 2 ;;
esac

fail() { echo "berth: $what: $*" >&2; exit 1; }

# --- 1. Debian packages --------------------------------------------------------

# The tools each mode runs, as `command:debian-package`. test: what
# test/unit/*.ts spawns (shellcheck; nginx -t; systemd-analyze verify and, via
# python3, its libsystemd-shared; openssl for test certificates; git for the
# ls-remote repositories; wg, wireguard-go and iptables for the mesh and data
# firewall tests in network namespaces; ruby for the build's Ruby check). e2e/dev: the host world (test/e2e/host/*.sh).
case "$mode" in
  test)
    tools=(shellcheck:shellcheck nginx:nginx-light systemd-analyze:systemd python3:python3
      openssl:openssl git:git ldd:libc-bin wg:wireguard-tools wireguard-go:wireguard-go
      iptables:iptables ruby:ruby)
    ;;
  e2e | dev)
    tools=(docker:docker.io dockerd:docker.io debootstrap:debootstrap pebble:pebble
      pebble-challtestsrv:pebble jq:jq ssh:openssh-client ssh-keygen:openssh-client
      ssh-keyscan:openssh-client git:git curl:curl iptables:iptables openssl:openssl
      update-ca-certificates:ca-certificates setsid:util-linux ssh-audit:ssh-audit
      pg_restore:postgresql-client)
    ;;
esac

# missing_tools: fills missing_cmds (for the message), missing_pkgs (to
# install) and off_path (directories holding a tool that is not on PATH).
missing_tools() {
  missing_cmds=()
  missing_pkgs=()
  off_path=()
  local spec cmd pkg d where
  for spec in "${tools[@]}"; do
    cmd="${spec%%:*}"
    pkg="${spec#*:}"
    command -v "$cmd" >/dev/null 2>&1 && continue
    # Installed but not on this PATH (/usr/sbin is not on a non-root user's
    # PATH on Debian): the tests spawn it by name, so it is still missing.
    where=""
    for d in /usr/local/sbin /usr/sbin /sbin; do
      if [ -x "$d/$cmd" ]; then where="$d"; break; fi
    done
    if [ -n "$where" ]; then
      missing_cmds+=("$cmd (in $where, not on PATH)")
      [[ " ${off_path[*]} " == *" $where "* ]] || off_path+=("$where")
    else
      missing_cmds+=("$cmd")
      [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
    fi
  done
}

# missing_line SUDO — the one line: what is missing and the command(s) to fix it.
missing_line() {
  local cmds="" c fix="" dirs=""
  for c in "${missing_cmds[@]}"; do cmds="${cmds:+$cmds, }$c"; done
  if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    fix="${1}apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
  fi
  if [ "${#off_path[@]}" -gt 0 ]; then
    for c in "${off_path[@]}"; do dirs="$dirs:$c"; done
    fix="${fix:+$fix && }export PATH=\"\$PATH$dirs\""
  fi
  if [ "${#off_path[@]}" -gt 0 ]; then
    echo "missing $cmds; fix with: $fix"
  else
    echo "missing $cmds; install with: $fix"
  fi
}

if [ "$mode" != test ] && [ "$(id -u)" != 0 ]; then
  fail "needs root (it installs Debian packages, starts dockerd and writes /var/cache/berth-e2e); run it as root, e.g. sudo $what"
fi

missing_tools
if [ "${#missing_cmds[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || [ "${#missing_pkgs[@]}" -eq 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "$(missing_line "$([ "$(id -u)" = 0 ] || echo 'sudo ')")"
  fi
  echo "berth: installing ${missing_pkgs[*]} (for $what)" >&2
  bash scripts/apt-ensure.sh "${missing_pkgs[@]}" >&2 || fail "apt-get failed; $(missing_line "")"
  hash -r
  missing_tools
  [ "${#missing_cmds[@]}" -eq 0 ] || fail "still $(missing_line "")"
fi

# --- 2. npm dependencies --------------------------------------------------------

stale() {
  [ ! -f node_modules/.package-lock.json ] || [ ! -x node_modules/.bin/node ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ]
}

if stale; then
  command -v npm >/dev/null 2>&1 || fail "npm is not on PATH; install Node.js (any recent npm), e.g. apt-get install -y npm"
  # One install at a time (two commands started together on a fresh clone).
  exec 9<package-lock.json
  flock 9
  if stale; then
    echo "berth: npm ci (node_modules missing or older than package-lock.json)" >&2
    npm ci --no-audit --no-fund >&2
    # "installed after the lock file changed", even if it was touched meanwhile.
    touch node_modules/.package-lock.json
  fi
  exec 9<&-
  [ -x node_modules/.bin/node ] || fail "npm ci did not install node_modules/.bin/node (the node devDependency)"
fi

#!/usr/bin/env bash
# End-to-end suite: berth against a disposable local VPS (see test/e2e/README.md).
#   bash test/e2e/run.sh           every file (npm run test:e2e), one after another (BERTH_E2E_LANES=2: two lanes, below):
#                                  scenarios 1-10, faults, the day-2 operations, backups, several hosts,
#                                  a single host grown into web + data hosts, a Debian 12 host (every other
#                                  file runs on Debian 13), issue 18's variants, a multi-database Rails app,
#                                  the four workflows as written on a git repository of stack files, deploys
#                                  from the app's repository and review apps, alerts and the automatic
#                                  rollback, a static frontend published after the backend's soak
#   bash test/e2e/run.sh --bench   scenarios 1-5, faults 1-4, backups, several hosts, frontend and alerts with figures -> bench/ (npm run bench)
#   bash test/e2e/run.sh FILE...   only those files, in that order (e.g. test/e2e/multi.test.ts)
# Installs what it needs (docker.io, debootstrap, pebble, jq, ...) and starts
# its own dockerd. Traffic stays on this machine and the containers it makes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bench=0
if [ "${1:-}" = "--bench" ]; then bench=1; fi

# Each file builds its own world (its own VPS, services set, domains and
# repository: world.ts; what worlds do share, and why it is safe side by side:
# test/e2e/README.md "Two lanes"); no file depends on another. By default the
# files run one after another; BERTH_E2E_LANES=2 runs them in two lanes side by
# side; each lane runs its files one after another (--test-concurrency=1,
# Node's runner taking them in the order of their paths), the lanes balanced
# by the files' durations in the runs' logs. On a machine that ran the suite
# before, about 31 min each on 2 cores (one lane: about 50 min); on a fresh
# machine (2026-12-08) 41 and 46 min, the files' times summing to 87 min
# against about 46 min of e2e in the last one-lane CI (also a fresh machine):
# no faster there. CI runs on a fresh machine, so one lane stays the default.
lane1=(test/e2e/workflows.test.ts test/e2e/faults.test.ts test/e2e/scenarios.test.ts
  test/e2e/multidb.test.ts test/e2e/oldstable.test.ts)
lane2=(test/e2e/review.test.ts test/e2e/multi.test.ts test/e2e/alerts.test.ts test/e2e/grow.test.ts
  test/e2e/ops.test.ts test/e2e/backup.test.ts test/e2e/variants.test.ts test/e2e/frontend.test.ts)
files=("${lane1[@]}" "${lane2[@]}")
if [ "$bench" = 0 ] && [ $# -gt 0 ]; then
  files=("$@")
  for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "run.sh: no such test file: $f" >&2; exit 2; }
  done
fi

# No ssh-agent: a stack with only berth:privateKey must work for the Docker
# provider's ssh too (the program hands it a key file), so the suite proves
# that instead of borrowing the developer's agent.
unset SSH_AUTH_SOCK SSH_AGENT_PID

# Debian packages (as root) and npm dependencies (npm ci when node_modules is
# missing or stale): the same step as `npm test`'s pretest hook.
bash scripts/ensure.sh e2e

# The host scripts start dockerd when it is not running and build (or reuse)
# the cached images: Debian 13's VPS (the default) and Debian 12's (oldstable.test.ts).
bash test/e2e/host/image.sh >&2
BERTH_E2E_SUITE=bookworm bash test/e2e/host/image.sh vps >&2

node=node_modules/.bin/node

if [ "$bench" = 1 ]; then
  mkdir -p bench
  out="$(mktemp)"
  faults="$(mktemp)"
  BERTH_BENCH_OUT="$out" "$node" --import tsx --test --test-concurrency=1 \
    --test-name-pattern='^[1-5]\. ' test/e2e/scenarios.test.ts
  # Hardening scores and switch/rollback figures under 16 keep-alive connections.
  BERTH_BENCH_OUT="$faults" "$node" --import tsx --test --test-concurrency=1 \
    --test-name-pattern='^[1-4]\. ' test/e2e/faults.test.ts
  "$node" --import tsx test/e2e/bench-report.ts "$out" bench "$faults"
  rm -f "$out" "$faults"
  # Backup and restore of a >= 200 MB database (all of test/e2e/backup.test.ts, its
  # scenario 7 included): bench/backup.json and the "Backups" section of bench/README.md.
  BERTH_BACKUP_BENCH_OUT=bench/backup.json "$node" --import tsx --test --test-concurrency=1 test/e2e/backup.test.ts
  # Several hosts: fresh fleet, release under load over both web hosts, rollback ->
  # bench/fleet.json and the "Several hosts" section of bench/README.md.
  BERTH_MULTI_BENCH_OUT=bench/fleet.json "$node" --import tsx --test --test-concurrency=1 test/e2e/multi.test.ts
  # Frontend and soak: the soak's overhead, the publish after the switch, a frontend-only change under
  # load (all of test/e2e/frontend.test.ts) -> bench/frontend.json and its section of bench/README.md.
  BERTH_FRONTEND_BENCH_OUT=bench/frontend.json "$node" --import tsx --test --test-concurrency=1 test/e2e/frontend.test.ts
  # Alerts: failure to alert, sustained failure to automatic rollback (all of test/e2e/alerts.test.ts)
  # -> bench/alerts.json and the "Alerts" section of bench/README.md.
  alerts="$(mktemp)"
  BERTH_BENCH_OUT="$alerts" "$node" --import tsx --test --test-concurrency=1 test/e2e/alerts.test.ts
  "$node" --import tsx test/e2e/bench-report.ts --alerts "$alerts" bench
  rm -f "$alerts"
elif [ $# -gt 0 ] || [ "${BERTH_E2E_LANES:-1}" != 2 ]; then
  "$node" --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
else
  lane() {
    local n="$1"; shift
    "$node" --import tsx --test --test-concurrency=1 --test-reporter=spec "$@" 2>&1 | sed -u "s/^/[$n] /"
  }
  lane 2 "${lane2[@]}" &
  pid2=$!
  rc1=0; lane 1 "${lane1[@]}" || rc1=$?
  rc2=0; wait "$pid2" || rc2=$?
  echo "e2e lanes: [1] exit $rc1, [2] exit $rc2"
  [ "$rc1" = 0 ] && [ "$rc2" = 0 ]
fi

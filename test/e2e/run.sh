#!/usr/bin/env bash
# End-to-end suite: berth against a disposable local VPS (see test/e2e/README.md).
#   bash test/e2e/run.sh           scenarios 1-10, then faults 1-9, then the day-2 operations, then backups,
#                                  then several hosts, then a single host grown into web + data, then a
#                                  Debian 12 host, then issue 18's variants (processes, schedules, an
#                                  accessory, SQLite), then a multi-database Rails app, then the four
#                                  workflows as written (workflows.test.ts: deploy-staging, deploy-production,
#                                  drift and pr on a git repository of stack files), then deploys from the
#                                  app's repository and review apps (review.test.ts), then alerts and the
#                                  automatic rollback (alerts.test.ts), then a static frontend published
#                                  after the backend's soak (frontend.test.ts) (npm run test:e2e; every
#                                  other file runs on Debian 13)
#   bash test/e2e/run.sh --bench   scenarios 1-5, faults 1-4, backups, several hosts, frontend and alerts with figures -> bench/ (npm run bench)
#   bash test/e2e/run.sh FILE...   only those files, in that order (e.g. test/e2e/multi.test.ts)
# Installs what it needs (docker.io, debootstrap, pebble, jq, ...) and starts
# its own dockerd. Traffic stays on this machine and the containers it makes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bench=0
if [ "${1:-}" = "--bench" ]; then bench=1; fi

# Each file builds its own world (its own VPS, services set and names), so the
# files run one after another (--test-concurrency=1). Node's runner takes them
# in the order of their paths (alerts, backup, faults, ... workflows: seen in
# the runs' logs), not the order of this list; no file depends on another.
files=(test/e2e/scenarios.test.ts test/e2e/faults.test.ts test/e2e/ops.test.ts test/e2e/backup.test.ts
  test/e2e/multi.test.ts test/e2e/grow.test.ts test/e2e/oldstable.test.ts test/e2e/variants.test.ts
  test/e2e/multidb.test.ts test/e2e/workflows.test.ts test/e2e/review.test.ts test/e2e/alerts.test.ts
  test/e2e/frontend.test.ts)
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
else
  "$node" --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
fi

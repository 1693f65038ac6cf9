#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack pr-7). Changes are overwritten by pulumi up.
umask 077
target="latest"
wanted=(shop_staging)
rs() { restic --repo sftp:shop@backup.example.net:/srv/restic/shop-staging --password-file /etc/berth/shop-staging/backup/password --cache-dir /var/cache/berth/shop-pr-7/restic -o 'sftp.command=ssh -F /dev/null -i /etc/berth/shop-staging/backup/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-staging/backup/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 22 shop@backup.example.net -s sftp' "$@"; }
pg() { docker exec -i shop-pr-7-postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }
for attempt in $(seq 1 60); do if docker exec shop-pr-7-postgres pg_isready -q -U postgres -h 127.0.0.1; then break; fi; if [ "$attempt" -eq 60 ]; then exit 1; fi; sleep 2; done
case "$target" in
  latest) run="$(rs snapshots --json --host shop-staging --tag berth | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  sha:*) [[ "$target" =~ ^sha:[0-9a-f]{40}$ ]] || { echo "berth-shop-pr-7-seed: $target is not sha:<40 hex digits>" >&2; exit 64; }
    run="$(rs snapshots --json --host shop-staging --tag "berth,$target" | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  *) [[ "$target" =~ ^[0-9a-f]{8,64}$ ]] || { echo "berth-shop-pr-7-seed: $target is not latest, a snapshot id or sha:<sha>" >&2; exit 64; }
    run="$(rs snapshots --json "$target" | jq -r '.[0].tags[]? | select(startswith("run:"))')" ;;
esac
if [ -z "$run" ]; then echo "berth-shop-pr-7-seed: no berth snapshot matches $target" >&2; exit 1; fi
listing="$(rs snapshots --json --host shop-staging --tag "$run" | jq -r '.[] | "\(.id) \(.paths[0])"')"
mapfile -t picked <<<"$listing"
echo "berth-shop-pr-7-seed: using backup run ${run#run:} (${#picked[@]} snapshot(s))"
seeded=0
for line in "${picked[@]}"; do
  id="${line%% *}"
  path="${line#* }"
  case "$path" in /postgres-*.dump | /postgres/*.dump) ;; *) continue ;; esac
  db="${path#/postgres[-/]}"
  db="${db%.dump}"
  [[ "$db" =~ ^[A-Za-z0-9_-]{1,63}$ ]] || { echo "berth-shop-pr-7-seed: unexpected database name in $path" >&2; exit 1; }
  case " ${wanted[*]} " in *" $db "*) ;; *) echo "berth-shop-pr-7-seed: $db is not a database of this stack; skipped"; continue ;; esac
  if [ "$(pg -d postgres -v db="$db" <<<'SELECT count(*) FROM pg_database WHERE datname = :'"'"'db'"'"';')" != 0 ]; then echo "berth-shop-pr-7-seed: $db exists; left as it is"; continue; fi
  printf '%s\n' 'CREATE DATABASE :"db" OWNER :"role";' | pg -d postgres -v db="$db" -v role=shop_pr_7
  rs dump "$id" "$path" | docker exec -i shop-pr-7-postgres pg_restore -U postgres --no-owner --no-privileges --role=shop_pr_7 --exit-on-error --single-transaction -d "$db"
  echo "berth-shop-pr-7-seed: $db restored from snapshot ${id:0:8}"
  seeded=$((seeded + 1))
done
echo "berth-shop-pr-7-seed: ${seeded} database(s) restored from run ${run#run:} of shop-staging"

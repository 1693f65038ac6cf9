#!/usr/bin/env bash
set -euo pipefail
umask 022
changed=0
tmp=$(mktemp /usr/local/sbin/berth-shop-production-backup.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
# Usage: /usr/local/sbin/berth-shop-production-backup [scheduled|release|manual] [sha]
# Dumps every database the app role owns into the restic repository (encrypted, off host).
umask 077
reason="${1:-manual}"
sha="${2:-}"
case "$reason" in scheduled | release | manual) ;; *) echo 'usage: /usr/local/sbin/berth-shop-production-backup [scheduled|release|manual] [sha]' >&2; exit 64 ;; esac
if [ -n "$sha" ] && ! [[ "$sha" =~ ^[0-9a-f]{40}$ ]]; then echo 'berth-shop-production-backup: the sha must be 40 hex digits' >&2; exit 64; fi
exec 9>/run/lock/berth-shop-production-backup.lock
flock -w 3600 9 || { echo 'berth-shop-production-backup: another backup or restore of shop-production is still running' >&2; exit 75; }
rs() { restic --repo sftp:shop@backup.example.net:/srv/restic/shop-production --password-file /etc/berth/shop-production/backup/password --cache-dir /var/cache/berth/shop-production/restic -o 'sftp.command=ssh -F /dev/null -i /etc/berth/shop-production/backup/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-production/backup/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 22 shop@backup.example.net -s sftp' "$@"; }
pg() { docker exec -i shop-production-postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }
run="$(date -u +%Y%m%dT%H%M%SZ)-$$"
tags=(--tag berth --tag production --tag "reason:$reason" --tag "run:$run")
if [ -n "$sha" ]; then tags+=(--tag "sha:$sha"); fi
# An assignment, not a process substitution: a failing psql (e.g. Postgres down) fails the backup.
owned="$({ cat <<'SQL'
SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = :'role' AND NOT d.datistemplate ORDER BY 1;
SQL
} | pg -d postgres -v role=shop_production)"
mapfile -t dbs <<<"$owned"
failed=0
saved=0
for db in "${dbs[@]}"; do
  [ -n "$db" ] || continue
  t0=$SECONDS
  if docker exec shop-production-postgres pg_dump -U postgres -Fc -Z0 -d "$db" | rs backup --host shop-production --stdin --stdin-filename "postgres-$db.dump" "${tags[@]}" --tag "db:$db"; then
    echo "berth-shop-production-backup: database $db saved in $((SECONDS - t0))s"
    saved=$((saved + 1))
  else
    echo "berth-shop-production-backup: backing up database $db FAILED" >&2
    failed=1
    break
  fi
done
if [ "$failed" = 1 ]; then
  partial="$(rs snapshots --json --tag "run:$run" 2>/dev/null | jq -r '.[].id' || true)"
  if [ -n "$partial" ]; then mapfile -t ids <<<"$partial"; rs forget "${ids[@]}" >/dev/null 2>&1 || true; fi
  echo "berth-shop-production-backup: FAILED; no snapshot of run $run is kept" >&2
  exit 1
fi
if [ "$saved" = 0 ]; then
  echo 'berth-shop-production-backup: role shop_production owns no database yet; nothing to back up'
fi
if [ "$reason" = scheduled ]; then
  rs forget --host shop-production --tag berth --group-by host,paths --keep-within 7d --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune
fi
echo "berth-shop-production-backup: run $run done ($saved database(s), reason $reason${sha:+, sha $sha})"
BERTH_EOF
chmod 0700 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /usr/local/sbin/berth-shop-production-backup && [ "$(stat -c '%a %U:%G' /usr/local/sbin/berth-shop-production-backup)" = '700 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /usr/local/sbin/berth-shop-production-backup; changed=1; fi
tmp=$(mktemp /usr/local/sbin/berth-shop-production-restore.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
# Usage: /usr/local/sbin/berth-shop-production-restore [latest|<snapshot id>|sha:<release sha>]
# Restores every database of that backup run: each into a scratch database while the app
# still serves, then the app is stopped, the scratch databases replace the live ones, and
# the app is started again. A failure before the swap leaves the live databases untouched.
umask 077
target="${1:-latest}"
exec 9>/run/lock/berth-shop-production-backup.lock
flock -w 3600 9 || { echo 'berth-shop-production-restore: another backup or restore of shop-production is still running' >&2; exit 75; }
rs() { restic --repo sftp:shop@backup.example.net:/srv/restic/shop-production --password-file /etc/berth/shop-production/backup/password --cache-dir /var/cache/berth/shop-production/restic -o 'sftp.command=ssh -F /dev/null -i /etc/berth/shop-production/backup/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-production/backup/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 22 shop@backup.example.net -s sftp' "$@"; }
pg() { docker exec -i shop-production-postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }
case "$target" in
  latest) run="$(rs snapshots --json --host shop-production --tag berth | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  sha:*) [[ "$target" =~ ^sha:[0-9a-f]{40}$ ]] || { echo "berth-shop-production-restore: $target is not sha:<40 hex digits>" >&2; exit 64; }
    run="$(rs snapshots --json --host shop-production --tag "berth,$target" | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  *) [[ "$target" =~ ^[0-9a-f]{8,64}$ ]] || { echo "berth-shop-production-restore: $target is not latest, a snapshot id or sha:<sha>" >&2; exit 64; }
    run="$(rs snapshots --json "$target" | jq -r '.[0].tags[]? | select(startswith("run:"))')" ;;
esac
if [ -z "$run" ]; then echo "berth-shop-production-restore: no berth snapshot matches $target" >&2; exit 1; fi
listing="$(rs snapshots --json --host shop-production --tag "$run" | jq -r '.[] | "\(.id) \(.paths[0])"')"
mapfile -t picked <<<"$listing"
echo "berth-shop-production-restore: using backup run ${run#run:} (${#picked[@]} snapshot(s))"
restored=()
for line in "${picked[@]}"; do
  id="${line%% *}"
  path="${line#* }"
  case "$path" in /postgres-*.dump | /postgres/*.dump) ;; *) continue ;; esac
  db="${path#/postgres[-/]}"
  db="${db%.dump}"
  [[ "$db" =~ ^[A-Za-z0-9_-]{1,63}$ ]] || { echo "berth-shop-production-restore: unexpected database name in $path" >&2; exit 1; }
  scratch="${db:0:40}__berth_restore"
  echo "berth-shop-production-restore: restoring $db from snapshot ${id:0:8} into $scratch"
  printf '%s\n' 'DROP DATABASE IF EXISTS :"scratch" WITH (FORCE);' 'CREATE DATABASE :"scratch" OWNER :"role";' | pg -d postgres -v scratch="$scratch" -v role=shop_production
  rs dump "$id" "$path" | docker exec -i shop-production-postgres pg_restore -U postgres --exit-on-error --single-transaction -d "$scratch"
  restored+=("$db")
done
if [ "${#restored[@]}" = 0 ]; then echo "berth-shop-production-restore: the run holds no database" >&2; exit 1; fi
active=()
for unit in berth-shop-production-web@blue.service berth-shop-production-web@green.service berth-shop-production-worker.service; do
  if systemctl is-active --quiet "$unit"; then active+=("$unit"); fi
done
start_app() { if [ "${#active[@]}" -gt 0 ]; then systemctl start "${active[@]}"; echo "berth-shop-production-restore: started ${active[*]}"; fi; }
trap start_app EXIT
if [ "${#active[@]}" -gt 0 ]; then systemctl stop "${active[@]}"; echo "berth-shop-production-restore: stopped ${active[*]}"; fi
for db in "${restored[@]}"; do
  scratch="${db:0:40}__berth_restore"
  printf '%s\n' 'DROP DATABASE IF EXISTS :"db" WITH (FORCE);' 'ALTER DATABASE :"scratch" RENAME TO :"db";' | pg -d postgres -v db="$db" -v scratch="$scratch"
  echo "berth-shop-production-restore: database $db restored"
done
echo "berth-shop-production-restore: restored ${#restored[@]} database(s) from run ${run#run:}"
BERTH_EOF
chmod 0700 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /usr/local/sbin/berth-shop-production-restore && [ "$(stat -c '%a %U:%G' /usr/local/sbin/berth-shop-production-restore)" = '700 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /usr/local/sbin/berth-shop-production-restore; changed=1; fi
tmp=$(mktemp /usr/local/sbin/berth-shop-production-restore-test.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
# Usage: /usr/local/sbin/berth-shop-production-restore-test
# Restores the latest backup run into scratch databases and checks them; exit 1 on any problem.
umask 077
target=latest
exec 9>/run/lock/berth-shop-production-backup.lock
flock -w 3600 9 || { echo 'berth-shop-production-restore-test: another backup or restore of shop-production is still running' >&2; exit 75; }
rs() { restic --repo sftp:shop@backup.example.net:/srv/restic/shop-production --password-file /etc/berth/shop-production/backup/password --cache-dir /var/cache/berth/shop-production/restic -o 'sftp.command=ssh -F /dev/null -i /etc/berth/shop-production/backup/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-production/backup/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 22 shop@backup.example.net -s sftp' "$@"; }
pg() { docker exec -i shop-production-postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres "$@"; }
fail() { echo "berth-shop-production-restore-test: FAILED: $*" >&2; exit 1; }
scratch=""
cleanup() { if [ -n "$scratch" ]; then printf '%s\n' 'DROP DATABASE IF EXISTS :"scratch" WITH (FORCE);' | pg -d postgres -v scratch="$scratch" || true; fi; }
trap cleanup EXIT
rs check || fail "restic check found a damaged repository"
case "$target" in
  latest) run="$(rs snapshots --json --host shop-production --tag berth | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  sha:*) [[ "$target" =~ ^sha:[0-9a-f]{40}$ ]] || { echo "berth-shop-production-restore-test: $target is not sha:<40 hex digits>" >&2; exit 64; }
    run="$(rs snapshots --json --host shop-production --tag "berth,$target" | jq -r 'sort_by(.time) | last // empty | .tags[] | select(startswith("run:"))')" ;;
  *) [[ "$target" =~ ^[0-9a-f]{8,64}$ ]] || { echo "berth-shop-production-restore-test: $target is not latest, a snapshot id or sha:<sha>" >&2; exit 64; }
    run="$(rs snapshots --json "$target" | jq -r '.[0].tags[]? | select(startswith("run:"))')" ;;
esac
if [ -z "$run" ]; then echo "berth-shop-production-restore-test: no berth snapshot matches $target" >&2; exit 1; fi
listing="$(rs snapshots --json --host shop-production --tag "$run" | jq -r '.[] | "\(.id) \(.paths[0])"')"
mapfile -t picked <<<"$listing"
echo "berth-shop-production-restore-test: using backup run ${run#run:} (${#picked[@]} snapshot(s))"
tested=0
for line in "${picked[@]}"; do
  id="${line%% *}"
  path="${line#* }"
  case "$path" in /postgres-*.dump | /postgres/*.dump) ;; *) continue ;; esac
  db="${path#/postgres[-/]}"
  db="${db%.dump}"
  [[ "$db" =~ ^[A-Za-z0-9_-]{1,63}$ ]] || { echo "berth-shop-production-restore-test: unexpected database name in $path" >&2; exit 1; }
  scratch="${db:0:40}__berth_restore_test"
  ( printf '%s\n' 'DROP DATABASE IF EXISTS :"scratch" WITH (FORCE);' 'CREATE DATABASE :"scratch" OWNER :"role";' | pg -d postgres -v scratch="$scratch" -v role=shop_production && rs dump "$id" "$path" | docker exec -i shop-production-postgres pg_restore -U postgres --exit-on-error --single-transaction -d "$scratch" ) || fail "snapshot ${id:0:8} of $db could not be restored"
  tables="$(pg -d "$scratch" -c "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
  [ "$tables" -gt 0 ] || fail "the restored $db holds no table"
  counts="$({
    cat <<'SQL'
SELECT format('SELECT %L, count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 \gexec
SQL
  } | pg -d "$scratch" -F ' ')"
  rows=0
  while read -r table count; do
    [[ "$count" =~ ^[0-9]+$ ]] || fail "could not count the rows of $db.$table"
    echo "berth-shop-production-restore-test: $db: $table: $count rows"
    rows=$((rows + count))
  done <<<"$counts"
  echo "berth-shop-production-restore-test: $db: snapshot ${id:0:8} restores: $tables tables, $rows rows"
  printf '%s\n' 'DROP DATABASE :"scratch" WITH (FORCE);' | pg -d postgres -v scratch="$scratch"
  scratch=""
  tested=$((tested + 1))
done
[ "$tested" -gt 0 ] || fail "the latest run holds no database"
echo "berth-shop-production-restore-test: OK: $tested database(s) of run ${run#run:} restore"
BERTH_EOF
chmod 0700 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /usr/local/sbin/berth-shop-production-restore-test && [ "$(stat -c '%a %U:%G' /usr/local/sbin/berth-shop-production-restore-test)" = '700 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /usr/local/sbin/berth-shop-production-restore-test; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-production-backup.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-production: encrypted off-host backup of the database
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-shop-production-backup scheduled
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
SyslogIdentifier=berth-shop-production-backup
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-production-backup.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-production-backup.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-production-backup.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-production-backup.timer.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-production: scheduled database backup

[Timer]
OnCalendar=*-*-* 03:15:00
Persistent=true

[Install]
WantedBy=timers.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-production-backup.timer && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-production-backup.timer)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-production-backup.timer; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-production-restore-test.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-production: restore test of the latest database backup
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-shop-production-restore-test
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
SyslogIdentifier=berth-shop-production-restore-test
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-production-restore-test.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-production-restore-test.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-production-restore-test.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-production-restore-test.timer.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-production: scheduled restore test

[Timer]
OnCalendar=Sun *-*-* 04:30:00
Persistent=true

[Install]
WantedBy=timers.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-production-restore-test.timer && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-production-restore-test.timer)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-production-restore-test.timer; changed=1; fi
if [ "$changed" = 1 ]; then systemctl daemon-reload; echo "berth: backup scripts and units updated"; else echo "berth: backup scripts and units unchanged"; fi
systemctl enable --now --quiet berth-shop-production-backup.timer berth-shop-production-restore-test.timer

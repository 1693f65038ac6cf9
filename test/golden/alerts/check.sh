#!/usr/bin/env bash
set -euo pipefail
umask 022
# Managed by berth (project berth, stack alerts). Changes are overwritten by pulumi up.
# berth check of shop-alerts on host main: failed units, disks, certificate, health through nginx, automatic rollback
root=${BERTH_ROOT:-}
state="$root/var/lib/berth/shop-alerts/alerts"
alert=${BERTH_ALERT:-/usr/local/sbin/berth-shop-alerts-alert}
install -d -m 0700 "$state"
now=$(date +%s)
auto_rollback() {
  local since=$1 rev switched active idle prev prev_rev answer drain t0=$EPOCHREALTIME
  rev=$(cat "$root/srv/berth/shop-alerts/state/revision" 2>/dev/null) || return 0
  switched=$(stat -c %Y "$root/srv/berth/shop-alerts/state/revision")
  [ "$since" -ge "$switched" ] && [ $((now - switched)) -le 600 ] && [ $((now - since)) -ge 120 ] || return 0
  [ -e "$state/rolled-back-$rev" ] && return 0
  exec 9>>"$root/run/lock/berth-host.lock"
  if ! flock -n 9; then echo "berth: a berth operation holds the host lock; the automatic rollback waits for the next check" >&2; return 0; fi
  touch "$state/rolled-back-$rev"
  active=$(cat "$root/srv/berth/shop-alerts/state/color" 2>/dev/null || true)
  case "$active" in blue) idle=green ;; green) idle=blue ;; *) return 0 ;; esac
  prev=$(readlink -f "$root/srv/berth/shop-alerts/slots/""$idle" 2>/dev/null || true)
  prev_rev=$(sed -n 's/^REVISION=//p' "$root/srv/berth/shop-alerts/slots/""$idle.env" 2>/dev/null || true)
  if [ -z "$prev_rev" ] || [ "$prev_rev" = "$rev" ]; then "$alert" event "automatic rollback of $rev not possible: no other release kept on $idle" || true; return 0; fi
  if ! systemctl is-active --quiet berth-shop-alerts-web@"$idle.service" || ! systemctl is-active --quiet berth-shop-alerts-proxy@"$idle.socket"; then "$alert" event "automatic rollback of $rev not possible: the kept release $prev_rev no longer runs (rollback window over)" || true; return 0; fi
  answer=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$root/run/berth-shop-alerts/""$idle.sock" -H 'Host: alerts.shop.example.com' -H 'X-Real-IP: 127.0.0.1' -H 'X-Forwarded-For: 127.0.0.1' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: alerts.shop.example.com' http://alerts.shop.example.com/up 2>/dev/null || true)
  if [ "$answer" != 200 ]; then "$alert" event "automatic rollback of $rev not done: the kept release $prev_rev answers $answer on /up too" || true; return 0; fi
  systemctl stop berth-shop-alerts-drain-"$idle.timer" 2>/dev/null || true
  systemctl enable --quiet --no-reload berth-shop-alerts-web@"$idle.service" berth-shop-alerts-proxy@"$idle.socket" || true
  ln -sfn /run/berth-shop-alerts/"$idle.sock" "$root/srv/berth/shop-alerts/web.sock.berth-new" && mv -T "$root/srv/berth/shop-alerts/web.sock.berth-new" "$root/srv/berth/shop-alerts/web.sock"
  ln -sfn "${prev#"$root"}" "$root/srv/berth/shop-alerts/current.berth-new" && mv -T "$root/srv/berth/shop-alerts/current.berth-new" "$root/srv/berth/shop-alerts/current"
  echo "$idle" > "$root/srv/berth/shop-alerts/state/color"
  echo "$prev_rev" > "$root/srv/berth/shop-alerts/state/revision"
  touch "$state/rolled-back-$prev_rev"
  systemctl disable --quiet --no-reload berth-shop-alerts-web@"$active.service" berth-shop-alerts-proxy@"$active.socket" || true
  drain=berth-shop-alerts-drain-"$active"
  systemctl stop "$drain.timer" 2>/dev/null || true
  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true
  systemd-run --quiet --collect --unit="$drain" --on-active=60 -p Conflicts=berth-shop-alerts-proxy@"$active.socket" -p Conflicts=berth-shop-alerts-web@"$active.service" -p DynamicUser=yes -p NoNewPrivileges=yes -p ProtectSystem=strict -p ProtectHome=yes -p PrivateTmp=yes -p PrivateDevices=yes -p ProtectKernelTunables=yes -p ProtectKernelModules=yes -p ProtectKernelLogs=yes -p ProtectControlGroups=yes -p ProtectClock=yes -p ProtectHostname=yes -p RestrictSUIDSGID=yes -p RestrictNamespaces=yes -p RestrictRealtime=yes -p LockPersonality=yes -p PrivateUsers=yes -p PrivateIPC=yes -p ProtectProc=invisible -p ProcSubset=pid -p CapabilityBoundingSet= -p AmbientCapabilities= -p RestrictAddressFamilies=AF_UNIX -p 'RestrictAddressFamilies=~AF_UNIX' -p IPAddressDeny=any -p DevicePolicy=closed -p MemoryDenyWriteExecute=yes -p SystemCallArchitectures=native -p SystemCallFilter=@system-service -p 'SystemCallFilter=~@privileged @resources' -p SystemCallErrorNumber=EPERM -p UMask=0077 /bin/true || true
  systemctl restart berth-shop-alerts-worker.service || true
  ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rev" "$prev_rev" "$ms" >> "$root/var/lib/berth/shop-alerts/alerts/auto-rollbacks"
  "$alert" event "automatic rollback: release $rev failed /up through nginx for $((now - since))s within 600s of its switch; traffic moved back to the kept release $prev_rev in ${ms} ms. The stack still names $rev: record the rollback with npx berth rollback -s alerts $prev_rev" 'npx berth logs -s alerts web' || true
}
failed=$(systemctl list-units --failed --plain --no-legend --no-pager 'berth-shop-alerts-*' 2>/dev/null | awk '{ print $1 }')
for u in $failed; do "$alert" unit "$u" || true; done
for f in "$state"/unit-*.firing; do
  [ -e "$f" ] || continue
  u=${f##*/unit-}
  u=${u%.firing}
  if ! grep -qxF "$u" <<<"$failed"; then "$alert" resolve "unit-$u" || true; fi
done
pct=$(df --output=pcent -- / 2>/dev/null | tail -n 1 | tr -dc '0-9')
if [ -z "$pct" ]; then echo 'berth: cannot read the use of /' >&2
elif [ "$pct" -gt 90 ]; then "$alert" fire disk-root 'disk / is '"$pct% full (alert above 90%)" 'df -h /; du -xhd1 / | sort -h | tail (on host main)' || true
else "$alert" resolve disk-root || true; fi
pct=$(df --output=pcent -- /srv 2>/dev/null | tail -n 1 | tr -dc '0-9')
if [ -z "$pct" ]; then echo 'berth: cannot read the use of /srv' >&2
elif [ "$pct" -gt 90 ]; then "$alert" fire disk-srv 'disk /srv is '"$pct% full (alert above 90%)" 'df -h /srv; du -xhd1 /srv | sort -h | tail (on host main)' || true
else "$alert" resolve disk-srv || true; fi
cert="$root/etc/letsencrypt/live/berth-shop-alerts/cert.pem"
if [ -f "$cert" ]; then
  if openssl x509 -checkend 1209600 -noout -in "$cert" >/dev/null 2>&1; then "$alert" resolve cert || true
  else
    end=$(openssl x509 -enddate -noout -in "$cert" 2>/dev/null | sed 's/^notAfter=//')
    "$alert" fire cert 'certificate berth-shop-alerts expires '"$end"' (less than 14 days left: is its renewal failing?)' 'journalctl -u certbot.service; certbot certificates (on host main)' || true
  fi
fi
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 --resolve alerts.shop.example.com:443:127.0.0.1 https://alerts.shop.example.com/up 2>/dev/null || true)
hf="$state/health.failing"
if [ "$code" = 200 ]; then
  rm -f "$hf"
  "$alert" resolve health || true
else
  [ -e "$hf" ] || echo "$now" > "$hf"
  read -r since < "$hf"
  if [ $((now - since)) -ge 180 ]; then "$alert" fire health 'health https://alerts.shop.example.com/up through nginx fails'" (last answer $code)" 'npx berth logs -s alerts web; npx berth logs -s alerts nginx' "$(date -u -d "@$since" +%Y-%m-%dT%H:%M:%SZ)" || true; fi
  auto_rollback "$since"
fi
exit 0

set -euo pipefail
umask 022
t0=$EPOCHREALTIME
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: switch of shop-processes: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: switch of shop-processes: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
rev=5f8008de1dd704ea09395bd87621f1d32eeac017
rel=/srv/berth/shop-processes/releases/5f8008de1dd704ea09395bd87621f1d32eeac017
stamp='5f8008de1dd704ea09395bd87621f1d32eeac017 env:eeeeeeeeeeeeeeee units:uuuuuuuuuuuuuuuu'
if [ ! -f "$rel/.berth-built" ]; then echo "berth: release $rev is not built on this host" >&2; exit 1; fi
install -d -m 0755 /srv/berth/shop-processes/state
active=$(cat /srv/berth/shop-processes/state/color 2>/dev/null || true)
port_of() { if [ "$1" = blue ]; then echo 21154; else echo 21155; fi; }
web_unit() { echo berth-shop-processes-web@"$1".service; }
proxy_socket() { echo berth-shop-processes-proxy@"$1".socket; }
proxy_service() { echo berth-shop-processes-proxy@"$1".service; }
drain_unit() { echo berth-shop-processes-drain-"$1"; }
serving() { [ "$(readlink /srv/berth/shop-processes/web.sock 2>/dev/null)" = /run/berth-shop-processes/"$1.sock" ]; }
probe() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 --unix-socket /run/berth-shop-processes/"$1.sock" -H 'Host: jobs.shop.example.com' -H 'X-Real-IP: 127.0.0.1' -H 'X-Forwarded-For: 127.0.0.1' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: jobs.shop.example.com' http://jobs.shop.example.com/up || true; }
instance_ok() { [ "$(cat /srv/berth/shop-processes/state/"$1.stamp" 2>/dev/null)" = "$stamp" ] && systemctl is-active --quiet "$(web_unit "$1")" && systemctl is-active --quiet "$(proxy_socket "$1")" && answer=$(probe "$1") && [ "${answer%% *}" = 200 ]; }
if [ -n "$active" ] && serving "$active" && instance_ok "$active"; then
  echo "berth: release $rev already serving on $active"
  exit 0
fi
if [ "$active" = blue ]; then idle=green; else idle=blue; fi
port=$(port_of "$idle")
idle_unit=$(web_unit "$idle")
systemctl stop "$(drain_unit "$idle").timer" 2>/dev/null || true
if instance_ok "$idle"; then
  echo "berth: release $rev is still running on $idle (rollback window): moving traffic only"
else
  systemctl stop "$(proxy_socket "$idle")" "$idle_unit" 2>/dev/null || true
  rm -f /srv/berth/shop-processes/state/"$idle.stamp"
  ln -sfn "$rel" /srv/berth/shop-processes/slots/"$idle"
  printf '# Managed by berth (project %s, stack %s)\nPORT=%s\nREVISION=%s\n' berth processes "$port" "$rev" > /srv/berth/shop-processes/slots/"$idle.env"
  systemctl reset-failed "$idle_unit" "$(proxy_service "$idle")" 2>/dev/null || true
  systemctl start "$idle_unit" "$(proxy_socket "$idle")"
  echo "berth: started release $rev on $idle (127.0.0.1:$port), waiting for /up"
  deadline=$((SECONDS + 60))
  healthy=0
  answer='000 '
  while [ "$SECONDS" -lt "$deadline" ]; do
    answer=$(probe "$idle")
    if [ "${answer%% *}" = 200 ]; then healthy=1; break; fi
    if systemctl is-failed --quiet "$idle_unit"; then break; fi
    sleep 0.5
  done
  if [ "$healthy" != 1 ]; then
    code=${answer%% *}
    location=${answer#* }
    if [ -n "$location" ]; then
      echo "berth: release $rev is unhealthy: /up answered $code to $location — the app redirects the probe (force_ssl without X-Forwarded-Proto? config.hosts?). The probe sends what nginx sends: Host: jobs.shop.example.com, X-Real-IP: 127.0.0.1, X-Forwarded-For: 127.0.0.1, X-Forwarded-Proto: https, X-Forwarded-Host: jobs.shop.example.com. Traffic stays on ${active:-nothing} (nginx untouched). Last log lines of $idle_unit:" >&2
    else
      if [ "$code" = 000 ]; then last="no answer"; else last="last answer: $code"; fi
      echo "berth: release $rev is unhealthy: /up on $idle (127.0.0.1:$port) did not answer 200 within 60s ($last). Traffic stays on ${active:-nothing} (nginx untouched). Last log lines of $idle_unit:" >&2
    fi
    systemctl stop "$(proxy_socket "$idle")" "$idle_unit" || true
    journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true
    exit 1
  fi
  echo "$stamp" > /srv/berth/shop-processes/state/"$idle.stamp"
fi
systemctl enable --quiet --no-reload "$idle_unit" "$(proxy_socket "$idle")"
ln -sfn /run/berth-shop-processes/"$idle.sock" /srv/berth/shop-processes/web.sock.berth-new
mv -T /srv/berth/shop-processes/web.sock.berth-new /srv/berth/shop-processes/web.sock
echo "berth: traffic moved to $idle $(elapsed)s after the switch started"
upstream=/etc/nginx/berth/shop-processes-upstream.conf
install -d -m 0755 /etc/nginx/berth
cp -p "$upstream" "$upstream.berth-prev" 2>/dev/null || true
changed=0
tmp=$(mktemp /etc/nginx/berth/shop-processes-upstream.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
upstream berth_shop_processes {
    server unix:/srv/berth/shop-processes/web.sock max_fails=0;
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/berth/shop-processes-upstream.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/berth/shop-processes-upstream.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/berth/shop-processes-upstream.conf; changed=1; fi
if [ "$changed" = 1 ]; then
  if ! nginx -t -q; then
    if [ -f "$upstream.berth-prev" ]; then mv -f "$upstream.berth-prev" "$upstream"; fi
    echo 'berth: nginx -t rejected the upstream of shop-processes; nothing switched' >&2
    exit 1
  fi
  if systemctl is-active --quiet nginx; then systemctl reload nginx; fi
fi
rm -f "$upstream.berth-prev"
ln -sfn "$rel" /srv/berth/shop-processes/current.berth-new && mv -T /srv/berth/shop-processes/current.berth-new /srv/berth/shop-processes/current
echo "$idle" > /srv/berth/shop-processes/state/color
echo "$rev" > /srv/berth/shop-processes/state/revision
if [ -n "$active" ] && [ "$active" != "$idle" ]; then
  systemctl disable --quiet --no-reload "$(web_unit "$active")" "$(proxy_socket "$active")" || true
  drain=$(drain_unit "$active")
  systemctl stop "$drain.timer" 2>/dev/null || true
  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true
  systemd-run --quiet --collect --unit="$drain" --on-active=300 -p Conflicts="$(proxy_socket "$active")" -p Conflicts="$(web_unit "$active")" -p DynamicUser=yes -p NoNewPrivileges=yes -p ProtectSystem=strict -p ProtectHome=yes -p PrivateTmp=yes -p PrivateDevices=yes -p ProtectKernelTunables=yes -p ProtectKernelModules=yes -p ProtectKernelLogs=yes -p ProtectControlGroups=yes -p ProtectClock=yes -p ProtectHostname=yes -p RestrictSUIDSGID=yes -p RestrictNamespaces=yes -p RestrictRealtime=yes -p LockPersonality=yes -p PrivateUsers=yes -p PrivateIPC=yes -p ProtectProc=invisible -p ProcSubset=pid -p CapabilityBoundingSet= -p AmbientCapabilities= -p RestrictAddressFamilies=AF_UNIX -p 'RestrictAddressFamilies=~AF_UNIX' -p IPAddressDeny=any -p DevicePolicy=closed -p MemoryDenyWriteExecute=yes -p SystemCallArchitectures=native -p SystemCallFilter=@system-service -p 'SystemCallFilter=~@privileged @resources' -p SystemCallErrorNumber=EPERM -p UMask=0077 /bin/true
fi
instances() {
  { systemctl list-units --all --plain --no-legend --full "$1*.service" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]service$/) { print $i; break } }'
    find /etc/systemd/system -path "*.wants/$1*.service" -printf '%f\n' 2>/dev/null; } | sort -u
}
systemctl enable --quiet berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service
systemctl restart berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service
echo 'berth: worker: 2 instances on release '"$rev"
for u in $(instances berth-shop-processes-worker@); do
  i=${u#berth-shop-processes-worker@}
  i=${i%.service}
  case "$i" in ''|*[!0-9]*) ;; *) if [ "$i" -ge 1 ] && [ "$i" -le 2 ]; then continue; fi ;; esac
  systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true
  echo "berth: stopped $u (worker runs 2 on this host)"
done
systemctl enable --quiet berth-shop-processes-mailer@1.service
systemctl restart berth-shop-processes-mailer@1.service
echo 'berth: mailer: 1 instance on release '"$rev"
for u in $(instances berth-shop-processes-mailer@); do
  i=${u#berth-shop-processes-mailer@}
  i=${i%.service}
  case "$i" in ''|*[!0-9]*) ;; *) if [ "$i" -ge 1 ] && [ "$i" -le 1 ]; then continue; fi ;; esac
  systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true
  echo "berth: stopped $u (mailer runs 1 on this host)"
done
echo "berth: release $rev serving on $idle (127.0.0.1:$port); the previous instance stays up for 300s (drain or rollback window, the longer)"
keep=$( { readlink -f /srv/berth/shop-processes/current; readlink -f /srv/berth/shop-processes/slots/blue; readlink -f /srv/berth/shop-processes/slots/green; } 2>/dev/null || true)
find /srv/berth/shop-processes/releases -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\n' | sort -rn | tail -n +6 | cut -d' ' -f2- | while read -r old; do
  if ! grep -qxF "$old" <<<"$keep"; then rm -rf --one-file-system "$old"; echo "berth: pruned $old"; fi
done
prune_assets() {
  local union=/srv/berth/shop-processes/shared/public/assets r kept have gone
  if [ ! -d "$union" ] || [ -L "$union" ]; then return 0; fi
  for r in /srv/berth/shop-processes/releases/[0-9a-f]*/; do
    if [ -L "${r}public/assets" ]; then echo "berth: kept $union whole: release $(basename "$r") links it (built by an earlier berth)"; return 0; fi
  done
  kept=$(mktemp) || return 1
  have=$(mktemp) || { rm -f "$kept"; return 1; }
  gone=$(mktemp) || { rm -f "$kept" "$have"; return 1; }
  for r in /srv/berth/shop-processes/releases/[0-9a-f]*/; do
    if [ -d "${r}public/assets" ]; then
      (cd "${r}public/assets" && find . -name '.?*' -prune -o ! -type d -printf '%P\0') >>"$kept" || { rm -f "$kept" "$have" "$gone"; return 1; }
    fi
  done
  (cd "$union" && find . -mindepth 1 ! -type d -printf '%P\0') >"$have" || { rm -f "$kept" "$have" "$gone"; return 1; }
  if ! { LC_ALL=C sort -zu -o "$kept" "$kept" && LC_ALL=C sort -zu -o "$have" "$have" && LC_ALL=C comm -z -23 "$have" "$kept" >"$gone"; }; then rm -f "$kept" "$have" "$gone"; return 1; fi
  if [ -s "$gone" ]; then
    (cd "$union" && xargs -0r rm -f -- <"$gone")
    find "$union" -mindepth 1 -depth -type d -empty -delete
    echo "berth: pruned $(tr -cd '\0' <"$gone" | wc -c) files from $union that no kept release has"
  fi
  rm -f "$kept" "$have" "$gone"
}
prune_assets || echo 'berth: could not list the kept releases'\'' assets; /srv/berth/shop-processes/shared/public/assets left as it is' >&2

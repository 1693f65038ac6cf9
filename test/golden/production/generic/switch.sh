set -euo pipefail
umask 022
rev=5f8008de1dd704ea09395bd87621f1d32eeac017
rel=/srv/berth/shop-production/releases/5f8008de1dd704ea09395bd87621f1d32eeac017
stamp='5f8008de1dd704ea09395bd87621f1d32eeac017 env:eeeeeeeeeeeeeeee units:uuuuuuuuuuuuuuuu'
if [ ! -f "$rel/.berth-built" ]; then echo "berth: release $rev is not built on this host" >&2; exit 1; fi
install -d -m 0755 /srv/berth/shop-production/state
active=$(cat /srv/berth/shop-production/state/color 2>/dev/null || true)
port_of() { if [ "$1" = blue ]; then echo 21142; else echo 21143; fi; }
if [ -n "$active" ] && [ "$(cat /srv/berth/shop-production/state/stamp 2>/dev/null)" = "$stamp" ] && systemctl is-active --quiet berth-shop-production-web@"$active".service && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(port_of "$active")"/up)" = 200 ]; then
  echo "berth: release $rev already serving on $active"
  exit 0
fi
if [ "$active" = blue ]; then idle=green; else idle=blue; fi
port=$(port_of "$idle")
idle_unit=berth-shop-production-web@"$idle".service
systemctl stop berth-shop-production-drain-"$idle".timer 2>/dev/null || true
systemctl stop "$idle_unit" 2>/dev/null || true
ln -sfn "$rel" /srv/berth/shop-production/slots/"$idle"
printf '# Managed by berth (project %s, stack %s)\nPORT=%s\nREVISION=%s\n' berth production "$port" "$rev" > /srv/berth/shop-production/slots/"$idle.env"
systemctl reset-failed "$idle_unit" 2>/dev/null || true
systemctl start "$idle_unit"
echo "berth: started release $rev on $idle (127.0.0.1:$port), waiting for /up"
deadline=$((SECONDS + 60))
healthy=0
while [ "$SECONDS" -lt "$deadline" ]; do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port"/up)" = 200 ]; then healthy=1; break; fi
  if systemctl is-failed --quiet "$idle_unit"; then break; fi
  sleep 1
done
if [ "$healthy" != 1 ]; then
  echo "berth: release $rev is unhealthy: http://127.0.0.1:$port/up did not answer 200 within 60s. Traffic stays on ${active:-nothing} (nginx untouched). Last log lines of $idle_unit:" >&2
  systemctl stop "$idle_unit" || true
  journalctl -u "$idle_unit" -n 40 --no-pager -o cat >&2 || true
  exit 1
fi
upstream=/etc/nginx/berth/shop-production-upstream.conf
cp -p "$upstream" "$upstream.berth-prev" 2>/dev/null || true
changed=0
if [ "$idle" = blue ]; then
tmp=$(mktemp /etc/nginx/berth/shop-production-upstream.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
upstream berth_shop_production {
    server 127.0.0.1:21142 max_fails=0;
    keepalive 16;
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/berth/shop-production-upstream.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/berth/shop-production-upstream.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/berth/shop-production-upstream.conf; changed=1; fi
else
tmp=$(mktemp /etc/nginx/berth/shop-production-upstream.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
upstream berth_shop_production {
    server 127.0.0.1:21143 max_fails=0;
    keepalive 16;
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/berth/shop-production-upstream.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/berth/shop-production-upstream.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/berth/shop-production-upstream.conf; changed=1; fi
fi
if ! nginx -t -q; then
  if [ -f "$upstream.berth-prev" ]; then mv -f "$upstream.berth-prev" "$upstream"; fi
  systemctl stop "$idle_unit" || true
  echo "berth: nginx -t rejected the new upstream; release $rev not switched" >&2
  exit 1
fi
if [ "$changed" = 1 ]; then systemctl reload nginx; fi
rm -f "$upstream.berth-prev"
ln -sfn "$rel" /srv/berth/shop-production/current.berth-new && mv -T /srv/berth/shop-production/current.berth-new /srv/berth/shop-production/current
echo "$idle" > /srv/berth/shop-production/state/color
echo "$stamp" > /srv/berth/shop-production/state/stamp
echo "$rev" > /srv/berth/shop-production/state/revision
systemctl enable --quiet "$idle_unit"
if [ -n "$active" ] && [ "$active" != "$idle" ]; then
  old_unit=berth-shop-production-web@"$active".service
  systemctl disable --quiet "$old_unit" || true
  drain=berth-shop-production-drain-"$active"
  systemctl stop "$drain.timer" 2>/dev/null || true
  systemctl reset-failed "$drain.timer" "$drain.service" 2>/dev/null || true
  systemd-run --quiet --collect --unit="$drain" --on-active=5 systemctl stop "$old_unit"
fi
systemctl enable --quiet berth-shop-production-worker.service
systemctl restart berth-shop-production-worker.service
echo "berth: release $rev serving on $idle (127.0.0.1:$port)"
keep=$( { readlink -f /srv/berth/shop-production/current; readlink -f /srv/berth/shop-production/slots/blue; readlink -f /srv/berth/shop-production/slots/green; } 2>/dev/null || true)
find /srv/berth/shop-production/releases -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\n' | sort -rn | tail -n +6 | cut -d' ' -f2- | while read -r old; do
  if ! grep -qxF "$old" <<<"$keep"; then rm -rf --one-file-system "$old"; echo "berth: pruned $old"; fi
done

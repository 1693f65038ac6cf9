set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: stop of shop-staging: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: stop of shop-staging: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
for c in blue green; do systemctl stop berth-shop-staging-drain-"$c.timer" 2>/dev/null || true; done
for u in berth-shop-staging-proxy@blue.socket berth-shop-staging-proxy@green.socket berth-shop-staging-web@blue.service berth-shop-staging-web@green.service; do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
rm -rf /srv/berth/shop-staging/state /srv/berth/shop-staging/slots/blue /srv/berth/shop-staging/slots/green /srv/berth/shop-staging/slots/blue.env /srv/berth/shop-staging/slots/green.env /srv/berth/shop-staging/web.sock

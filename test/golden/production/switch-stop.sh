set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: stop of shop-production: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: stop of shop-production: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
for c in blue green; do systemctl stop berth-shop-production-drain-"$c.timer" 2>/dev/null || true; done
for u in berth-shop-production-proxy@blue.socket berth-shop-production-proxy@green.socket berth-shop-production-web@blue.service berth-shop-production-web@green.service berth-shop-production-worker.service; do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
rm -rf /srv/berth/shop-production/state /srv/berth/shop-production/slots/blue /srv/berth/shop-production/slots/green /srv/berth/shop-production/slots/blue.env /srv/berth/shop-production/slots/green.env /srv/berth/shop-production/web.sock

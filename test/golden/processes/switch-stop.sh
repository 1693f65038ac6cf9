set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: stop of shop-processes: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: stop of shop-processes: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
for c in blue green; do systemctl stop berth-shop-processes-drain-"$c.timer" 2>/dev/null || true; done
for u in berth-shop-processes-proxy@blue.socket berth-shop-processes-proxy@green.socket berth-shop-processes-web@blue.service berth-shop-processes-web@green.service; do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
instances() {
  { systemctl list-units --all --plain --no-legend --full "$1*.service" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]service$/) { print $i; break } }'
    find /etc/systemd/system -path "*.wants/$1*.service" -printf '%f\n' 2>/dev/null; } | sort -u
}
for u in $(instances berth-shop-processes-worker@); do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
for u in $(instances berth-shop-processes-mailer@); do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
rm -rf /srv/berth/shop-processes/state /srv/berth/shop-processes/slots/blue /srv/berth/shop-processes/slots/green /srv/berth/shop-processes/slots/blue.env /srv/berth/shop-processes/slots/green.env /srv/berth/shop-processes/web.sock

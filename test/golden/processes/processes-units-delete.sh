set -euo pipefail
umask 022
instances() {
  { systemctl list-units --all --plain --no-legend --full "$1*.service" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]service$/) { print $i; break } }'
    find /etc/systemd/system -path "*.wants/$1*.service" -printf '%f\n' 2>/dev/null; } | sort -u
}
for u in $(instances berth-shop-processes-worker@); do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
for u in $(instances berth-shop-processes-mailer@); do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
rm -f /etc/systemd/system/berth-shop-processes-worker@.service
rm -f /etc/systemd/system/berth-shop-processes-mailer@.service
systemctl daemon-reload

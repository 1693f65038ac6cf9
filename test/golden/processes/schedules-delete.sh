set -euo pipefail
umask 022
for u in berth-shop-processes-schedule-digest.timer berth-shop-processes-schedule-digest.service berth-shop-processes-schedule-sweep.timer berth-shop-processes-schedule-sweep.service; do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
rm -f /etc/systemd/system/berth-shop-processes-schedule-digest.timer /etc/systemd/system/berth-shop-processes-schedule-digest.service /srv/berth/shop-processes/state/schedules/digest.failed /etc/systemd/system/berth-shop-processes-schedule-sweep.timer /etc/systemd/system/berth-shop-processes-schedule-sweep.service /srv/berth/shop-processes/state/schedules/sweep.failed /etc/systemd/system/berth-shop-processes-schedule-failed@.service
systemctl daemon-reload

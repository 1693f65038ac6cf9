set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: start of shop-processes: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: start of shop-processes: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
systemctl start berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service berth-shop-processes-mailer@1.service
echo 'berth: started processes: berth-shop-processes-worker@1.service berth-shop-processes-worker@2.service berth-shop-processes-mailer@1.service'
systemctl start berth-shop-processes-schedule-digest.timer berth-shop-processes-schedule-sweep.timer
echo 'berth: started schedule timers: berth-shop-processes-schedule-digest.timer berth-shop-processes-schedule-sweep.timer'

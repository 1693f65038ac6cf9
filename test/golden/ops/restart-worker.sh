set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: restart of shop-production: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: restart of shop-production: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
systemctl restart berth-shop-production-worker.service
echo 'berth: restarted processes: berth-shop-production-worker.service'

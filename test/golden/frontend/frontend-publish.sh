set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: frontend publish of shop-frontend: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: frontend publish of shop-frontend: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
if [ ! -f /srv/berth/shop-frontend/frontend/releases/1111111111111111111111111111111111111111/.berth-built ]; then echo 'berth: frontend 1111111111111111111111111111111111111111 is not built' >&2; exit 1; fi
if [ "$(readlink /srv/berth/shop-frontend/frontend/current 2>/dev/null)" = /srv/berth/shop-frontend/frontend/releases/1111111111111111111111111111111111111111/site ]; then
  echo 'berth: frontend 1111111111111111111111111111111111111111 already published'
else
  ln -sfn /srv/berth/shop-frontend/frontend/releases/1111111111111111111111111111111111111111/site /srv/berth/shop-frontend/frontend/current.berth-new
  mv -T /srv/berth/shop-frontend/frontend/current.berth-new /srv/berth/shop-frontend/frontend/current
  install -d -m 0755 /srv/berth/shop-frontend/state
  echo "$(date +%s.%N) 1111111111111111111111111111111111111111" > /srv/berth/shop-frontend/state/frontend
  echo 'berth: frontend 1111111111111111111111111111111111111111 published'
fi
find /srv/berth/shop-frontend/frontend/releases -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- | while read -r old; do
  if [ "$old" != /srv/berth/shop-frontend/frontend/releases/1111111111111111111111111111111111111111 ]; then rm -rf --one-file-system "$old"; echo "berth: pruned frontend $old"; fi
done

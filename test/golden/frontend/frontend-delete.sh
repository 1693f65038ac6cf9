set -euo pipefail
umask 022
if [ -d /srv/berth/shop-frontend/frontend ] && ! grep -qxF 'berth frontend of shop-frontend (project berth, stack frontend)' /srv/berth/shop-frontend/frontend/.berth-frontend 2>/dev/null; then
  echo 'berth: /srv/berth/shop-frontend/frontend is not this stack'\''s frontend (no identity line); leaving it'
  exit 0
fi
rm -rf --one-file-system /srv/berth/shop-frontend/frontend /srv/berth/shop-frontend/state/frontend

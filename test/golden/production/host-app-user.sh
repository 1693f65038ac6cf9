set -euo pipefail
umask 022
if ! id -u shop-production >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /srv/berth/shop-production --no-create-home --shell /usr/sbin/nologin shop-production
fi
install -d -m 0755 -o root -g root /srv/berth
install -d -m 0755 -o root -g root /srv/berth/shop-production /srv/berth/shop-production/releases /srv/berth/shop-production/slots
install -d -m 0751 -o shop-production -g shop-production /srv/berth/shop-production/shared
install -d -m 0750 -o shop-production -g shop-production /srv/berth/shop-production/shared/log /srv/berth/shop-production/shared/tmp /srv/berth/shop-production/shared/storage /srv/berth/shop-production/shared/bundle
install -d -m 0755 -o shop-production -g shop-production /srv/berth/shop-production/shared/public /srv/berth/shop-production/shared/public/assets
install -d -m 0700 -o root -g root /etc/berth /etc/berth/shop-production

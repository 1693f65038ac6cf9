set -euo pipefail
umask 022
if ! id -u shop-staging >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /srv/berth/shop-staging --no-create-home --shell /usr/sbin/nologin shop-staging
fi
install -d -m 0755 -o root -g root /srv/berth
install -d -m 0755 -o root -g root /srv/berth/shop-staging /srv/berth/shop-staging/releases /srv/berth/shop-staging/slots
install -d -m 0751 -o shop-staging -g shop-staging /srv/berth/shop-staging/shared
install -d -m 0750 -o shop-staging -g shop-staging /srv/berth/shop-staging/shared/log /srv/berth/shop-staging/shared/tmp /srv/berth/shop-staging/shared/storage /srv/berth/shop-staging/shared/bundle
install -d -m 0755 -o shop-staging -g shop-staging /srv/berth/shop-staging/shared/public /srv/berth/shop-staging/shared/public/assets
install -d -m 0700 -o root -g root /etc/berth /etc/berth/shop-staging

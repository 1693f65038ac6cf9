set -euo pipefail
umask 022
if [ -e /etc/letsencrypt/renewal/berth-shop-staging.conf ] || [ -e /etc/letsencrypt/live/berth-shop-staging ]; then
  if ! certbot delete --cert-name berth-shop-staging --non-interactive; then
    echo 'berth: certbot could not delete berth-shop-staging; removing its files' >&2
    rm -rf /etc/letsencrypt/live/berth-shop-staging /etc/letsencrypt/archive/berth-shop-staging /etc/letsencrypt/renewal/berth-shop-staging.conf
  fi
fi
if [ -e /etc/systemd/system/certbot.service.d/berth-shop-staging.conf ]; then rm -f /etc/systemd/system/certbot.service.d/berth-shop-staging.conf; systemctl daemon-reload; fi
rm -f /etc/berth/shop-staging/acme-ca.pem

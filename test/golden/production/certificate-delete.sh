set -euo pipefail
umask 022
if [ -e /etc/letsencrypt/renewal/berth-shop-production.conf ] || [ -e /etc/letsencrypt/live/berth-shop-production ]; then
  if ! certbot delete --cert-name berth-shop-production --non-interactive; then
    echo 'berth: certbot could not delete berth-shop-production; removing its files' >&2
    rm -rf /etc/letsencrypt/live/berth-shop-production /etc/letsencrypt/archive/berth-shop-production /etc/letsencrypt/renewal/berth-shop-production.conf
  fi
fi
if [ -e /etc/systemd/system/certbot.service.d/berth-shop-production.conf ]; then rm -f /etc/systemd/system/certbot.service.d/berth-shop-production.conf; systemctl daemon-reload; fi
rm -f /etc/berth/shop-production/acme-ca.pem

set -euo pipefail
umask 022
install -d -m 0755 /var/www/berth-acme /var/www/berth-acme/shop-staging
changed=0
if [ -e /etc/systemd/system/certbot.service.d/berth-shop-staging.conf ]; then rm -f /etc/systemd/system/certbot.service.d/berth-shop-staging.conf; changed=1; fi
rm -f /etc/berth/shop-staging/acme-ca.pem
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
server=https://acme-staging-v02.api.letsencrypt.org/directory
policy=--keep-until-expiring
if [ -f /etc/letsencrypt/renewal/berth-shop-staging.conf ]; then
  current=$(awk -F ' *= *' '$1 == "server" { print $2; exit }' /etc/letsencrypt/renewal/berth-shop-staging.conf)
  current=${current:-https://acme-v02.api.letsencrypt.org/directory}
  if [ "$current" != "$server" ]; then
    echo "berth: the certificate comes from $current; replacing it with one from $server"
    policy=--force-renewal
  fi
fi
certbot certonly --webroot -w /var/www/berth-acme/shop-staging --cert-name berth-shop-staging -d staging.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server https://acme-staging-v02.api.letsencrypt.org/directory --expand --deploy-hook 'systemctl reload nginx' "$policy"
systemctl enable --now --quiet certbot.timer
openssl x509 -noout -issuer -enddate -in /etc/letsencrypt/live/berth-shop-staging/cert.pem

set -euo pipefail
umask 022
install -d -m 0755 /var/www/berth-acme /var/www/berth-acme/shop-staging
changed=0
install -d -m 0700 -o root -g root /etc/berth/shop-staging
tmp=$(mktemp /etc/berth/shop-staging/acme-ca.pem.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
-----BEGIN CERTIFICATE-----
MIIBberthTestPrivateAcmeCaNotARealCertificate0123456789abcdefABCDEF
-----END CERTIFICATE-----
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/berth/shop-staging/acme-ca.pem && [ "$(stat -c '%a %U:%G' /etc/berth/shop-staging/acme-ca.pem)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-staging/acme-ca.pem; changed=1; fi
install -d -m 0755 /etc/systemd/system/certbot.service.d
tmp=$(mktemp /etc/systemd/system/certbot.service.d/berth-shop-staging.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.
# certbot renewals of berth-shop-staging need the private ACME CA of berth:acme.caBundle.
# This applies to every renewal on this host (one private CA per host).
[Service]
Environment=REQUESTS_CA_BUNDLE=/etc/berth/shop-staging/acme-ca.pem
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/certbot.service.d/berth-shop-staging.conf && [ "$(stat -c '%a %U:%G' /etc/systemd/system/certbot.service.d/berth-shop-staging.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/certbot.service.d/berth-shop-staging.conf; changed=1; fi
export REQUESTS_CA_BUNDLE=/etc/berth/shop-staging/acme-ca.pem
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
server=https://acme.internal.example:14000/dir
policy=--keep-until-expiring
if [ -f /etc/letsencrypt/renewal/berth-shop-staging.conf ]; then
  current=$(awk -F ' *= *' '$1 == "server" { print $2; exit }' /etc/letsencrypt/renewal/berth-shop-staging.conf)
  current=${current:-https://acme-v02.api.letsencrypt.org/directory}
  if [ "$current" != "$server" ]; then
    echo "berth: the certificate comes from $current; replacing it with one from $server"
    policy=--force-renewal
  fi
fi
certbot certonly --webroot -w /var/www/berth-acme/shop-staging --cert-name berth-shop-staging -d staging.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server https://acme.internal.example:14000/dir --expand --deploy-hook 'systemctl reload nginx' "$policy"
systemctl enable --now --quiet certbot.timer
openssl x509 -noout -issuer -enddate -in /etc/letsencrypt/live/berth-shop-staging/cert.pem

set -euo pipefail
umask 022
umask 077
trap 'rm -f "${tmp:-}"' EXIT
IFS= read -r DNS01_AUTH_HOOK || { echo 'berth: missing secret DNS01_AUTH_HOOK on stdin' >&2; exit 64; }
IFS= read -r DNS01_CLEANUP_HOOK || { echo 'berth: missing secret DNS01_CLEANUP_HOOK on stdin' >&2; exit 64; }
if [ -z "${DNS01_AUTH_HOOK// /}" ] || [ -z "${DNS01_CLEANUP_HOOK// /}" ]; then echo 'berth: the dns-01 auth and cleanup hooks did not arrive on stdin' >&2; exit 64; fi
changed=0
if [ -e /etc/systemd/system/certbot.service.d/berth-shop-staging.conf ]; then rm -f /etc/systemd/system/certbot.service.d/berth-shop-staging.conf; changed=1; fi
rm -f /etc/berth/shop-staging/acme-ca.pem
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
install -d -m 0700 -o root -g root /etc/berth/shop-staging /etc/berth/shop-staging/dns01
changed=0
tmp=$(mktemp /etc/berth/shop-staging/dns01/identity.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# berth certificate identity: {"certName":"berth-shop-staging","owner":"shop-staging-certificate-certbot"}
BERTH_EOF
chmod 0600 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/berth/shop-staging/dns01/identity && [ "$(stat -c '%a %U:%G' /etc/berth/shop-staging/dns01/identity)" = '600 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-staging/dns01/identity; changed=1; fi
tmp=$(mktemp /etc/berth/shop-staging/dns01/auth-hook.berth.XXXXXX)
printf '%s\n' '#!/bin/sh' '# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.' '# certbot --manual-auth-hook of berth-shop-staging (berth:dns01.authHook): publishes the TXT record _acme-challenge.{CERTBOT_DOMAIN} = {CERTBOT_VALIDATION} (certbot'\''s environment).' "$DNS01_AUTH_HOOK" >"$tmp"
chmod 0700 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-staging/dns01/auth-hook && [ "$(stat -c '%a %U:%G' /etc/berth/shop-staging/dns01/auth-hook)" = '700 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-staging/dns01/auth-hook; changed=1; fi
tmp=$(mktemp /etc/berth/shop-staging/dns01/cleanup-hook.berth.XXXXXX)
printf '%s\n' '#!/bin/sh' '# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.' '# certbot --manual-cleanup-hook of berth-shop-staging (berth:dns01.cleanupHook): removes the TXT record _acme-challenge.{CERTBOT_DOMAIN} = {CERTBOT_VALIDATION} (certbot'\''s environment).' "$DNS01_CLEANUP_HOOK" >"$tmp"
chmod 0700 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-staging/dns01/cleanup-hook && [ "$(stat -c '%a %U:%G' /etc/berth/shop-staging/dns01/cleanup-hook)" = '700 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-staging/dns01/cleanup-hook; changed=1; fi
if [ "$changed" = 1 ]; then echo 'berth: dns-01 hooks of berth-shop-staging updated'; fi
umask 022
server=https://acme-staging-v02.api.letsencrypt.org/directory
policy=--keep-until-expiring
if [ -f /etc/letsencrypt/renewal/berth-shop-staging.conf ]; then
  current=$(awk -F ' *= *' '$1 == "server" { print $2; exit }' /etc/letsencrypt/renewal/berth-shop-staging.conf)
  current=${current:-https://acme-v02.api.letsencrypt.org/directory}
  if [ "$current" != "$server" ]; then
    echo "berth: the certificate comes from $current; replacing it with one from $server"
    policy=--force-renewal
  fi
  for want in authenticator=manual manual_auth_hook=/etc/berth/shop-staging/dns01/auth-hook manual_cleanup_hook=/etc/berth/shop-staging/dns01/cleanup-hook; do
    have=$(awk -F ' *= *' -v k="${want%%=*}" '$1 == k { print $2; exit }' /etc/letsencrypt/renewal/berth-shop-staging.conf)
    if [ "$have" != "${want#*=}" ]; then
      echo "berth: the certificate renews with ${want%%=*} = ${have:-(unset)}; reissuing it with ${want#*=}"
      policy=--force-renewal
    fi
  done
fi
certbot certonly --manual --preferred-challenges dns --manual-auth-hook /etc/berth/shop-staging/dns01/auth-hook --manual-cleanup-hook /etc/berth/shop-staging/dns01/cleanup-hook --cert-name berth-shop-staging -d staging.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server https://acme-staging-v02.api.letsencrypt.org/directory --expand --deploy-hook 'systemctl reload nginx' "$policy"
rm -f /etc/berth/shop-staging/dns01/cloudflare.ini
systemctl enable --now --quiet certbot.timer
openssl x509 -noout -issuer -enddate -in /etc/letsencrypt/live/berth-shop-staging/cert.pem

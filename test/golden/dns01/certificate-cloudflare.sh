set -euo pipefail
umask 022
umask 077
trap 'rm -f "${tmp:-}"' EXIT
IFS= read -r CLOUDFLARE_API_TOKEN || { echo 'berth: missing secret CLOUDFLARE_API_TOKEN on stdin' >&2; exit 64; }
if ! [[ "$CLOUDFLARE_API_TOKEN" =~ ^[A-Za-z0-9_-]{20,}$ ]]; then echo 'berth: no Cloudflare API token on stdin' >&2; exit 64; fi
os_release=${BERTH_OS_RELEASE:-/etc/os-release}
if [ ! -r "$os_release" ]; then echo "berth: cannot read $os_release: berth supports Debian 12, Debian 13, Ubuntu 24.04" >&2; exit 1; fi
# shellcheck source=/dev/null
host_os=$(. "$os_release" && printf '%s:%s' "${ID:-}" "${VERSION_ID:-}")
case "$host_os" in
  debian:12|debian:13|ubuntu:24.04) ;;
  *)
    # shellcheck source=/dev/null
    host_os_name=$(. "$os_release" && printf '%s' "${PRETTY_NAME:-${NAME:-unknown}}")
    printf 'berth: unsupported host OS "%s" (%s); berth supports %s\n' "$host_os_name" "${host_os/:/ }" 'Debian 12, Debian 13, Ubuntu 24.04' >&2
    exit 1
    ;;
esac
case "$host_os" in
  debian:12|debian:13|ubuntu:24.04) wanted=(python3-certbot-dns-cloudflare) ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  exec 9>>/run/lock/berth-host.lock
  if ! flock -n 9; then
    echo 'berth: certificate berth-shop-staging: python3-certbot-dns-cloudflare: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
    flock -w 900 9 || { echo 'berth: certificate berth-shop-staging: python3-certbot-dns-cloudflare: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
  fi
  apt-get update -q -o DPkg::Lock::Timeout=600
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "${missing[@]}"
  echo "installed: ${missing[*]}"
fi
exec 9>&-
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
tmp=$(mktemp /etc/berth/shop-staging/dns01/cloudflare.ini.berth.XXXXXX)
printf 'dns_cloudflare_api_token = %s\n' "$CLOUDFLARE_API_TOKEN" >"$tmp"
chmod 0600 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-staging/dns01/cloudflare.ini && [ "$(stat -c '%a %U:%G' /etc/berth/shop-staging/dns01/cloudflare.ini)" = '600 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-staging/dns01/cloudflare.ini; changed=1; fi
if [ "$changed" = 1 ]; then echo 'berth: dns-01 credentials of berth-shop-staging updated'; fi
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
  for want in authenticator=dns-cloudflare dns_cloudflare_credentials=/etc/berth/shop-staging/dns01/cloudflare.ini dns_cloudflare_propagation_seconds=30; do
    have=$(awk -F ' *= *' -v k="${want%%=*}" '$1 == k { print $2; exit }' /etc/letsencrypt/renewal/berth-shop-staging.conf)
    if [ "$have" != "${want#*=}" ]; then
      echo "berth: the certificate renews with ${want%%=*} = ${have:-(unset)}; reissuing it with ${want#*=}"
      policy=--force-renewal
    fi
  done
fi
certbot certonly --dns-cloudflare --dns-cloudflare-credentials /etc/berth/shop-staging/dns01/cloudflare.ini --dns-cloudflare-propagation-seconds 30 --cert-name berth-shop-staging -d staging.shop.example.com --non-interactive --agree-tos -m ops@shop.example.com --no-eff-email --server https://acme-staging-v02.api.letsencrypt.org/directory --expand --deploy-hook 'systemctl reload nginx' "$policy"
rm -f /etc/berth/shop-staging/dns01/auth-hook /etc/berth/shop-staging/dns01/cleanup-hook
systemctl enable --now --quiet certbot.timer
openssl x509 -noout -issuer -enddate -in /etc/letsencrypt/live/berth-shop-staging/cert.pem

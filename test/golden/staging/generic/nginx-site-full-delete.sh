set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: nginx site of shop-staging: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: nginx site of shop-staging: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
if [ -f /etc/nginx/sites-available/berth-shop-staging-https.conf ] && ! grep -qxF '# berth site identity: {"kind":"berth-nginx-site","production":false,"hsts":false,"domain":"staging.shop.example.com"}' /etc/nginx/sites-available/berth-shop-staging-https.conf; then
  echo 'berth: /etc/nginx/sites-available/berth-shop-staging-https.conf belongs to a newer site resource; leaving it'
  exit 0
fi
rm -f /etc/nginx/sites-enabled/berth-shop-staging-https.conf /etc/nginx/sites-available/berth-shop-staging-https.conf /etc/nginx/sites-available/berth-shop-staging-https.conf.berth-prev /etc/nginx/berth/shop-staging-upstream.conf
if command -v nginx >/dev/null 2>&1; then
  if ! out=$(nginx -t 2>&1); then
    printf '%s\n' "$out" >&2
    echo 'berth: nginx -t fails after removing the site of shop-staging; nginx was not reloaded' >&2
    exit 1
  fi
  if systemctl is-active --quiet nginx; then systemctl reload nginx; fi
fi

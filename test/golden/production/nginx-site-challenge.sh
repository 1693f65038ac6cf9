set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: nginx site of shop-production: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: nginx site of shop-production: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
install -d -m 0755 /var/www/berth-acme /var/www/berth-acme/shop-production
changed=0
site=/etc/nginx/sites-available/berth-shop-production.conf
link=/etc/nginx/sites-enabled/berth-shop-production.conf
had_site=0
if [ -f "$site" ]; then cp -p "$site" "$site.berth-prev"; had_site=1; fi
had_link=0
if [ -L "$link" ]; then had_link=1; fi
tmp=$(mktemp /etc/nginx/sites-available/berth-shop-production.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
# HTTP for shop.example.com, www.shop.example.com: ACME HTTP-01 challenges; everything else is redirected to HTTPS.
server {
    listen 80;
    listen [::]:80;
    server_name shop.example.com www.shop.example.com;
    access_log /var/log/nginx/berth-shop-production.access.log;
    error_log /var/log/nginx/berth-shop-production.error.log;
    # Cloudflare proxies this site: the visitor's address from CF-Connecting-IP,
    # trusted only on connections from Cloudflare's published ranges.
    set_real_ip_from 173.245.48.0/20;
    set_real_ip_from 103.21.244.0/22;
    set_real_ip_from 2400:cb00::/32;
    set_real_ip_from 2606:4700::/32;
    real_ip_header CF-Connecting-IP;
    real_ip_recursive off;

    location ^~ /.well-known/acme-challenge/ {
        root /var/www/berth-acme/shop-production;
        default_type text/plain;
    }

    location / {
        return 301 https://$host$request_uri;
    }
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/sites-available/berth-shop-production.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/sites-available/berth-shop-production.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/sites-available/berth-shop-production.conf; changed=1; fi
if [ "$(readlink "$link" 2>/dev/null)" != "$site" ]; then ln -sfn "$site" "$link"; changed=1; fi
if [ "$changed" = 1 ]; then
  if ! out=$(nginx -t 2>&1); then
    if [ "$had_site" = 1 ]; then mv -f "$site.berth-prev" "$site"; else rm -f "$site"; fi
    if [ "$had_link" = 0 ]; then rm -f "$link"; fi
    printf '%s\n' "$out" >&2
    echo 'berth: nginx -t rejected the challenge site of shop-production; the previous configuration is back in place' >&2
    exit 1
  fi
  rm -f "$site.berth-prev"
  if systemctl is-active --quiet nginx; then systemctl reload nginx; else systemctl start nginx; fi
  echo 'berth: challenge site of shop-production updated'
else
  rm -f "$site.berth-prev"
  systemctl is-active --quiet nginx || systemctl start nginx
  echo 'berth: challenge site of shop-production unchanged'
fi
install -d -m 0755 /var/www/berth-acme/shop-production/.well-known /var/www/berth-acme/shop-production/.well-known/acme-challenge
probe=$(mktemp /var/www/berth-acme/shop-production/.well-known/acme-challenge/berth-probe.XXXXXX)
token=$(basename "$probe")
printf '%s' "$token" > "$probe"
chmod 0644 "$probe"
hosts=(shop.example.com www.shop.example.com)
for host in "${hosts[@]}"; do
  ready=0
  for _ in $(seq 1 50); do
    if [ "$(curl -s --max-time 2 -H "Host: $host" "http://127.0.0.1/.well-known/acme-challenge/$token")" = "$token" ]; then ready=1; break; fi
    sleep 0.2
  done
  if [ "$ready" != 1 ]; then rm -f "$probe"; echo "berth: nginx does not serve ACME challenges for $host on port 80" >&2; exit 1; fi
done
rm -f "$probe"

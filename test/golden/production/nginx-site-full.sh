set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: nginx site of shop-production: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: nginx site of shop-production: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
for f in /etc/letsencrypt/live/berth-shop-production/fullchain.pem /etc/letsencrypt/live/berth-shop-production/privkey.pem; do
  if [ ! -e "$f" ]; then echo "berth: $f is missing; the certificate step must succeed before the HTTPS site" >&2; exit 1; fi
done
install -d -m 0755 /etc/nginx/berth
changed=0
new_upstream=0
if [ ! -e /etc/nginx/berth/shop-production-upstream.conf ]; then
tmp=$(mktemp /etc/nginx/berth/shop-production-upstream.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
upstream berth_shop_production {
    server unix:/srv/berth/shop-production/web.sock max_fails=0;
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/berth/shop-production-upstream.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/berth/shop-production-upstream.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/berth/shop-production-upstream.conf; changed=1; fi
  new_upstream=1
fi
site=/etc/nginx/sites-available/berth-shop-production-https.conf
link=/etc/nginx/sites-enabled/berth-shop-production-https.conf
had_site=0
if [ -f "$site" ]; then cp -p "$site" "$site.berth-prev"; had_site=1; fi
had_link=0
if [ -L "$link" ]; then had_link=1; fi
tmp=$(mktemp /etc/nginx/sites-available/berth-shop-production-https.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
# berth site identity: {"kind":"berth-nginx-site","production":true,"hsts":true,"domain":"shop.example.com"}
# HTTPS for shop.example.com, www.shop.example.com. HTTP (ACME challenges, redirect) is in berth-shop-production.conf.
include /etc/nginx/berth/shop-production-upstream.conf;

map $upstream_http_strict_transport_security $berth_shop_production_hsts { "" "max-age=63072000; includeSubDomains"; default ""; }
map $upstream_http_x_content_type_options $berth_shop_production_xcto { "" "nosniff"; default ""; }
map $upstream_http_x_frame_options $berth_shop_production_xfo { "" "SAMEORIGIN"; default ""; }
map $upstream_http_referrer_policy $berth_shop_production_referrer { "" "strict-origin-when-cross-origin"; default ""; }
map $http_upgrade $berth_shop_production_connection { default "upgrade"; "" ""; }

server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
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

    ssl_certificate /etc/letsencrypt/live/berth-shop-production/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/berth-shop-production/privkey.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:berth_shop_production:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;

    add_header Strict-Transport-Security $berth_shop_production_hsts always;
    add_header X-Content-Type-Options $berth_shop_production_xcto always;
    add_header X-Frame-Options $berth_shop_production_xfo always;
    add_header Referrer-Policy $berth_shop_production_referrer always;

    client_max_body_size 25m;
    # gzip only in the static locations: responses from the app are never
    # compressed (BREACH: a secret and attacker-chosen text in one compressed body).
    gzip off;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 5;
    gzip_min_length 256;
    gzip_types text/plain text/css text/xml text/javascript application/javascript application/json application/xml application/rss+xml application/atom+xml application/manifest+json image/svg+xml;

    root /srv/berth/shop-production/current/public;

    # Fingerprinted assets: cached forever, from the union of the kept releases'
    # assets (a page of the previous release still finds its files during and
    # after a switch). add_header here replaces the server's, so the security
    # headers are repeated.
    location ^~ /assets/ {
        root /srv/berth/shop-production/shared/public;
        gzip on;
        gzip_static on;
        expires max;
        add_header Cache-Control "public, immutable";
        add_header Strict-Transport-Security $berth_shop_production_hsts always;
        add_header X-Content-Type-Options $berth_shop_production_xcto always;
        add_header X-Frame-Options $berth_shop_production_xfo always;
        add_header Referrer-Policy $berth_shop_production_referrer always;
        try_files $uri =404;
    }

    # Other files of public/ (favicon, robots.txt, error pages) are static too.
    location / {
        gzip on;
        try_files $uri @app;
    }

    location @app {
        proxy_pass http://berth_shop_production;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $berth_shop_production_connection;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        proxy_redirect off;
        proxy_read_timeout 60s;
        proxy_send_timeout 60s;
        proxy_next_upstream error timeout;
    }
}
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/nginx/sites-available/berth-shop-production-https.conf && [ "$(stat -c '%a %U:%G' /etc/nginx/sites-available/berth-shop-production-https.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/nginx/sites-available/berth-shop-production-https.conf; changed=1; fi
if [ "$(readlink "$link" 2>/dev/null)" != "$site" ]; then ln -sfn "$site" "$link"; changed=1; fi
if [ "$changed" = 1 ]; then
  if ! out=$(nginx -t 2>&1); then
    if [ "$had_site" = 1 ]; then mv -f "$site.berth-prev" "$site"; else rm -f "$site"; fi
    if [ "$had_link" = 0 ]; then rm -f "$link"; fi
    if [ "$new_upstream" = 1 ]; then rm -f /etc/nginx/berth/shop-production-upstream.conf; fi
    printf '%s\n' "$out" >&2
    echo 'berth: nginx -t rejected the full site of shop-production; the previous configuration is back in place' >&2
    exit 1
  fi
  rm -f "$site.berth-prev"
  if systemctl is-active --quiet nginx; then systemctl reload nginx; else systemctl start nginx; fi
  echo 'berth: full site of shop-production updated'
else
  rm -f "$site.berth-prev"
  systemctl is-active --quiet nginx || systemctl start nginx
  echo 'berth: full site of shop-production unchanged'
fi

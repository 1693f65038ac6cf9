set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: nginx hardening: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: nginx hardening: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
install -d -m 0755 /etc/systemd/system/nginx.service.d /etc/nginx/conf.d
changed=0
tmp=$(mktemp /etc/systemd/system/nginx.service.d/50-berth-hardening.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
[Service]
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/log/nginx /var/lib/nginx /run
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
ProtectProc=invisible
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN CAP_DAC_OVERRIDE CAP_KILL
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/nginx.service.d/50-berth-hardening.conf && [ "$(stat -c '%a %U:%G' /etc/systemd/system/nginx.service.d/50-berth-hardening.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/nginx.service.d/50-berth-hardening.conf; changed=1; fi
unit_changed=$changed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -p /etc/nginx/nginx.conf "$work/nginx.conf"
if [ -f /etc/nginx/conf.d/50-berth-hardening.conf ]; then cp -p /etc/nginx/conf.d/50-berth-hardening.conf "$work/legacy.conf"; fi
cat > "$work/fallback.conf" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
server_tokens off;
BERTH_EOF
if grep -Eq '^[[:space:]]*server_tokens[[:space:]]' /etc/nginx/nginx.conf; then
  sed -E 's/^([[:space:]]*server_tokens[[:space:]]+)[^;]*;/\1off;/' /etc/nginx/nginx.conf > "$work/new.conf"
elif grep -Eq '^[[:space:]]*#[[:space:]]*server_tokens[[:space:]]' /etc/nginx/nginx.conf; then
  sed -E '0,/^[[:space:]]*#[[:space:]]*server_tokens[[:space:]]+[^;]*;/s//\tserver_tokens off;/' /etc/nginx/nginx.conf > "$work/new.conf"
else
  cp /etc/nginx/nginx.conf "$work/new.conf"
fi
changed=0
if ! cmp -s "$work/new.conf" /etc/nginx/nginx.conf; then cat "$work/new.conf" > /etc/nginx/nginx.conf; changed=1; fi
if grep -Eq '^[[:space:]]*server_tokens[[:space:]]' /etc/nginx/nginx.conf; then
  if [ -e /etc/nginx/conf.d/50-berth-hardening.conf ]; then rm -f /etc/nginx/conf.d/50-berth-hardening.conf; changed=1; fi
elif ! cmp -s "$work/fallback.conf" /etc/nginx/conf.d/50-berth-hardening.conf; then
  install -m 0644 "$work/fallback.conf" /etc/nginx/conf.d/50-berth-hardening.conf
  changed=1
fi
if [ "$unit_changed" = 1 ]; then systemctl daemon-reload; fi
if [ "$unit_changed" = 1 ] || [ "$changed" = 1 ]; then
  if ! out=$(nginx -t 2>&1); then
    cat "$work/nginx.conf" > /etc/nginx/nginx.conf
    if [ -f "$work/legacy.conf" ]; then cp -p "$work/legacy.conf" /etc/nginx/conf.d/50-berth-hardening.conf; else rm -f /etc/nginx/conf.d/50-berth-hardening.conf; fi
    printf '%s\n' "$out" >&2; echo 'berth: nginx -t rejected the hardening; put nginx.conf and conf.d back as they were' >&2; exit 1
  fi
  if [ "$unit_changed" = 1 ]; then systemctl restart nginx; elif systemctl is-active --quiet nginx; then systemctl reload nginx; fi
  echo 'berth: nginx hardening updated'
fi
systemctl is-active --quiet nginx || systemctl start nginx

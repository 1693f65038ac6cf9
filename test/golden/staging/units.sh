set -euo pipefail
umask 022
changed=0
tmp=$(mktemp /etc/systemd/system/berth-shop-staging-web@.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-staging web (%i)
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
User=shop-staging
Group=shop-staging
WorkingDirectory=/srv/berth/shop-staging/slots/%i
Environment=HOME=/srv/berth/shop-staging/shared
Environment=LANG=C.UTF-8
Environment=RAILS_LOG_TO_STDOUT=1
EnvironmentFile=/etc/berth/shop-staging/app.env
EnvironmentFile=/srv/berth/shop-staging/slots/%i.env
ExecStart=/bin/sh -c 'exec bundle exec puma -C config/puma.rb'
SyslogIdentifier=shop-staging-web-%i
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
KillMode=mixed
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/berth/shop-staging/shared
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
CapabilityBoundingSet=
SystemCallArchitectures=native
UMask=0027

[Install]
WantedBy=multi-user.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-staging-web@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-staging-web@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-staging-web@.service; changed=1; fi
if [ -e /etc/systemd/system/berth-shop-staging-worker.service ]; then
  systemctl disable --now --quiet berth-shop-staging-worker.service || true
  rm -f /etc/systemd/system/berth-shop-staging-worker.service
  changed=1
fi
if [ "$changed" = 1 ]; then
  systemctl daemon-reload
  echo 'berth: unit files updated'
else
  echo 'berth: unit files unchanged'
fi

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
Requires=berth-shop-staging-proxy@%i.socket
After=berth-shop-staging-proxy@%i.socket

[Service]
Type=simple
User=shop-staging
Group=shop-staging
WorkingDirectory=/srv/berth/shop-staging/slots/%i
Environment=HOME=/srv/berth/shop-staging/shared
Environment=LANG=C.UTF-8
EnvironmentFile=/etc/berth/shop-staging/app.env
EnvironmentFile=/srv/berth/shop-staging/slots/%i.env
Sockets=berth-shop-staging-proxy@%i.socket
ExecStart=/bin/sh -c 'exec bundle exec puma -C config/puma.rb --bind-to-activated-sockets only'
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
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0027
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
PrivateIPC=yes
RemoveIPC=yes
DevicePolicy=closed
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-staging-web@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-staging-web@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-staging-web@.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-staging-proxy@.socket.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-staging web socket (%i)

[Socket]
ListenStream=/run/berth-shop-staging/%i.sock
Service=berth-shop-staging-web@%i.service
SocketGroup=www-data
SocketMode=0660
DirectoryMode=0755
RemoveOnStop=yes
Backlog=1024

[Install]
WantedBy=sockets.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-staging-proxy@.socket && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-staging-proxy@.socket)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-staging-proxy@.socket; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-staging-proxy@.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-staging web proxy (%i)
BindsTo=berth-shop-staging-web@%i.service
After=berth-shop-staging-web@%i.service

[Service]
EnvironmentFile=/srv/berth/shop-staging/slots/%i.env
ExecStart=/usr/lib/systemd/systemd-socket-proxyd --connections-max=1024 127.0.0.1:${PORT}
DynamicUser=yes
PrivateNetwork=no
NoNewPrivileges=yes
ProtectSystem=strict
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
MemoryDenyWriteExecute=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0077
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
PrivateIPC=yes
RemoveIPC=yes
DevicePolicy=closed
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-staging-proxy@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-staging-proxy@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-staging-proxy@.service; changed=1; fi
if [ -e /etc/systemd/system/berth-shop-staging-worker.service ]; then
  systemctl disable --now --quiet berth-shop-staging-worker.service 2>/dev/null || true; systemctl reset-failed berth-shop-staging-worker.service 2>/dev/null || true
  rm -f /etc/systemd/system/berth-shop-staging-worker.service
  changed=1
fi
if [ "$changed" = 1 ]; then
  systemctl daemon-reload
  echo 'berth: unit files updated'
else
  echo 'berth: unit files unchanged'
fi

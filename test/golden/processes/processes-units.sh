set -euo pipefail
umask 022
changed=0
instances() {
  { systemctl list-units --all --plain --no-legend --full "$1*.service" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]service$/) { print $i; break } }'
    find /etc/systemd/system -path "*.wants/$1*.service" -printf '%f\n' 2>/dev/null; } | sort -u
}
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-worker@.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes worker (%i)
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
User=shop-processes
Group=shop-processes
WorkingDirectory=/srv/berth/shop-processes/current
Environment=HOME=/srv/berth/shop-processes/shared
Environment=LANG=C.UTF-8
EnvironmentFile=/etc/berth/shop-processes/app.env
Environment=BERTH_PROCESS=worker BERTH_PROCESS_INSTANCE=%i
ExecStart=/bin/sh -c 'exec bundle exec sidekiq -C config/sidekiq.yml'
SyslogIdentifier=shop-processes-worker-%i
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
KillMode=mixed
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/berth/shop-processes/shared
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
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-worker@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-worker@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-worker@.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-mailer@.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes mailer (%i)
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
User=shop-processes
Group=shop-processes
WorkingDirectory=/srv/berth/shop-processes/current
Environment=HOME=/srv/berth/shop-processes/shared
Environment=LANG=C.UTF-8
EnvironmentFile=/etc/berth/shop-processes/app.env
Environment=BERTH_PROCESS=mailer BERTH_PROCESS_INSTANCE=%i
ExecStart=/bin/sh -c 'exec bundle exec sidekiq -q mailers'
SyslogIdentifier=shop-processes-mailer-%i
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
KillMode=mixed
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/berth/shop-processes/shared
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
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-mailer@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-mailer@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-mailer@.service; changed=1; fi
for f in /etc/systemd/system/berth-shop-processes-*@.service; do
  [ -f "$f" ] || continue
  case "$f" in /etc/systemd/system/berth-shop-processes-worker@.service|/etc/systemd/system/berth-shop-processes-mailer@.service) continue ;; esac
  if [ "$(head -n 1 "$f")" = '# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.' ] && grep -q '^Environment=BERTH_PROCESS=' "$f"; then
    t=$(basename "$f" .service)
    for u in $(instances "$t"); do systemctl disable --now --quiet "$u" 2>/dev/null || true; systemctl reset-failed "$u" 2>/dev/null || true; done
    rm -f "$f"
    changed=1
    echo "berth: removed the process type ${t%@} (no longer in berth:processes on this host)"
  fi
done
if [ "$changed" = 1 ]; then
  systemctl daemon-reload
  echo 'berth: process units updated'
else
  echo 'berth: process units unchanged'
fi

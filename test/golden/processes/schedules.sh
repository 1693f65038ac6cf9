set -euo pipefail
umask 022
if [ ! -e /srv/berth/shop-processes/current ]; then echo 'berth: no release is current on this host (/srv/berth/shop-processes/current): the schedules wait for the first one' >&2; exit 1; fi
changed=0
install -d -m 0755 /srv/berth/shop-processes/state/schedules
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-schedule-failed@.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes schedule %i failed: records it

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'd=/srv/berth/shop-processes/state/schedules; printf \'%%s %%s %%s\\n\' "$$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)" "$${MONITOR_SERVICE_RESULT:-failed}" "$${MONITOR_EXIT_STATUS:--}" > "$$d/.$$1.failed"; mv -f "$$d/.$$1.failed" "$$d/$$1.failed"; echo "berth: schedule $$1 failed ($${MONITOR_SERVICE_RESULT:-failed}); recorded in $$d/$$1.failed"' sh %i
SyslogIdentifier=shop-processes-schedule-failed
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/srv/berth/shop-processes/state/schedules
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
PrivateNetwork=yes
IPAddressDeny=any
MemoryDenyWriteExecute=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0022
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
PrivateIPC=yes
RemoveIPC=yes
DevicePolicy=closed
RestrictAddressFamilies=AF_UNIX
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-schedule-failed@.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-schedule-failed@.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-schedule-failed@.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-schedule-digest.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes schedule digest
Wants=network-online.target
After=network-online.target docker.service
OnFailure=berth-shop-processes-schedule-failed@digest.service

[Service]
Type=oneshot
User=shop-processes
Group=shop-processes
WorkingDirectory=/srv/berth/shop-processes/current
Environment=HOME=/srv/berth/shop-processes/shared
Environment=LANG=C.UTF-8
EnvironmentFile=/etc/berth/shop-processes/app.env
Environment=BERTH_SCHEDULE=digest
ExecStart=/bin/sh -c 'exec bin/rails runner \'Digest.deliver_all\''
ExecStartPost=+/bin/rm -f /srv/berth/shop-processes/state/schedules/digest.failed
TimeoutStartSec=3600
TimeoutStopSec=30
KillMode=mixed
SyslogIdentifier=shop-processes-schedule-digest
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
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-schedule-digest.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-schedule-digest.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-schedule-digest.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-schedule-digest.timer.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes schedule digest (Mon..Fri 07:00 Europe/Berlin)

[Timer]
OnCalendar=Mon..Fri 07:00 Europe/Berlin
Persistent=false
AccuracySec=1s

[Install]
WantedBy=timers.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-schedule-digest.timer && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-schedule-digest.timer)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-schedule-digest.timer; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-schedule-sweep.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes schedule sweep
Wants=network-online.target
After=network-online.target docker.service
OnFailure=berth-shop-processes-schedule-failed@sweep.service

[Service]
Type=oneshot
User=shop-processes
Group=shop-processes
WorkingDirectory=/srv/berth/shop-processes/current
Environment=HOME=/srv/berth/shop-processes/shared
Environment=LANG=C.UTF-8
EnvironmentFile=/etc/berth/shop-processes/app.env
Environment=BERTH_SCHEDULE=sweep
ExecStart=/bin/sh -c 'exec bin/rails runner Sweeper.run'
ExecStartPost=+/bin/rm -f /srv/berth/shop-processes/state/schedules/sweep.failed
TimeoutStartSec=300
TimeoutStopSec=30
KillMode=mixed
SyslogIdentifier=shop-processes-schedule-sweep
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
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-schedule-sweep.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-schedule-sweep.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-schedule-sweep.service; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-processes-schedule-sweep.timer.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.
[Unit]
Description=berth shop-processes schedule sweep (*:0/15)

[Timer]
OnCalendar=*:0/15
Persistent=false
AccuracySec=1s

[Install]
WantedBy=timers.target
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-processes-schedule-sweep.timer && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-processes-schedule-sweep.timer)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-processes-schedule-sweep.timer; changed=1; fi
for f in /etc/systemd/system/berth-shop-processes-schedule-*.service; do
  [ -f "$f" ] || continue
  case "$f" in /etc/systemd/system/berth-shop-processes-schedule-digest.service|/etc/systemd/system/berth-shop-processes-schedule-sweep.service) continue ;; esac
  if [ "$(head -n 1 "$f")" = '# Managed by berth (project berth, stack processes). Changes are overwritten by pulumi up.' ] && grep -q '^Environment=BERTH_SCHEDULE=' "$f"; then
    u=$(basename "$f" .service)
    systemctl disable --now --quiet "$u.timer" 2>/dev/null || true; systemctl reset-failed "$u.timer" 2>/dev/null || true; systemctl reset-failed "$u.service" 2>/dev/null || true
    rm -f "${f%.service}.timer" "$f"
    rm -f /srv/berth/shop-processes/state/schedules/"${u#berth-shop-processes-schedule-}.failed"
    changed=1
    echo "berth: removed the schedule ${u#berth-*-schedule-} (no longer in berth:schedules)"
  fi
done
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
systemctl enable --now --quiet berth-shop-processes-schedule-digest.timer berth-shop-processes-schedule-sweep.timer
echo 'berth: 2 schedules enabled: digest (Mon..Fri 07:00 Europe/Berlin), sweep (*:0/15)'

set -euo pipefail
umask 022
command -v iptables-restore >/dev/null 2>&1 || { echo 'berth: iptables is not installed (docker.io brings it)' >&2; exit 1; }
changed=0
tmp=$(mktemp /usr/local/sbin/berth-shop-fleet-data-firewall.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
#!/bin/bash
# Managed by berth (project berth, stack fleet). Changes are overwritten by pulumi up.
# Run by berth-shop-fleet-data-firewall.service before every start of docker.service.
set -euo pipefail
# Docker creates DOCKER-USER at start and keeps an existing one with its rules.
iptables -w -S DOCKER-USER >/dev/null 2>&1 || iptables -w -N DOCKER-USER
iptables-restore -w --noflush <<'BERTH_RULES'
# Managed by berth (project berth, stack fleet). Changes are overwritten by pulumi up.
# Connections to ports 21156, 21157 published by Docker: only from 10.213.0.148, 10.213.0.29 on bm-f98b93b0.
*filter
:BERTH-DATA-f98b93b0 - [0:0]
-A BERTH-DATA-f98b93b0 -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A BERTH-DATA-f98b93b0 -s 10.213.0.148/32 -i bm-f98b93b0 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 21156 -j RETURN
-A BERTH-DATA-f98b93b0 -s 10.213.0.29/32 -i bm-f98b93b0 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 21156 -j RETURN
-A BERTH-DATA-f98b93b0 -s 10.213.0.148/32 -i bm-f98b93b0 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 21157 -j RETURN
-A BERTH-DATA-f98b93b0 -s 10.213.0.29/32 -i bm-f98b93b0 -p tcp -m conntrack --ctstate DNAT --ctorigdstport 21157 -j RETURN
-A BERTH-DATA-f98b93b0 -m conntrack --ctstate DNAT --ctorigdstport 21156 -j DROP
-A BERTH-DATA-f98b93b0 -m conntrack --ctstate DNAT --ctorigdstport 21157 -j DROP
-A BERTH-DATA-f98b93b0 -i docker0 -j RETURN
-A BERTH-DATA-f98b93b0 -i br-+ -j RETURN
-A BERTH-DATA-f98b93b0 -o docker0 -p tcp --dport 5432 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP
-A BERTH-DATA-f98b93b0 -o docker0 -p tcp --dport 6379 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP
-A BERTH-DATA-f98b93b0 -o br-+ -p tcp --dport 5432 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP
-A BERTH-DATA-f98b93b0 -o br-+ -p tcp --dport 6379 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP
COMMIT
BERTH_RULES
iptables -w -C DOCKER-USER -j BERTH-DATA-f98b93b0 2>/dev/null || iptables -w -I DOCKER-USER 1 -j BERTH-DATA-f98b93b0
BERTH_EOF
chmod 0755 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /usr/local/sbin/berth-shop-fleet-data-firewall && [ "$(stat -c '%a %U:%G' /usr/local/sbin/berth-shop-fleet-data-firewall)" = '755 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /usr/local/sbin/berth-shop-fleet-data-firewall; changed=1; fi
tmp=$(mktemp /etc/systemd/system/berth-shop-fleet-data-firewall.service.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack fleet). Changes are overwritten by pulumi up.
# berth data firewall identity: shop-fleet-data-firewall-rules
[Unit]
Description=berth shop-fleet: data services reachable from the app hosts only (DOCKER-USER)
Before=docker.service
PartOf=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/berth-shop-fleet-data-firewall
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/run
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
ProcSubset=pid
PrivateIPC=yes
MemoryDenyWriteExecute=yes
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW
RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @obsolete @debug @mount @cpu-emulation @clock @module @raw-io @reboot @swap
SystemCallErrorNumber=EPERM
UMask=0077

[Install]
WantedBy=docker.service
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/berth-shop-fleet-data-firewall.service && [ "$(stat -c '%a %U:%G' /etc/systemd/system/berth-shop-fleet-data-firewall.service)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/berth-shop-fleet-data-firewall.service; changed=1; fi
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
systemctl enable --quiet berth-shop-fleet-data-firewall.service
systemctl restart berth-shop-fleet-data-firewall.service
iptables -w -C DOCKER-USER -j BERTH-DATA-f98b93b0 || { echo 'berth: DOCKER-USER does not jump to BERTH-DATA-f98b93b0' >&2; exit 1; }
iptables -w -S BERTH-DATA-f98b93b0

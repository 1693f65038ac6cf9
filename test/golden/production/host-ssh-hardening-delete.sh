set -euo pipefail
umask 022
rm -f /etc/ssh/sshd_config.d/10-berth-shop-production.conf
sshd -t && { systemctl reload ssh 2>/dev/null || systemctl reload sshd; }

set -euo pipefail
umask 022
ufw default deny incoming >/dev/null
ufw default allow outgoing >/dev/null
ufw allow 22/tcp comment 'berth ssh' >/dev/null
ufw allow 80/tcp comment 'berth http' >/dev/null
ufw allow 443/tcp comment 'berth https' >/dev/null
ufw --force enable >/dev/null
ufw status | head -n 1

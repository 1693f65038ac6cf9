set -euo pipefail
umask 022
for unit in berth-shop-production-proxy@blue.socket berth-shop-production-proxy@green.socket berth-shop-production-web@blue.service berth-shop-production-web@green.service berth-shop-production-worker.service; do systemctl disable --now --quiet "$unit" 2>/dev/null || true; done
rm -f /etc/systemd/system/berth-shop-production-web@.service /etc/systemd/system/berth-shop-production-worker.service /etc/systemd/system/berth-shop-production-proxy@.socket /etc/systemd/system/berth-shop-production-proxy@.service
systemctl daemon-reload

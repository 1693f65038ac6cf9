set -euo pipefail
umask 022
for unit in berth-shop-staging-proxy@blue.socket berth-shop-staging-proxy@green.socket berth-shop-staging-proxy@blue.service berth-shop-staging-proxy@green.service berth-shop-staging-web@blue.service berth-shop-staging-web@green.service berth-shop-staging-worker.service; do systemctl disable --now --quiet "$unit" 2>/dev/null || true; systemctl reset-failed "$unit" 2>/dev/null || true; done
rm -f /etc/systemd/system/berth-shop-staging-web@.service /etc/systemd/system/berth-shop-staging-worker.service /etc/systemd/system/berth-shop-staging-proxy@.socket /etc/systemd/system/berth-shop-staging-proxy@.service
systemctl daemon-reload

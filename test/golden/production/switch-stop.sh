set -euo pipefail
umask 022
for u in berth-shop-production-web@blue.service berth-shop-production-web@green.service berth-shop-production-worker.service; do systemctl disable --now "$u" 2>/dev/null || true; done
rm -rf /srv/berth/shop-production/state /srv/berth/shop-production/slots/blue /srv/berth/shop-production/slots/green /srv/berth/shop-production/slots/blue.env /srv/berth/shop-production/slots/green.env

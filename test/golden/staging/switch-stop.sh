set -euo pipefail
umask 022
for u in berth-shop-staging-web@blue.service berth-shop-staging-web@green.service; do systemctl disable --now "$u" 2>/dev/null || true; done
rm -rf /srv/berth/shop-staging/state /srv/berth/shop-staging/slots/blue /srv/berth/shop-staging/slots/green /srv/berth/shop-staging/slots/blue.env /srv/berth/shop-staging/slots/green.env

set -euo pipefail
umask 022
rm -f /etc/berth/shop-production/app.env

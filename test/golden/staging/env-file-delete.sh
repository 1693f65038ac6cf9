set -euo pipefail
umask 022
rm -f /etc/berth/shop-staging/app.env

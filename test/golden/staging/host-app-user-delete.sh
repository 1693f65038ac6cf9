set -euo pipefail
umask 022
rm -rf --one-file-system /srv/berth/shop-staging /etc/berth/shop-staging
if id -u shop-staging >/dev/null 2>&1; then userdel shop-staging; fi

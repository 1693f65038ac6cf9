set -euo pipefail
umask 022
rm -rf --one-file-system /srv/berth/shop-production /etc/berth/shop-production
if id -u shop-production >/dev/null 2>&1; then userdel shop-production; fi

set -euo pipefail
umask 022
tail -n 50 /var/log/nginx/berth-shop-staging.access.log /var/log/nginx/berth-shop-staging.error.log

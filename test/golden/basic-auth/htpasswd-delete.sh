set -euo pipefail
umask 022
rm -f /etc/nginx/berth/shop-staging.htpasswd

set -euo pipefail
umask 022
rs_line=$(grep -m1 '^rs() {' /usr/local/sbin/berth-shop-staging-backup 2>/dev/null || true)
[ -n "$rs_line" ] || { echo 'berth: the backup script /usr/local/sbin/berth-shop-staging-backup is not installed on host main (pulumi up installs it)' >&2; exit 1; }
eval "$rs_line"
rs dump 4f3c2b1a9e8d7c6b5a4f3c2b1a9e8d7c6b5a4f3c2b1a9e8d7c6b5a4f3c2b1a9e /postgres-shop_staging.dump

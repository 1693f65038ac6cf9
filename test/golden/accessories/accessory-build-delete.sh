set -euo pipefail
umask 022
docker image ls --format '{{.Repository}}:{{.Tag}}' berth-shop-accessories-memcached | while read -r old; do
    docker image rm "$old" >/dev/null 2>&1 || true
done

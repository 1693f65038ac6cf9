set -euo pipefail
umask 022
tag=berth-shop-accessories-memcached:df602427fb53b8c2
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "unchanged $tag"
else
    docker build --tag "$tag" - >&2 <<'BERTH_DOCKERFILE'
# Managed by berth (project berth, stack accessories). Changes are overwritten by pulumi up.
# Accessory memcached: built on the host from Debian packages.
FROM debian:trixie-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends memcached && apt-get clean && rm -rf /var/lib/apt/lists/*
BERTH_DOCKERFILE
    echo "built $tag"
fi
docker image ls --format '{{.Repository}}:{{.Tag}}' berth-shop-accessories-memcached | while read -r old; do
    if [ "$old" != "$tag" ]; then docker image rm "$old" >/dev/null 2>&1 || true; fi
done

set -euo pipefail
umask 022
container=shop-accessories-memcached
port=11211
for _ in $(seq 1 120); do
    ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$container" 2>/dev/null | awk '{print $1}')"
    # shellcheck disable=SC2016 # $1 and $2 are the inner bash's arguments
    if [ -n "$ip" ] && timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$ip" "$port" 2>/dev/null; then echo "ready $container:$port"; exit 0; fi
    sleep 1
done
echo 'berth: accessory memcached: nothing accepts connections on port 11211 in container shop-accessories-memcached after 120s' >&2
docker logs --tail 20 shop-accessories-memcached >&2 || true
exit 1

set -euo pipefail
umask 022
if [ -f /etc/wireguard/bm-f98b93b0.key.owner ] && ! grep -qxF '# berth mesh identity: shop-fleet-mesh-web1' /etc/wireguard/bm-f98b93b0.key.owner; then
  echo 'berth: /etc/wireguard/bm-f98b93b0.key belongs to a newer mesh resource; leaving it'
  exit 0
fi
if [ -f /etc/wireguard/bm-f98b93b0.conf ]; then
  echo 'berth: /etc/wireguard/bm-f98b93b0.conf is still there; leaving the key'
  exit 0
fi
rm -f /etc/wireguard/bm-f98b93b0.key /etc/wireguard/bm-f98b93b0.key.owner

set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: mesh bm-f98b93b0: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: mesh bm-f98b93b0: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
if [ -f /etc/wireguard/bm-f98b93b0.conf ] && ! grep -qxF '# berth mesh identity: shop-fleet-mesh-web1' /etc/wireguard/bm-f98b93b0.conf; then
  echo 'berth: /etc/wireguard/bm-f98b93b0.conf belongs to a newer mesh resource; leaving it'
  exit 0
fi
systemctl disable --now --quiet wg-quick@bm-f98b93b0.service 2>/dev/null || true; systemctl reset-failed wg-quick@bm-f98b93b0.service 2>/dev/null || true
if ip link show dev bm-f98b93b0 >/dev/null 2>&1; then ip link delete dev bm-f98b93b0; fi
rm -f /etc/wireguard/bm-f98b93b0.conf /etc/systemd/system/docker.service.d/50-berth-shop-fleet-mesh.conf
systemctl daemon-reload
if command -v ufw >/dev/null 2>&1; then
  want=''
  mark=' comment '\''berth mesh bm-f98b93b0 '
  added=$(ufw show added)
  while IFS= read -r line; do
    [[ "$line" == "ufw "*"$mark"* ]] || continue
    rule=${line#ufw }
    rule=${rule%% comment *}
    if [ -n "$want" ] && grep -qxF -- "$rule" <<<"$want"; then continue; fi
    read -ra words <<<"$rule"
    ufw delete "${words[@]}" >/dev/null
    echo "berth: ufw: removed $rule"
  done <<<"$added"
fi
echo 'berth: bm-f98b93b0 removed'

set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: mesh bm-f98b93b0: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: mesh bm-f98b93b0: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
if [ ! -s /etc/wireguard/bm-f98b93b0.key ]; then echo 'berth: /etc/wireguard/bm-f98b93b0.key is missing (the mesh key step makes it)' >&2; exit 1; fi
command -v ufw >/dev/null 2>&1 || { echo 'berth: ufw is not installed (the host firewall step installs it)' >&2; exit 1; }
install -d -m 0700 -o root -g root /etc/wireguard
install -d -m 0755 /etc/systemd/system/docker.service.d
umask 077
conf_changed=0
tmp=$(mktemp /etc/wireguard/bm-f98b93b0.conf.berth.XXXXXX)
trap 'rm -f "$tmp"' EXIT
IFS= read -r private_key < /etc/wireguard/bm-f98b93b0.key
{
  cat <<'BERTH_EOF'
# Managed by berth (project berth, stack fleet). Changes are overwritten by pulumi up.
# berth mesh identity: shop-fleet-mesh-web1
# WireGuard mesh of shop-fleet: host web1. The private key is copied from /etc/wireguard/bm-f98b93b0.key on the host.
[Interface]
Address = 10.213.0.29/24
ListenPort = 51820
BERTH_EOF
  printf 'PrivateKey = %s\n' "$private_key"
  cat <<'BERTH_EOF'

# data
[Peer]
PublicKey = AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
Endpoint = 203.0.113.33:51820
AllowedIPs = 10.213.0.114/32
PersistentKeepalive = 25

# web2
[Peer]
PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
Endpoint = 203.0.113.32:51820
AllowedIPs = 10.213.0.148/32
PersistentKeepalive = 25
BERTH_EOF
} > "$tmp"
unset private_key
chown root:root "$tmp"
chmod 0600 "$tmp"
if cmp -s "$tmp" /etc/wireguard/bm-f98b93b0.conf && [ "$(stat -c '%a %U:%G' /etc/wireguard/bm-f98b93b0.conf)" = '600 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/wireguard/bm-f98b93b0.conf; conf_changed=1; fi
trap - EXIT
umask 022
changed=0
tmp=$(mktemp /etc/systemd/system/docker.service.d/50-berth-shop-fleet-mesh.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack fleet). Changes are overwritten by pulumi up.
[Unit]
Wants=wg-quick@bm-f98b93b0.service
After=wg-quick@bm-f98b93b0.service
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/system/docker.service.d/50-berth-shop-fleet-mesh.conf && [ "$(stat -c '%a %U:%G' /etc/systemd/system/docker.service.d/50-berth-shop-fleet-mesh.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/system/docker.service.d/50-berth-shop-fleet-mesh.conf; changed=1; fi
if [ "$changed" = 1 ]; then systemctl daemon-reload; fi
want='allow from 203.0.113.33 to any port 51820 proto udp
allow from 203.0.113.32 to any port 51820 proto udp'
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
ufw allow from 203.0.113.33 to any port 51820 proto udp comment 'berth mesh bm-f98b93b0 peer data' >/dev/null
ufw allow from 203.0.113.32 to any port 51820 proto udp comment 'berth mesh bm-f98b93b0 peer web2' >/dev/null
systemctl enable --quiet wg-quick@bm-f98b93b0.service
if ! systemctl is-active --quiet wg-quick@bm-f98b93b0.service; then
  systemctl start wg-quick@bm-f98b93b0.service
  echo 'berth: bm-f98b93b0 up'
elif [ "$conf_changed" = 1 ]; then
  if ip -4 -o addr show dev bm-f98b93b0 | grep -qF ' inet 10.213.0.29/24 '; then
    systemctl reload wg-quick@bm-f98b93b0.service
    echo 'berth: bm-f98b93b0 peers updated (wg syncconf)'
  else
    systemctl restart wg-quick@bm-f98b93b0.service
    echo 'berth: bm-f98b93b0 restarted'
  fi
fi
echo "berth: bm-f98b93b0 10.213.0.29/24, $(wg show bm-f98b93b0 peers | wc -l) peers"

set -euo pipefail
umask 022
os_release=${BERTH_OS_RELEASE:-/etc/os-release}
if [ ! -r "$os_release" ]; then echo "berth: cannot read $os_release: berth supports Debian 12, Debian 13, Ubuntu 24.04" >&2; exit 1; fi
# shellcheck source=/dev/null
host_os=$(. "$os_release" && printf '%s:%s' "${ID:-}" "${VERSION_ID:-}")
case "$host_os" in
  debian:12|debian:13|ubuntu:24.04) ;;
  *)
    # shellcheck source=/dev/null
    host_os_name=$(. "$os_release" && printf '%s' "${PRETTY_NAME:-${NAME:-unknown}}")
    printf 'berth: unsupported host OS "%s" (%s); berth supports %s\n' "$host_os_name" "${host_os/:/ }" 'Debian 12, Debian 13, Ubuntu 24.04' >&2
    exit 1
    ;;
esac
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: mesh packages: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: mesh packages: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
case "$host_os" in
  debian:12|debian:13|ubuntu:24.04) wanted=(wireguard-tools wireguard-go) ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -q -o DPkg::Lock::Timeout=600 >&2
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "${missing[@]}" >&2
  echo "installed: ${missing[*]}" >&2
fi
install -d -m 0755 /etc/tmpfiles.d
changed=0
tmp=$(mktemp /etc/tmpfiles.d/50-berth-tun.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
# The TUN device wireguard-go needs (berth's WireGuard mesh); no-op where devtmpfs made it.
c! /dev/net/tun 0666 root root - 10:200
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/tmpfiles.d/50-berth-tun.conf && [ "$(stat -c '%a %U:%G' /etc/tmpfiles.d/50-berth-tun.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/tmpfiles.d/50-berth-tun.conf; changed=1; fi
if [ "$changed" = 1 ]; then echo 'berth: wrote /etc/tmpfiles.d/50-berth-tun.conf' >&2; fi
if [ ! -c /dev/net/tun ]; then
  systemd-tmpfiles --create --boot /etc/tmpfiles.d/50-berth-tun.conf >&2 || echo 'berth: could not create /dev/net/tun (wireguard-go needs it when the kernel has no WireGuard)' >&2
fi
umask 077
install -d -m 0700 -o root -g root /etc/wireguard
if [ ! -s /etc/wireguard/bm-f98b93b0.key ]; then
  tmp=$(mktemp /etc/wireguard/bm-f98b93b0.key.berth.XXXXXX)
  wg genkey > "$tmp"
  mv -f "$tmp" /etc/wireguard/bm-f98b93b0.key
  echo 'berth: created the WireGuard key of bm-f98b93b0' >&2
fi
chmod 0600 /etc/wireguard/bm-f98b93b0.key
chown root:root /etc/wireguard/bm-f98b93b0.key
printf '%s\n' '# berth mesh identity: shop-fleet-mesh-web1' > /etc/wireguard/bm-f98b93b0.key.owner
wg pubkey < /etc/wireguard/bm-f98b93b0.key

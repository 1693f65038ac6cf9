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
  echo 'berth: packages: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: packages: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
case "$host_os" in
  debian:12) wanted=(apt-listchanges build-essential bundler ca-certificates certbot curl git libpq-dev libvips42t64 libyaml-dev nginx openssl pkg-config rsync ruby ruby-dev tzdata ufw unattended-upgrades) ;;
  debian:13|ubuntu:24.04) wanted=(apt-listchanges build-essential bundler ca-certificates certbot curl git libpq-dev libvips42t64 libyaml-dev nginx openssl pkgconf rsync ruby ruby-dev tzdata ufw unattended-upgrades) ;;
esac
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -q -o DPkg::Lock::Timeout=600
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confold "${missing[@]}"
  echo "installed: ${missing[*]}"
fi
changed=0
tmp=$(mktemp /etc/apt/apt.conf.d/20auto-upgrades.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
// Managed by berth (host-wide: every berth stack on this host writes this same file). Changes are overwritten by pulumi up.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/apt/apt.conf.d/20auto-upgrades && [ "$(stat -c '%a %U:%G' /etc/apt/apt.conf.d/20auto-upgrades)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/apt/apt.conf.d/20auto-upgrades; changed=1; fi
if [ "$changed" = 1 ]; then echo "updated /etc/apt/apt.conf.d/20auto-upgrades"; fi
systemctl enable --quiet apt-daily.timer apt-daily-upgrade.timer || true
systemctl enable --quiet unattended-upgrades.service || true

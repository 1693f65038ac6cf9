set -euo pipefail
umask 022
exec 9>>/run/lock/berth-host.lock
if ! flock -n 9; then
  echo 'berth: packages: waiting for another berth operation on this host (/run/lock/berth-host.lock)' >&2
  flock -w 900 9 || { echo 'berth: packages: /run/lock/berth-host.lock still held after 900s' >&2; exit 75; }
fi
export DEBIAN_FRONTEND=noninteractive
wanted=(apt-listchanges build-essential bundler ca-certificates certbot curl git libpq-dev libvips42 libyaml-dev nginx openssl pkg-config rsync ruby ruby-dev tzdata ufw unattended-upgrades)
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
// Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
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

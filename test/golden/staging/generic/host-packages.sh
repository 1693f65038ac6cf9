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
  debian:12|debian:13|ubuntu:24.04) wanted=(apt-listchanges ca-certificates certbot curl git libpam-pwquality libvips42t64 nginx openssl rsync ufw unattended-upgrades) ;;
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
# System hardening (lib/hostHardening.ts; lynis test ids in each file).
install -d -m 0755 /etc/sysctl.d /etc/modprobe.d /etc/systemd/coredump.conf.d /etc/security/limits.d /etc/profile.d
changed=0
tmp=$(mktemp /etc/sysctl.d/90-berth-hardening.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
# Kernel hardening (lynis KRNL-6000). Not set here: modules_disabled (WireGuard, Docker),
# ip forwarding (Docker's bridge), rp_filter (systemd's loose filtering is kept).
fs.suid_dumpable = 0
kernel.core_uses_pid = 1
fs.protected_fifos = 2
fs.protected_regular = 2
fs.protected_hardlinks = 1
fs.protected_symlinks = 1
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
kernel.sysrq = 0
kernel.unprivileged_bpf_disabled = 1
net.core.bpf_jit_harden = 2
kernel.yama.ptrace_scope = 1
kernel.randomize_va_space = 2
dev.tty.ldisc_autoload = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.log_martians = 1
net.ipv4.conf.default.log_martians = 1
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv6.conf.default.accept_source_route = 0
net.ipv4.icmp_echo_ignore_broadcasts = 1
net.ipv4.icmp_ignore_bogus_error_responses = 1
net.ipv4.tcp_syncookies = 1
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/sysctl.d/90-berth-hardening.conf && [ "$(stat -c '%a %U:%G' /etc/sysctl.d/90-berth-hardening.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/sysctl.d/90-berth-hardening.conf; changed=1; fi
if [ "$changed" = 1 ]; then
  if ! out=$(sysctl -e -q -p /etc/sysctl.d/90-berth-hardening.conf 2>&1); then printf '%s\n' "$out" >&2; echo 'berth: some kernel settings of /etc/sysctl.d/90-berth-hardening.conf were refused (applied at the next boot where the kernel allows them)' >&2; fi
  echo 'berth: updated /etc/sysctl.d/90-berth-hardening.conf'
fi
changed=0
tmp=$(mktemp /etc/modprobe.d/berth-hardening.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
# Not loaded, even on request (lynis USB-1000, STRG-1846, NETW-3200).
install usb-storage /bin/false
blacklist usb-storage
install firewire-core /bin/false
blacklist firewire-core
install firewire-ohci /bin/false
blacklist firewire-ohci
install dccp /bin/false
blacklist dccp
install sctp /bin/false
blacklist sctp
install rds /bin/false
blacklist rds
install tipc /bin/false
blacklist tipc
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/modprobe.d/berth-hardening.conf && [ "$(stat -c '%a %U:%G' /etc/modprobe.d/berth-hardening.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/modprobe.d/berth-hardening.conf; changed=1; fi
tmp=$(mktemp /etc/systemd/coredump.conf.d/90-berth-hardening.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
[Coredump]
Storage=none
ProcessSizeMax=0
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/systemd/coredump.conf.d/90-berth-hardening.conf && [ "$(stat -c '%a %U:%G' /etc/systemd/coredump.conf.d/90-berth-hardening.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/systemd/coredump.conf.d/90-berth-hardening.conf; changed=1; fi
tmp=$(mktemp /etc/security/limits.d/90-berth-hardening.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
*    soft    core    0
*    hard    core    0
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/security/limits.d/90-berth-hardening.conf && [ "$(stat -c '%a %U:%G' /etc/security/limits.d/90-berth-hardening.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/security/limits.d/90-berth-hardening.conf; changed=1; fi
tmp=$(mktemp /etc/profile.d/berth-hardening.sh.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth for every stack on this host. Changes are overwritten by pulumi up.
ulimit -c 0
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/profile.d/berth-hardening.sh && [ "$(stat -c '%a %U:%G' /etc/profile.d/berth-hardening.sh)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/profile.d/berth-hardening.sh; changed=1; fi
tmp=$(mktemp /etc/issue.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
Authorized access only. This is a private system; connections are monitored and logged, and unauthorized use is prohibited and may be reported to law enforcement.
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/issue && [ "$(stat -c '%a %U:%G' /etc/issue)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/issue; changed=1; fi
tmp=$(mktemp /etc/issue.net.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
Authorized access only. This is a private system; connections are monitored and logged, and unauthorized use is prohibited and may be reported to law enforcement.
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/issue.net && [ "$(stat -c '%a %U:%G' /etc/issue.net)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/issue.net; changed=1; fi
if [ "$changed" = 1 ]; then echo 'berth: updated the host hardening files (modprobe, core dumps, login banners)'; fi
if [ -f /etc/login.defs ] && grep -Eq '^UMASK[[:space:]]+022[[:space:]]*$' /etc/login.defs; then
  sed -i -E 's/^UMASK([[:space:]]+)022[[:space:]]*$/UMASK\1027/' /etc/login.defs
  echo 'berth: /etc/login.defs UMASK 027'
fi
if command -v unattended-upgrade >/dev/null 2>&1; then
  if ! { apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null && unattended-upgrade; }; then
    echo 'berth: security updates at provision failed; unattended-upgrades installs them at its daily run' >&2
  fi
fi
mapfile -t leftover < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "rc" { print $2 }')
if [ "${#leftover[@]}" -gt 0 ]; then
  dpkg --purge "${leftover[@]}" >/dev/null
  echo "berth: purged the configuration files of removed packages: ${leftover[*]}"
fi

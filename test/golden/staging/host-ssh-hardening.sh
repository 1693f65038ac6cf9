set -euo pipefail
umask 022
install -d -m 0755 /etc/ssh/sshd_config.d
changed=0
tmp=$(mktemp /etc/ssh/sshd_config.d/10-berth-shop-staging.conf.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack staging). Changes are overwritten by pulumi up.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
X11Forwarding no
MaxAuthTries 4
LogLevel VERBOSE
AllowAgentForwarding no
AllowTcpForwarding local
MaxSessions 4
TCPKeepAlive no
ClientAliveInterval 300
ClientAliveCountMax 2
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com
HostKeyAlgorithms ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,rsa-sha2-512,rsa-sha2-256
Compression no
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/ssh/sshd_config.d/10-berth-shop-staging.conf && [ "$(stat -c '%a %U:%G' /etc/ssh/sshd_config.d/10-berth-shop-staging.conf)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/ssh/sshd_config.d/10-berth-shop-staging.conf; changed=1; fi
if [ "$changed" = 1 ]; then
  if ! sshd -t; then rm -f /etc/ssh/sshd_config.d/10-berth-shop-staging.conf; echo 'berth: sshd -t rejected the hardening drop-in; removed it' >&2; exit 1; fi
  systemctl reload ssh 2>/dev/null || systemctl reload sshd
fi

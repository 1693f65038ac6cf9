#!/usr/bin/env bash
set -euo pipefail
umask 022
umask 077
IFS= read -r RESTIC_REPOSITORY_SECRET || { echo 'berth: missing secret RESTIC_REPOSITORY_SECRET on stdin' >&2; exit 64; }
IFS= read -r SFTP_KEY_B64 || { echo 'berth: missing secret SFTP_KEY_B64 on stdin' >&2; exit 64; }
if [ "${#RESTIC_REPOSITORY_SECRET}" -lt 16 ]; then echo 'berth: the repository password must be at least 16 characters' >&2; exit 64; fi
install -d -m 0700 -o root -g root /etc/berth/shop-production
install -d -m 0700 -o root -g root /etc/berth/shop-production/backup
install -d -m 0700 -o root -g root /var/cache/berth/shop-production/restic
changed=0
tmp=$(mktemp /etc/berth/shop-production/backup/password.berth.XXXXXX)
printf '%s' "$RESTIC_REPOSITORY_SECRET" > "$tmp"
chmod 0600 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/backup/password; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-production/backup/password; changed=1; fi
tmp=$(mktemp /etc/berth/shop-production/backup/ssh_key.berth.XXXXXX)
printf '%s' "$SFTP_KEY_B64" | base64 -d > "$tmp"
chmod 0600 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/backup/ssh_key; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-production/backup/ssh_key; changed=1; fi
tmp=$(mktemp /etc/berth/shop-production/backup/known_hosts.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
backup.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILg2U62y1ZMM03OoNhpsk9opMEKvZ4gzf4BICAs+jPTr
BERTH_EOF
chmod 0600 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/backup/known_hosts && [ "$(stat -c '%a %U:%G' /etc/berth/shop-production/backup/known_hosts)" = '600 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-production/backup/known_hosts; changed=1; fi
if [ "$changed" = 1 ]; then echo "berth: backup credentials updated"; else echo "berth: backup credentials unchanged"; fi

set -euo pipefail
umask 022
IFS= read -r DEPLOY_KEY_B64 || { echo 'berth: missing secret DEPLOY_KEY_B64 on stdin' >&2; exit 64; }
changed=0
tmp=$(mktemp /etc/berth/shop-production/deploy_key.berth.XXXXXX)
printf '%s' "$DEPLOY_KEY_B64" | base64 -d > "$tmp"
chmod 0600 "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/deploy_key; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-production/deploy_key; changed=1; fi
tmp=$(mktemp /etc/berth/shop-production/git_known_hosts.berth.XXXXXX)
cat > "$tmp" <<'BERTH_EOF'
# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.
github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
BERTH_EOF
chmod 0644 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/git_known_hosts && [ "$(stat -c '%a %U:%G' /etc/berth/shop-production/git_known_hosts)" = '644 root:root' ]; then rm -f "$tmp"; else mv -f "$tmp" /etc/berth/shop-production/git_known_hosts; changed=1; fi
if [ "$changed" = 1 ]; then echo "deploy key updated"; else echo "deploy key unchanged"; fi

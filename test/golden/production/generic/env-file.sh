set -euo pipefail
umask 022
umask 077
install -d -m 0700 -o root -g root /etc/berth/shop-production
tmp=$(mktemp /etc/berth/shop-production/app.env.berth.XXXXXX)
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
if [ "$(head -n 1 "$tmp")" != '# Managed by berth (project berth, stack production). Changes are overwritten by pulumi up.' ]; then echo 'berth: the env file did not arrive on stdin' >&2; exit 64; fi
chmod 0600 "$tmp"
chown root:root "$tmp"
if cmp -s "$tmp" /etc/berth/shop-production/app.env && [ "$(stat -c '%a %U:%G' /etc/berth/shop-production/app.env)" = '600 root:root' ]; then
  echo unchanged
else
  mv -f "$tmp" /etc/berth/shop-production/app.env
  echo changed
fi

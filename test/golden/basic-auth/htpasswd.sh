set -euo pipefail
umask 022
f="${BERTH_ROOT:-}"/etc/nginx/berth/shop-staging.htpasswd
install -d -m 0755 "${BERTH_ROOT:-}"/etc/nginx/berth
tmp=$(mktemp "$f.berth.XXXXXX")
trap 'rm -f "$tmp"' EXIT
users=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  user=${line%%:*}
  password=${line#*:}
  hash=
  old=$(awk -F: -v u="$user" '$1 == u { print $2; exit }' "$f" 2>/dev/null || true)
  if [[ "$old" == "\$6\$"* ]]; then
    salt=${old#\$6\$}
    salt=${salt%%\$*}
    if [ "$(printf '%s\n' "$password" | openssl passwd -6 -salt "$salt" -stdin)" = "$old" ]; then hash=$old; fi
  fi
  if [ -z "$hash" ]; then hash=$(printf '%s\n' "$password" | openssl passwd -6 -stdin); fi
  printf '%s:%s\n' "$user" "$hash" >> "$tmp"
  users=$((users + 1))
done
if [ "$users" = 0 ]; then echo 'berth: berth:basicAuth names no user (nothing on stdin)' >&2; exit 64; fi
if cmp -s "$tmp" "$f" && [ "$(stat -c '%a %U:%G' "$f")" = '640 root:www-data' ]; then
  echo 'berth: basic auth of shop-staging unchanged' "($users users)"
else
  chmod 0640 "$tmp"
  chown root:www-data "$tmp"
  mv -f "$tmp" "$f"
  echo 'berth: basic auth of shop-staging updated' "($users users)"
fi

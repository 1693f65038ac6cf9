set -euo pipefail
umask 022
r() { local IFS=$'\t'; printf '%s\n' "$*"; }
for f in /var/lib/berth/shop-alerts/alerts/*.firing; do
  [ -e "$f" ] || continue
  k=${f##*/}
  since='' what='' logs=''
  { read -r since; read -r what; read -r logs; } < "$f" || true
  r A "${k%.firing}" "$since" "${what//$'\t'/ }" "${logs//$'\t'/ }"
done
if [ -f /var/lib/berth/shop-alerts/alerts/health.failing ]; then r H "$(head -c 20 /var/lib/berth/shop-alerts/alerts/health.failing | tr -dc '0-9')"; fi
if [ -f /var/lib/berth/shop-alerts/alerts/auto-rollbacks ]; then tail -n 5 /var/lib/berth/shop-alerts/alerts/auto-rollbacks | sed 's/^/B\t/'; fi
true

set -euo pipefail
umask 022
unit=berth-shop-staging-backup.service
echo 'berth: backing up shop-staging on host main (berth-shop-staging-backup.service)'
if systemctl start "$unit"; then ok=1; else ok=0; fi
inv=$(systemctl show -P InvocationID "$unit" 2>/dev/null || true)
if [ "$ok" = 1 ]; then
  if [ -n "$inv" ]; then journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv" || true; fi
  echo 'berth: backup of shop-staging done'
  exit 0
fi
if [ -n "$inv" ]; then journalctl --no-pager -o cat -n 40 "_SYSTEMD_INVOCATION_ID=$inv" >&2 || true; else journalctl --no-pager -o cat -n 40 -u "$unit" >&2 || true; fi
echo 'berth: backup of shop-staging FAILED' "($(systemctl show -P Result "$unit" 2>/dev/null || echo unknown))" >&2
exit 1

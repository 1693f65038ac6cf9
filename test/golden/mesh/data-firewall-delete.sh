set -euo pipefail
umask 022
if [ -f /etc/systemd/system/berth-shop-fleet-data-firewall.service ] && ! grep -qxF '# berth data firewall identity: shop-fleet-data-firewall-rules' /etc/systemd/system/berth-shop-fleet-data-firewall.service; then
  echo 'berth: /etc/systemd/system/berth-shop-fleet-data-firewall.service belongs to a newer data firewall resource; leaving it'
  exit 0
fi
systemctl disable --now --quiet berth-shop-fleet-data-firewall.service 2>/dev/null || true; systemctl reset-failed berth-shop-fleet-data-firewall.service 2>/dev/null || true
if command -v iptables >/dev/null 2>&1; then
  while iptables -w -D DOCKER-USER -j BERTH-DATA-f98b93b0 2>/dev/null; do :; done
  if iptables -w -S BERTH-DATA-f98b93b0 >/dev/null 2>&1; then iptables -w -F BERTH-DATA-f98b93b0; iptables -w -X BERTH-DATA-f98b93b0; fi
fi
rm -f /etc/systemd/system/berth-shop-fleet-data-firewall.service /usr/local/sbin/berth-shop-fleet-data-firewall
systemctl daemon-reload
echo 'berth: BERTH-DATA-f98b93b0 removed'

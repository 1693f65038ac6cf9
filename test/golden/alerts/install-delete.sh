set -euo pipefail
umask 022
if [ -f /usr/local/sbin/berth-shop-alerts-alert ] && ! grep -qxF '# Managed by berth (project berth, stack alerts). Changes are overwritten by pulumi up.' /usr/local/sbin/berth-shop-alerts-alert; then echo 'berth: /usr/local/sbin/berth-shop-alerts-alert is not this stack'\''s; left as it is' >&2; exit 0; fi
systemctl disable --now --quiet berth-shop-alerts-check.timer 2>/dev/null || true; systemctl reset-failed berth-shop-alerts-check.timer 2>/dev/null || true; systemctl disable --now --quiet berth-shop-alerts-check.service 2>/dev/null || true; systemctl reset-failed berth-shop-alerts-check.service 2>/dev/null || true
rm -f /usr/local/sbin/berth-shop-alerts-alert /usr/local/sbin/berth-shop-alerts-check /etc/systemd/system/berth-shop-alerts-alert@.service /etc/systemd/system/berth-shop-alerts-check.service /etc/systemd/system/berth-shop-alerts-check.timer /etc/systemd/system/berth-shop-alerts-.service.d/50-berth-alerts.conf /etc/systemd/system/berth-shop-alerts-alert@.service.d/50-berth-alerts.conf /etc/berth/shop-alerts/alerts/webhooks
rm -rf /var/lib/berth/shop-alerts/alerts
rmdir --ignore-fail-on-non-empty /etc/berth/shop-alerts/alerts /etc/systemd/system/berth-shop-alerts-.service.d /etc/systemd/system/berth-shop-alerts-alert@.service.d 2>/dev/null || true
systemctl daemon-reload

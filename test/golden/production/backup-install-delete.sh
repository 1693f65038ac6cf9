#!/usr/bin/env bash
set -euo pipefail
umask 022
for unit in berth-shop-production-backup.timer berth-shop-production-restore-test.timer; do systemctl disable --now --quiet "$unit" 2>/dev/null || true; done
rm -f /usr/local/sbin/berth-shop-production-backup /usr/local/sbin/berth-shop-production-restore /usr/local/sbin/berth-shop-production-restore-test /etc/systemd/system/berth-shop-production-backup.service /etc/systemd/system/berth-shop-production-backup.timer /etc/systemd/system/berth-shop-production-restore-test.service /etc/systemd/system/berth-shop-production-restore-test.timer
systemctl daemon-reload

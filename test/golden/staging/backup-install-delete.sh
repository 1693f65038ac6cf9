#!/usr/bin/env bash
set -euo pipefail
umask 022
for unit in berth-shop-staging-backup.timer berth-shop-staging-backup.service berth-shop-staging-restore-test.timer berth-shop-staging-restore-test.service; do systemctl disable --now --quiet "$unit" 2>/dev/null || true; systemctl reset-failed "$unit" 2>/dev/null || true; done
rm -f /usr/local/sbin/berth-shop-staging-backup /usr/local/sbin/berth-shop-staging-restore /usr/local/sbin/berth-shop-staging-restore-test /etc/systemd/system/berth-shop-staging-backup.service /etc/systemd/system/berth-shop-staging-backup.timer /etc/systemd/system/berth-shop-staging-restore-test.service /etc/systemd/system/berth-shop-staging-restore-test.timer
systemctl daemon-reload

#!/usr/bin/env bash
set -euo pipefail
umask 022
rm -rf /etc/berth/shop-production/backup /var/cache/berth/shop-production/restic

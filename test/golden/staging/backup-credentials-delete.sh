#!/usr/bin/env bash
set -euo pipefail
umask 022
rm -rf /etc/berth/shop-staging/backup /var/cache/berth/shop-staging/restic

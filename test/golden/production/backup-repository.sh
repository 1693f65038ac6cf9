#!/usr/bin/env bash
set -euo pipefail
umask 022
rs() { restic --repo sftp:shop@backup.example.net:/srv/restic/shop-production --password-file /etc/berth/shop-production/backup/password --cache-dir /var/cache/berth/shop-production/restic -o 'sftp.command=ssh -F /dev/null -i /etc/berth/shop-production/backup/ssh_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/berth/shop-production/backup/known_hosts -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 -o ServerAliveInterval=15 -p 22 shop@backup.example.net -s sftp' "$@"; }
if rs cat config >/dev/null 2>&1; then
  echo 'berth: restic repository sftp:shop@backup.example.net:/srv/restic/shop-production is ready'
else
  rs init
  echo 'berth: restic repository sftp:shop@backup.example.net:/srv/restic/shop-production initialised'
fi

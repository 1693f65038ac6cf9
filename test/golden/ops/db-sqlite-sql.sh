set -euo pipefail
umask 022
# shellcheck disable=SC2016 # the variables are the app-side bash's (appSideBody)
systemd-run --quiet --wait --pipe --collect --service-type=exec --unit=berth-notes-sqlite-db-"$$" -p User=notes-sqlite -p Group=notes-sqlite -p EnvironmentFile=/etc/berth/notes-sqlite/app.env -p WorkingDirectory=/srv/berth/notes-sqlite/current -p Environment=HOME=/srv/berth/notes-sqlite/shared -p UMask=0022 /bin/bash -c 'set -euo pipefail
command -v sqlite3 >/dev/null || { echo '\''berth: sqlite3 is not installed on host main (install the package sqlite3)'\'' >&2; exit 127; }
[ -f /srv/berth/notes-sqlite/shared/storage/production.sqlite3 ] || { echo '\''berth: /srv/berth/notes-sqlite/shared/storage/production.sqlite3 does not exist yet (no release has run)'\'' >&2; exit 1; }
exec sqlite3 -bail /srv/berth/notes-sqlite/shared/storage/production.sqlite3'

set -euo pipefail
umask 022
# shellcheck disable=SC2016 # the variables are the app-side bash's (appSideBody)
systemd-run --quiet --wait --pipe --pty --collect --service-type=exec --unit=berth-shop-staging-db-"$$" -p User=shop-staging -p Group=shop-staging -p EnvironmentFile=/etc/berth/shop-staging/app.env -p WorkingDirectory=/srv/berth/shop-staging/current -p Environment=HOME=/srv/berth/shop-staging/shared -p UMask=0022 /bin/bash -c 'set -euo pipefail
command -v psql >/dev/null || { echo '\''berth: psql is not installed on host main (install the package postgresql-client)'\'' >&2; exit 127; }
url="${DATABASE_URL:-}"
[ -n "$url" ] || { echo '\''berth: DATABASE_URL is not set in the environment of the app'\'' >&2; exit 1; }
re="^(postgres(ql)?://)([^:@/]*):([^@/]*)@(.*)$"
if [[ "$url" =~ $re ]]; then
  pw="${BASH_REMATCH[4]}"
  pw="${pw//\\/\\\\}"
  printf -v PGPASSWORD "%b" "${pw//%/\\x}"
  export PGPASSWORD
  url="${BASH_REMATCH[1]}${BASH_REMATCH[3]}@${BASH_REMATCH[5]}"
  unset pw
fi
exec psql -d "$url"'

set -euo pipefail
umask 022
if [ ! -f /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/.berth-built ]; then echo 'berth: release 5f8008de1dd704ea09395bd87621f1d32eeac017 is not built' >&2; exit 1; fi
if [ -f /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/.berth-released ]; then echo 'berth: release command of 5f8008de1dd704ea09395bd87621f1d32eeac017 already ran'; exit 0; fi
echo 'berth: backing up the database before the release command of 5f8008de1dd704ea09395bd87621f1d32eeac017'
if ! /usr/local/sbin/berth-shop-staging-backup release 5f8008de1dd704ea09395bd87621f1d32eeac017; then
  echo 'berth: the backup before the release command of 5f8008de1dd704ea09395bd87621f1d32eeac017 FAILED: the release command did not run and traffic stays on the current release' >&2
  exit 1
fi
echo 'berth: running the release command of 5f8008de1dd704ea09395bd87621f1d32eeac017'
systemd-run --quiet --wait --pipe --collect --service-type=exec --unit=berth-shop-staging-release-"$$" -p User=shop-staging -p Group=shop-staging -p EnvironmentFile=/etc/berth/shop-staging/app.env -p WorkingDirectory=/srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017 -p Environment=HOME=/srv/berth/shop-staging/shared -p UMask=0022 /bin/bash -c 'set -euo pipefail
bin/rails db:prepare'
touch /srv/berth/shop-staging/releases/5f8008de1dd704ea09395bd87621f1d32eeac017/.berth-released

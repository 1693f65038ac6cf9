set -euo pipefail
umask 022
systemd-run --quiet --wait --pipe --pty --collect --service-type=exec --unit=berth-shop-staging-console-"$$" -p User=shop-staging -p Group=shop-staging -p EnvironmentFile=/etc/berth/shop-staging/app.env -p WorkingDirectory=/srv/berth/shop-staging/current -p Environment=HOME=/srv/berth/shop-staging/shared -p UMask=0022 /bin/bash -c 'set -euo pipefail
exec bin/rails console'

set -euo pipefail
umask 022
journalctl --no-pager -o short-iso -n 100 -f -u 'berth-shop-staging-web@*.service'

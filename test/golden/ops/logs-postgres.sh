set -euo pipefail
umask 022
docker logs --timestamps --tail 20 shop-staging-postgres

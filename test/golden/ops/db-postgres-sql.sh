set -euo pipefail
umask 022
exec docker exec -i shop-staging-postgres psql -X -v ON_ERROR_STOP=1 -f - -U shop_staging -d shop_staging

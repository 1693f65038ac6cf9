set -euo pipefail
umask 022
exec docker exec -i -t shop-staging-postgres psql -U shop_staging -d shop_staging

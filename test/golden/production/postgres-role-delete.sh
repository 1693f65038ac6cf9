set -euo pipefail
umask 022
if [ "$(docker inspect -f '{{.State.Running}}' shop-production-postgres 2>/dev/null)" != true ]; then echo 'berth: postgres container is gone; nothing to drop'; exit 0; fi
{
  printf '\\set role %s\n' shop_production
  cat <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', d.datname) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = :'role' \gexec
SELECT format('DROP ROLE IF EXISTS %I', :'role') \gexec
SQL
} | docker exec -i shop-production-postgres psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres

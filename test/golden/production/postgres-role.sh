set -euo pipefail
umask 022
IFS= read -r ROLE_PASSWORD || { echo 'berth: missing secret ROLE_PASSWORD on stdin' >&2; exit 64; }
if ! [[ "$ROLE_PASSWORD" =~ ^[A-Za-z0-9]{16,}$ ]]; then echo 'berth: role password must be 16+ alphanumerics' >&2; exit 64; fi
for attempt in $(seq 1 60); do if docker exec shop-production-postgres pg_isready -q -U postgres -h 127.0.0.1; then break; fi; if [ "$attempt" -eq 60 ]; then exit 1; fi; sleep 2; done
{
  printf '\\set pw %s\n' "$ROLE_PASSWORD"
  printf '\\set role %s\n' shop_production
  cat <<'SQL'
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD %L', :'role', :'pw') \gexec
SQL
} | docker exec -i shop-production-postgres psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres
echo 'berth: role shop_production is up to date'

#!/bin/sh
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d): one role and one
# database a service, the role owning its database, so that no service can read another's tables. Each role's
# password comes from the environment, <SERVICE>_DB_PASSWORD (compose: from .env; the dev overlay: from the Secret
# <service>-db); a missing one stops the initialisation instead of falling back to a default.
set -eu
for service in complaints sensors opendata musrenbang collab notifications; do
  variable=$(echo "${service}_DB_PASSWORD" | tr '[:lower:]' '[:upper:]')
  password=$(printenv "$variable" || true)
  if [ -z "$password" ]; then
    echo "init-databases: $variable is not set" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done

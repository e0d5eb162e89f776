#!/bin/sh
# Run once by the postgres image on an empty data folder (mounted into
# /docker-entrypoint-initdb.d/). Makes the two roles Casedesk uses:
#
#   casedesk_owner  owns the database and its tables; `casedesk migrate`
#                   runs as it (and grants casedesk_app its part)
#   casedesk_app    what the service runs as: reads and writes the case
#                   tables, only reads and appends the audit tables; no
#                   superuser (so no session_replication_role), no owner
#                   (so no DISABLE TRIGGER), no TRUNCATE, no schema changes
set -eu
owner_password=$(cat /run/secrets/owner_password)
app_password=$(cat /run/secrets/app_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE casedesk_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE casedesk_app LOGIN PASSWORD :'app_password';
CREATE DATABASE casedesk OWNER casedesk_owner;
REVOKE ALL ON DATABASE casedesk FROM PUBLIC;
GRANT CONNECT ON DATABASE casedesk TO casedesk_owner, casedesk_app;
SQL

#!/usr/bin/env bash
# The set-up half of docker-compose.yaml's airflow-init, run by the image's /entrypoint after it waited for the
# metadata database and migrated it (_AIRFLOW_DB_MIGRATE): the response database's schema, the connections
# sms_platform and sms_rt_postgres, the platform pool and the admin's password, all from .env. Every step can be
# repeated: `docker compose up` runs it again, so a changed .env takes effect. Secrets go through files only,
# never a command line. See docs/deployment.md.
set -euo pipefail

echo "Response database: migrations of schema ${SMS_RT_SCHEMA:-sms_rt}"
sms-rt migrate

echo "Connections sms_platform and sms_rt_postgres (replaced)"
conn_file="$(mktemp --suffix .json)"
trap 'rm -f "${conn_file}"' EXIT
python - "${conn_file}" <<'PY'
import json
import os
import sys

env = os.environ
platform = {
    "conn_type": "sms_platform",
    "host": env["SMS_PLATFORM_HOST"],
    "schema": env.get("SMS_PLATFORM_SCHEME") or "https",
    "password": env["SMS_PLATFORM_TOKEN"],
    "extra": env.get("SMS_PLATFORM_EXTRA") or "{}",
}
if env.get("SMS_PLATFORM_PORT"):
    platform["port"] = int(env["SMS_PLATFORM_PORT"])
json.loads(platform["extra"])  # fail here, naming nothing secret, if SMS_PLATFORM_EXTRA is not JSON
response_db = {
    "conn_type": "postgres", "host": "response-db", "port": 5432, "schema": "sms_rt", "login": "sms_rt",
    "password": env["SMS_RT_DB_PASSWORD"],
}
with open(sys.argv[1], "w") as f:
    json.dump({"sms_platform": platform, "sms_rt_postgres": response_db}, f)
PY
airflow connections import --overwrite "${conn_file}"

echo "Pool sms_platform_api: ${SMS_PLATFORM_POOL_SLOTS:-2} slots"
airflow pools set sms_platform_api "${SMS_PLATFORM_POOL_SLOTS:-2}" "SMS platform event API (rate limit)"

echo "Admin user ${AIRFLOW_ADMIN_USER:-admin} (SimpleAuthManager)"
python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as f:
    json.dump({os.environ.get("AIRFLOW_ADMIN_USER") or "admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
PY
chown -R "${AIRFLOW_UID:-50000}:0" "$(dirname "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}")"
chmod 600 "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}"
echo "airflow-init done"

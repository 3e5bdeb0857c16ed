#!/bin/sh
# GET /        -> "replica=N version=V host=H"
# GET /healthz -> 200 "ok", or 404 when FAIL_HEALTH is set (a bad release)
set -eu
mkdir -p /www
echo "replica=${IACORCH_REPLICA:-?} version=${VERSION:-unknown} host=$(hostname)" > /www/index.html
if [ -z "${FAIL_HEALTH:-}" ]; then
  echo ok > /www/healthz
fi
exec httpd -f -v -p "${PORT:-8080}" -h /www

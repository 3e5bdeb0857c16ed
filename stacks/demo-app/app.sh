#!/bin/sh
# GET /        -> "replica=N version=V host=H"
# GET /healthz -> 200 "ok", or 404 when FAIL_HEALTH says so (a bad release):
#                 FAIL_HEALTH=1 fails every replica, FAIL_HEALTH=replica:N only replica N
set -eu
mkdir -p /www
replica="${IACORCH_REPLICA:-?}"
echo "replica=$replica version=${VERSION:-unknown} host=$(hostname)" > /www/index.html
case "${FAIL_HEALTH:-}" in
  "") echo ok > /www/healthz ;;
  1|"replica:$replica") echo "failing health on purpose: FAIL_HEALTH=$FAIL_HEALTH" >&2 ;;
  *) echo ok > /www/healthz ;;
esac
exec httpd -f -v -p "${PORT:-8080}" -h /www

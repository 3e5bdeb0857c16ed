#!/bin/sh
# Install the Docker engine from the distribution (Debian/Ubuntu: docker.io),
# enable and start it with systemd. Idempotent: a usable engine is left alone.
# Prints "docker VERSION" on success.
set -eu
MIN_MAJOR="${MIN_MAJOR:-20}"

usable() {
  v=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || return 1
  major=${v%%.*}
  [ "${major:-0}" -ge "$MIN_MAJOR" ] || return 1
  echo "docker $v"
}

if usable; then exit 0; fi

if [ ! -r /etc/os-release ]; then
  echo "cannot tell the distribution (no /etc/os-release); install Docker $MIN_MAJOR+ by hand" >&2
  exit 3
fi
. /etc/os-release
case "${ID:-}:${ID_LIKE:-}" in
  debian:*|ubuntu:*|*:*debian*) ;;
  *) echo "unsupported distribution ${PRETTY_NAME:-$ID}: iacorch installs Docker with apt on Debian/Ubuntu" >&2
     exit 3 ;;
esac

export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends docker.io >/dev/null
fi
systemctl enable --now docker.service >/dev/null 2>&1 || systemctl start docker.service

i=0
until usable; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "docker did not become usable within 60 s; systemctl status docker:" >&2
    systemctl --no-pager status docker.service >&2 || true
    exit 4
  fi
  sleep 1
done

# iacorch: `make demo` runs the main job, `make test` runs the whole suite.
# Both install what they need on a fresh Debian machine (as root), idempotently.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
APT_PKGS   := docker.io haproxy openssh-server openssh-client debootstrap busybox-static socat wrk graphviz \
              python3-venv ca-certificates iproute2 procps file curl
DOCKERD_LOG ?= /var/log/iacorch-dockerd.log
PYTEST_ARGS ?=

.PHONY: demo demo-aws test deps system-deps venv docker-up bench wheel-check

demo: deps
	$(BIN)/python -m moto_fixtures.demo

demo-aws: deps
	$(BIN)/python -m moto_fixtures.demo_aws

test: deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

deps: system-deps venv docker-up

# Debian packages, installed only when one is missing.
system-deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The venv with the package (editable) and all its extras; redone when pyproject.toml changes.
venv: $(STAMP)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	@touch $(STAMP)

# Start dockerd when no engine answers (CI and fresh machines have none running).
docker-up:
	@if ! docker info >/dev/null 2>&1; then \
	  echo "starting dockerd (log: $(DOCKERD_LOG))"; \
	  nohup dockerd >$(DOCKERD_LOG) 2>&1 & \
	  for i in $$(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done; \
	  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $(DOCKERD_LOG)"; tail -20 $(DOCKERD_LOG); exit 1; }; \
	fi

bench: deps
	$(BIN)/python bench/plan_scale.py

# A non-editable wheel in a fresh venv must work on its own (providers/ and templates/ inside).
wheel-check: deps
	$(BIN)/python -m pytest tests/packaging -q $(PYTEST_ARGS)

# OpsConductor: `make run` and `make test` are the whole set-up (README.md).
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test install sysdeps rmem validate demo bench clean lock image

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or 3.12 is needed (durable_rules does not import on 3.13)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# requirements.lock pins every package of the development install (`make lock` rewrites it);
# pip takes it as constraints, so a fresh clone installs exactly what was tested.
$(STAMP): pyproject.toml setup.py requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e '.[embedded,test]'
	@touch $(STAMP)

lock: | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded,test]'
	@{ echo "# pip freeze of the development install: make lock rewrites it (Python $$($(BIN)/python -c 'import platform; print(platform.python_version())'))."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e '; } > requirements.lock

install: $(STAMP)

# System tools the tests drive for real: net-snmp's snmptrap/snmpd, Debian's chromium
# (driven by playwright-python; never `playwright install`, which downloads a browser).
sysdeps:
	@missing=""; \
	command -v snmptrap >/dev/null || missing="$$missing snmp"; \
	command -v snmpd >/dev/null || missing="$$missing snmpd"; \
	command -v chromium >/dev/null || missing="$$missing chromium fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: install$$missing (apt-get) for the SNMP and browser tests"; fi; \
	fi
	@$(MAKE) -s rmem

# Trap bursts queue in the socket receive buffer: let the receiver have the 8 MiB it asks for
# (as root; otherwise the receiver's start-up warning says the command to run, docs/snmp-traps.md).
rmem:
	@if [ "$$(id -u)" = 0 ] && [ "$$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo 0)" -lt 16777216 ]; then \
	  sysctl -q -w net.core.rmem_max=16777216 2>/dev/null || true; fi

# The reachability webhook's token (connectors.d/monitoring-webhook.yaml) is never in the
# repository: unless you set it, `make run` and `make demo` share one made for this checkout.
run demo: export MONITORING_WEBHOOK_TOKEN ?= $(shell mkdir -p var && { test -s var/monitoring-webhook.token || \
	head -c 24 /dev/urandom | base64 | tr -d '/+=' > var/monitoring-webhook.token; } && cat var/monitoring-webhook.token)

run: $(STAMP) rmem
	$(BIN)/opsc serve --config . --host $(HOST) --port $(PORT)

test: $(STAMP) sysdeps lint
	$(BIN)/python -m pytest -q

# Lint and types gate the suite (pyproject.toml [tool.ruff] and [tool.mypy] say what is
# checked, and why); mypy keeps its cache in .mypy_cache.
lint: $(STAMP)
	$(BIN)/ruff check engine web tests bench setup.py
	$(BIN)/mypy

# Plays a site power-loss scenario into the engine `make run` started (run it in another terminal).
demo: $(STAMP)
	$(BIN)/opsc demo --server http://$(HOST):$(PORT)

validate: $(STAMP)
	$(BIN)/opsc validate --config .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info

# The container image (deploy/Dockerfile), where docker exists; CI does not need it.
image:
	@command -v docker >/dev/null || { echo "make image: docker is not installed here"; exit 2; }
	docker build -f deploy/Dockerfile -t opsconductor:$$(git describe --always --dirty 2>/dev/null || echo dev) .

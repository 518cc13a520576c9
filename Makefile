# `make run` and `make test` create .venv when it is missing, install the locked dependency set,
# and go. `make lock` regenerates requirements.lock from requirements.in.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The machine's pip config names local wheel folders that hold none of these packages; pip
# warns once per package. Hide that noise, nothing else; pipefail still reports pip's own failure.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install browser compose run test test-fast lint bench lock clean

install: $(INSTALLED)

# deploy/install.sh installs as the Dockerfile does (uv: the lock in about 25 s), then the
# project as an editable install.
$(INSTALLED): requirements.lock pyproject.toml deploy/install.sh
	PYTHON=$(PYTHON) deploy/install.sh dependencies $(VENV) requirements.lock 2>&1 | $(QUIET_PIP)
	deploy/install.sh develop $(VENV) . 2>&1 | $(QUIET_PIP)
	touch $@

run: install
	$(BIN)/mnist-pipeline run

# The report's browser test drives Debian's Chromium (Playwright cannot download browsers here).
browser:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The deploy tests validate docker-compose.yml with Debian's docker-compose (1.29, whose `config`
# needs no Docker engine).
compose:
	command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

test: install browser compose
	$(BIN)/python -m pytest

# The unit tests alone (-m "not e2e": no real pipeline run through Airflow), for a quick check.
test-fast: install
	$(BIN)/python -m pytest -m "not e2e"

# ruff over the whole tree, mypy over pipeline/ and components/: pyproject.toml says which rules
# and why. About 35 s on a clean clone (CI), 2 s once mypy's cache (.mypy_cache/) is warm.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Writes bench/results/<date>.json and prints a table; QUICK=1 for a slice (minutes, not the README's figures).
bench: install
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

# Resolved for Python 3.11 on manylinux_2_28 (glibc 2.36 here), with the pins of
# requirements-overrides.txt (each with its reason) above what packages declare. uv resolves this
# set in under a minute where pip backtracks for long.
# Left out: rfc3987-syntax (and lark, its only user), which jupyter-events (a TFX notebook
# dependency, unused here) asks for through jsonschema[format-nongpl]. When installed, jsonschema
# builds its grammar on import: 1 s of every Airflow process start, the DAG parse included.
lock:
	test -x .lock-venv/bin/uv || { $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet uv; }
	.lock-venv/bin/uv pip compile requirements.in --override requirements-overrides.txt --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-emit-package rfc3987-syntax --no-emit-package lark \
	  --output-file requirements.lock

clean:
	rm -rf $(VENV) .lock-venv

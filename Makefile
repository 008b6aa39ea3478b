# `make run` and `make test` each (re)create .venv when it is missing or older than pyproject.toml.
# The first interpreter that really runs and is 3.11+ (pyenv shims may exist for absent versions).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
STAMP := $(VENV)/.installed
# npm tools the suite runs on the OpenAPI document (Spectral, openapi-typescript): tests/tools/README.md
NODE_TOOLS := tests/tools/node_modules/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.11, python3.12 or python3 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(NODE_TOOLS): tests/tools/package.json tests/tools/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/tools --no-audit --no-fund --loglevel=error && touch $(NODE_TOOLS); \
	else echo "npm is missing: the OpenAPI tool tests skip (fail under CI=true)"; fi

run: $(STAMP)
	$(VENV)/bin/gateway install customer-interaction --data
	$(VENV)/bin/gateway serve

# On every CPU, at most 4 (pytest-xdist): each worker starts its own throwaway PostgreSQL cluster.
test: $(STAMP) $(NODE_TOOLS)
	$(VENV)/bin/python -m pytest -n auto --maxprocesses 4

# Not part of `test`: starts the gateway at 1k/10k/100k objects, drives it with wrk (installed with
# apt-get when missing and root) and writes docs/performance.md. About 5 minutes. Then the same on
# PostgreSQL at 100k objects with 1 and 2 workers (its own section of the doc; about 3 minutes).
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/bench.py
	$(VENV)/bin/python benchmarks/bench_postgresql.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data

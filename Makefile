# autohub: `make demo` runs the main job on the embedded default (SQLite, local);
# `make test` sets up everything the tests need (venv, PostgreSQL, Redis, n8n) and runs them.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES_ENV := .test-services/env
PYTEST_ARGS ?= -n 2

.PHONY: venv demo test lint services services-down bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet uv \
	  && $(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt -e ".[dev]" \
	  || $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	rm -rf demo
	$(BIN)/autohub init demo --project demo
	cd demo && ../$(BIN)/autohub validate
	cd demo && ../$(BIN)/autohub list
	cd demo && ../$(BIN)/autohub show deploy-service
	cd demo && ../$(BIN)/autohub run hello -p who=demo
	cd demo && ../$(BIN)/autohub run backup-data
	cd demo && ../$(BIN)/autohub run disk-report
	cd demo && ../$(BIN)/autohub runs
	cd demo && ../$(BIN)/autohub events --limit 15

services:
	mkdir -p .test-services
	$(PYTHON) tests/services.py up > $(SERVICES_ENV)

services-down:
	$(PYTHON) tests/services.py down

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: venv services lint
	. ./$(SERVICES_ENV) && $(BIN)/pytest $(PYTEST_ARGS)

bench: venv services
	. ./$(SERVICES_ENV) && $(BIN)/python benchmarks/events.py && $(BIN)/python benchmarks/startup.py \
	  && $(BIN)/python benchmarks/engine.py && $(BIN)/python benchmarks/api.py \
	  && $(BIN)/python benchmarks/hook.py

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache

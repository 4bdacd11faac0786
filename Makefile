# recyclate-marketplace: `make run` serves the API with demo data; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RECYCLATE_DATABASE_URL ?= sqlite:///./data/recyclate.db

.PHONY: run install test lint typecheck test-sqlite test-postgres test-slow contract-deep openapi \
        bench clean help

help:
	@echo "make run          set up, migrate, load demo data and serve on http://127.0.0.1:8000"
	@echo "make test         lint, type checks, tests on SQLite and PostgreSQL (what CI runs)"
	@echo "make openapi      regenerate openapi/openapi.json"
	@echo "make contract-deep  long schemathesis run against the app"
	@echo "make bench        run the benchmarks (see README)"

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p data
	$(BIN)/recyclate db upgrade
	$(BIN)/recyclate demo load
	@echo
	@echo "API on http://127.0.0.1:8000  -  interactive docs: http://127.0.0.1:8000/docs"
	@echo "Try:  curl -H 'Authorization: Bearer rcy_sk_demo_alpen_compounds' http://127.0.0.1:8000/v1/organizations/me"
	@echo
	$(BIN)/recyclate serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy app forecasting migrations

test-sqlite: install
	RECYCLATE_TEST_DB=sqlite $(BIN)/pytest -q -m "not slow"

test-postgres: install
	RECYCLATE_TEST_DB=postgres scripts/with-postgres.sh $(BIN)/pytest -q -m "db and not slow"

test: lint typecheck test-sqlite test-postgres

test-slow: install
	RECYCLATE_TEST_DB=sqlite $(BIN)/pytest -q -m slow
	RECYCLATE_TEST_DB=postgres scripts/with-postgres.sh $(BIN)/pytest -q -m "db and slow"

contract-deep: install
	RECYCLATE_CONTRACT_EXAMPLES=300 RECYCLATE_TEST_DB=sqlite $(BIN)/pytest -q tests/contract

openapi: install
	$(BIN)/python -m app.openapi > openapi/openapi.json

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache

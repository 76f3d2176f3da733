# Rapport: `make run` serves the app with demo data, `make test` runs the whole suite.
# Both set everything up first (virtual environment, Python packages, front-end libraries).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
RAPPORT = $(BIN)/rapport
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
VENDOR  = rapport/static/vendor
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup run test test-postgres lint format bench lock clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bootstrap $(VENDOR)/bootstrap-icons $(VENDOR)/chart.js $(VENDOR)/sortablejs $(VENDOR)/alpinejs
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $(VENDOR)/bootstrap/
	cp -r node_modules/bootstrap-icons/font/bootstrap-icons.min.css node_modules/bootstrap-icons/font/fonts $(VENDOR)/bootstrap-icons/
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.js/chart.min.js
	cp node_modules/sortablejs/Sortable.min.js $(VENDOR)/sortablejs/sortable.min.js
	cp node_modules/alpinejs/dist/cdn.min.js $(VENDOR)/alpinejs/alpine.min.js
	@touch $@

setup: $(BIN)/.installed $(VENDOR)/.installed ## Create the virtual environment and fetch front-end libraries

# `make run` listens on HOST:PORT; the demo login and links point there unless SITE_URL says otherwise.
HOST ?= 127.0.0.1
PORT ?= 8000
RUN_ENV = DEBUG=$${DEBUG:-1} SITE_URL=$${SITE_URL:-http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)}

run: setup ## Set up, load demo data on first run, and serve on http://127.0.0.1:8000 with the worker
	$(RUN_ENV) $(RAPPORT) migrate --no-input -v 0
	$(RUN_ENV) $(RAPPORT) demo --if-empty
	$(RUN_ENV) $(RAPPORT) serve --host $(HOST) --port $(PORT)

test: setup ## Set up and run the whole test suite (SQLite; set DATABASE_URL for PostgreSQL)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-postgres: setup ## Run the whole test suite against PostgreSQL ($(PG_URL))
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: setup ## ruff, ruff format check, mypy on services, queries and other logic, Django checks, missing migrations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $$(ls rapport/*/services.py rapport/*/queries.py) rapport/contacts/importing.py \
		rapport/contacts/duplicates.py rapport/contacts/exporting.py rapport/contacts/validation.py \
		rapport/core/access.py rapport/core/db.py rapport/core/demo.py \
		$$(ls rapport/sales/*.py | grep -v -e __init__ -e apps.py -e admin.py -e urls.py -e models.py -e services.py -e queries.py)
	PYTHONPATH=. DJANGO_SETTINGS_MODULE=tests.settings $(RAPPORT) check
	PYTHONPATH=. DJANGO_SETTINGS_MODULE=tests.settings $(RAPPORT) makemigrations --check --dry-run

format: setup ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup ## Run the benchmarks on SQLite and, if reachable, PostgreSQL; print ratios to the raw limits
	$(BIN)/python -m bench

lock: ## Re-pin Python packages from pyproject.toml into requirements.lock
	rm -rf /tmp/rapport-lock && $(PYTHON) -m venv /tmp/rapport-lock
	/tmp/rapport-lock/bin/pip install --quiet --upgrade pip && /tmp/rapport-lock/bin/pip install --quiet -e '.[dev]'
	{ echo "# Pinned versions of every Python package Rapport and its tests use (pip freeze of a venv built from"; \
	  echo "# pyproject.toml with the dev extra). Regenerate with 'make lock'."; \
	  /tmp/rapport-lock/bin/pip freeze --exclude-editable | grep -v '^rapport'; } > requirements.lock

clean: ## Remove the virtual environment, front-end libraries and local data (./var)
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache .mypy_cache .ruff_cache

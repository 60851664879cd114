# The two commands: `make run` (the product on embedded defaults) and `make test` (the full gate).
# A fresh machine needs only make and Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 8765
export PORT EMULATOR_PORT

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt typecheck imports migrations-check pytest fuzz worker beat emulator bench lock migrate superuser clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) requirements/base.txt requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

run: $(STAMP)  ## Start the product on 127.0.0.1:$PORT (SQLite, in-process cache, eager Celery, emulator)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py serve --host $(HOST) --port $(PORT)

test: lint typecheck imports migrations-check pytest  ## The full gate: lint, types, import rules, migrations, pytest

lint: $(STAMP)  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)  ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP)  ## mypy with django-stubs and DRF stubs
	DEBUG=1 $(VENV)/bin/mypy .

imports: $(STAMP)  ## import-linter layer contracts (backend imports no app, emulator stands alone)
	$(VENV)/bin/lint-imports

migrations-check: $(STAMP)  ## Fail if models changed without a migration
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run

pytest: $(STAMP)  ## The test suite (PostgreSQL and Redis on loopback; REQUIRE_SERVICES=1 makes them mandatory)
	$(PY) -m pytest $(PYTEST_ARGS)

fuzz: $(STAMP)  ## Schemathesis over every operation of /api/schema/ (PostgreSQL, DEBUG off; FUZZ_MAX_SECONDS=180)
	$(PY) -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

worker: $(STAMP)  ## Celery worker (needs REDIS_URL or CELERY_BROKER_URL)
	$(VENV)/bin/celery -A aiassistant worker --loglevel=INFO

beat: $(STAMP)  ## Celery beat scheduler (stream sweeper, cleanups)
	$(VENV)/bin/celery -A aiassistant beat --loglevel=INFO

emulator: $(STAMP)  ## The LLM emulator alone on 127.0.0.1:$EMULATOR_PORT (Bedrock, Anthropic, OpenAI protocols)
	$(PY) -m backend.llm.emulator --host 127.0.0.1 --port $(EMULATOR_PORT)

bench: $(STAMP)  ## Benchmarks (needs PostgreSQL and Redis); figures go to docs/benchmarks.md
	$(PY) bench/llm_layer.py --write docs/benchmarks.md
	$(PY) bench/chat.py all --write docs/benchmarks.md

migrate: $(STAMP)  ## Apply migrations
	$(PY) manage.py migrate

superuser: $(STAMP)  ## Create an admin user
	$(PY) manage.py createsuperuser

lock:  ## Re-pin requirements/*.txt from requirements/*.in in a throwaway venv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -r requirements/base.in
	(echo "# Pinned by make lock from base.in. Do not edit by hand."; .lockenv/bin/pip freeze) > requirements/base.txt
	.lockenv/bin/pip install --quiet -r requirements/dev.in
	(echo "# Pinned by make lock from dev.in (includes base). Do not edit by hand."; .lockenv/bin/pip freeze) > requirements/dev.txt
	rm -rf .lockenv

clean:  ## Remove the virtualenv, caches and the local SQLite database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache db.sqlite3

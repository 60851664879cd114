# The two commands: `make run` (the product on embedded defaults) and `make test` (the full gate).
# A fresh machine needs only make and Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
HOST ?= 127.0.0.1
PORT ?= 8000
EMULATOR_PORT ?= 8765
# Where `make beat` keeps its schedule: outside the checkout.
BEAT_SCHEDULE ?= $(or $(TMPDIR),/tmp)/aiassistant-celerybeat-schedule
export PORT EMULATOR_PORT
# Targets that run the product are development unless DEBUG says otherwise (production sets DEBUG=0).
DEV := DEBUG=$${DEBUG:-1}

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt typecheck imports migrations-check pytest fuzz worker beat emulator bench lock migrate superuser clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The development toolchain (tests, linters, type checker), on top of the runtime requirements.
$(STAMP): $(PY) requirements/base.txt requirements/dev.txt
	@echo "Installing the development requirements (requirements/dev.txt) into $(VENV)..."
	$(PY) -m pip install --progress-bar on -r requirements/dev.txt
	@touch $(STAMP)

# The runtime requirements only: what `make run`, `worker`, `beat`, ... need.
$(RUNTIME_STAMP): $(PY) requirements/base.txt
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt requirements/base.txt ]; then :; else \
		echo "Installing the runtime requirements (requirements/base.txt) into $(VENV)..."; \
		$(PY) -m pip install --progress-bar on -r requirements/base.txt; fi
	@touch $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP)  ## Start the product on 127.0.0.1:$PORT (SQLite, in-process cache, eager Celery, emulator)
	$(DEV) $(PY) manage.py migrate --noinput
	$(DEV) $(PY) manage.py serve --host $(HOST) --port $(PORT)

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

migrations-check: $(RUNTIME_STAMP)  ## Fail if models changed without a migration
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations --check --dry-run

pytest: $(STAMP)  ## The test suite (PostgreSQL and Redis on loopback; REQUIRE_SERVICES=1 makes them mandatory)
	$(PY) -m pytest $(PYTEST_ARGS)

fuzz: $(STAMP)  ## Schemathesis over every operation of /api/schema/ (PostgreSQL, DEBUG off; FUZZ_MAX_SECONDS=180)
	$(PY) -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

worker: $(RUNTIME_STAMP)  ## Celery worker (needs REDIS_URL or CELERY_BROKER_URL)
	$(DEV) $(VENV)/bin/celery -A aiassistant worker --loglevel=INFO

beat: $(RUNTIME_STAMP)  ## Celery beat scheduler (stream sweeper, cleanups); schedule in $BEAT_SCHEDULE
	$(DEV) $(VENV)/bin/celery -A aiassistant beat --loglevel=INFO --schedule $(BEAT_SCHEDULE)

emulator: $(RUNTIME_STAMP)  ## The LLM emulator alone on 127.0.0.1:$EMULATOR_PORT (Bedrock, Anthropic, OpenAI protocols)
	$(PY) -m backend.llm.emulator --host 127.0.0.1 --port $(EMULATOR_PORT)

bench: $(STAMP)  ## Benchmarks (needs PostgreSQL and Redis); figures go to docs/benchmarks.md
	$(PY) bench/llm_layer.py --write docs/benchmarks.md
	$(PY) bench/bedrock_send.py --write docs/benchmarks.md
	$(PY) bench/pg_commit.py --write docs/benchmarks.md
	$(PY) bench/chat.py all --write docs/benchmarks.md
	$(PY) bench/sitehelp.py --write docs/benchmarks.md
	$(PY) bench/retrieval.py --write docs/benchmarks.md

migrate: $(RUNTIME_STAMP)  ## Apply migrations
	$(DEV) $(PY) manage.py migrate

# With DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD set, no questions are asked.
superuser: $(RUNTIME_STAMP)  ## Create an admin user
	$(DEV) $(PY) manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput)

lock:  ## Re-pin requirements/*.txt from requirements/*.in in a throwaway venv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet --upgrade pip
	.lockenv/bin/pip install --quiet -r requirements/base.in
	(echo "# Pinned by make lock from base.in. Do not edit by hand."; .lockenv/bin/pip freeze) > requirements/base.txt
	.lockenv/bin/pip install --quiet -r requirements/dev.in
	(echo "# Pinned by make lock from dev.in (includes base). Do not edit by hand."; .lockenv/bin/pip freeze) > requirements/dev.txt
	rm -rf .lockenv

clean:  ## Remove everything the targets create: the virtualenv, caches, the SQLite database, uploads, beat schedule
	rm -rf $(VENV) .lockenv .mypy_cache .ruff_cache .pytest_cache .import_linter_cache staticfiles .test-artifacts
	rm -rf db.sqlite3 db.sqlite3-journal db.sqlite3-wal db.sqlite3-shm media
	rm -f $(BEAT_SCHEDULE) $(BEAT_SCHEDULE).bak $(BEAT_SCHEDULE).dat $(BEAT_SCHEDULE).dir $(BEAT_SCHEDULE).db

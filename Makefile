# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi

PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run worker beat test test-sqlite test-postgres lint migrate seed bench clean lock translations

# Installs exactly what requirements-dev.lock pins (hash-checked), then the project itself without resolving again.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# After editing api/translations/*/LC_MESSAGES/messages.po (the compiled .mo is committed beside it).
translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d api/translations

# After changing the dependencies in pyproject.toml: re-pin them (uv's resolver; pip installs the result).
# requirements.lock is what production runs (the Docker image), requirements-dev.lock adds the tools.
LOCK_FOR := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml $(LOCK_FOR) -o requirements.lock
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev $(LOCK_FOR) -o requirements-dev.lock

migrate: $(STAMP)
	$(VENV)/bin/flask db upgrade

seed: migrate
	$(VENV)/bin/flask seed demo

run: seed
	VENV=$(VENV) scripts/serve

# Development, with a broker (CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0): workers run the reactions and
# the fan-outs, beat (exactly one) schedules the periodic jobs.
worker: migrate
	$(VENV)/bin/celery -A worker worker --loglevel=INFO

beat: migrate
	$(VENV)/bin/celery -A worker beat --loglevel=INFO

lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy

# The suite runs twice: embedded (SQLite + in-process store), then PostgreSQL + Redis.
test: lint test-sqlite test-postgres

test-sqlite: $(STAMP)
	@echo "== tests on SQLite + in-process store =="
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest

test-postgres: $(STAMP)
	@if scripts/ensure-services; then \
		echo "== tests on PostgreSQL + Redis =="; \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest; \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL/Redis are required in CI but did not answer" >&2; exit 1; \
	else \
		echo "== PostgreSQL/Redis not available here: skipped the second run =="; \
	fi

# Not part of `make test`: seeds PostgreSQL at scale (database `bench`) and loads gunicorn on 127.0.0.1.
bench: $(STAMP)
	scripts/ensure-services
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/community.db

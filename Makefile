# Each target creates .venv when missing. Python 3.11+ is the only prerequisite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install migration clean messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/amparo migrate
	$(BIN)/amparo bootstrap
	$(BIN)/amparo serve --embedded --host 127.0.0.1 --port 8000

test: $(STAMP)
	./scripts/ensure-browser.sh || echo "Chromium could not be installed: browser tests will be skipped"
	./scripts/ensure-ops-tools.sh || echo "caddy/systemd-analyze/pg_dump could not be installed: the deployment checks will be skipped"
	if command -v npm >/dev/null; then test -x node_modules/.bin/prism -a -f node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json || npm ci --no-audit --no-fund; else echo "npm missing: the Prism contract test will be skipped"; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tracker jobs notifications tests bench || true
	$(BIN)/mypy
	$(BIN)/lint-imports

# The web catalog after wrapping strings: new msgids land in tracker/locales/es/LC_MESSAGES/web.po
# with an empty msgstr and the REVIEW mark; translate them, then `make test` (tests/test_i18n.py).
messages: $(STAMP)
	$(BIN)/amparo messages extract
	$(BIN)/amparo messages review

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# A new migration from the model changes: make migration MSG="what changed".
migration: $(STAMP)
	rm -f /tmp/amparo-migration.sqlite3
	DATABASE_URL=sqlite:////tmp/amparo-migration.sqlite3 VAR_DIR=/tmp/amparo-migration-var \
		$(BIN)/alembic upgrade head
	DATABASE_URL=sqlite:////tmp/amparo-migration.sqlite3 VAR_DIR=/tmp/amparo-migration-var \
		$(BIN)/alembic revision --autogenerate -m "$(MSG)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

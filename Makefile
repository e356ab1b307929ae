# Each target creates .venv when missing. Python 3.11+ is the only prerequisite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install migration-regen clean

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
	if command -v npm >/dev/null; then test -x node_modules/.bin/prism || npm ci --no-audit --no-fund; else echo "npm missing: the Prism contract test will be skipped"; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tracker jobs notifications tests bench || true
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerate the initial migration from the models (pre-release only: no database in the
# field yet). Afterwards, add new revisions instead.
migration-regen: $(STAMP)
	rm -f /tmp/amparo-regen.sqlite3 alembic/versions/0001_initial_schema.py
	DATABASE_URL=sqlite:////tmp/amparo-regen.sqlite3 VAR_DIR=/tmp/amparo-regen-var \
		$(BIN)/alembic revision --autogenerate --rev-id 0001 -m "initial schema"
	sed -i 's/^down_revision.*/down_revision: str | Sequence[str] | None = None/' \
		alembic/versions/0001_initial_schema.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The two commands (see README): `make demo` runs the pipelines, `make test` runs the test suite.
# Both start from a machine with only python3: they create .venv, install the project with its dev
# extra (Meltano, uv, pytest, ...) and install the Meltano plugins into .meltano/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test setup postgres plugins docs check-docs lint

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@

setup: $(INSTALLED)

# Meltano plugins (tap/target from this tree, target-jsonl, target-duckdb, PostgreSQL pair).
plugins: setup
	$(BIN)/meltano install

# The end-to-end tests run `meltano install` once per session themselves.
# PostgreSQL server binaries for the end-to-end tests (Debian's package; the tests start their own
# throwaway server on 127.0.0.1 and stop it afterwards).
postgres:
	bash scripts/ensure_postgres.sh

# The lint gate runs first: a formatting slip or a type error fails CI before the slow suite starts.
test: setup postgres lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/python scripts/demo.py

# Regenerate meltano.yml settings, hub/ definitions and README settings tables from `--about`.
docs: setup
	$(BIN)/python scripts/gen_hub_definitions.py
	$(BIN)/python scripts/update_readme.py

check-docs: setup
	$(BIN)/python scripts/gen_hub_definitions.py --check
	$(BIN)/python scripts/update_readme.py --check

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy tap_amplitude target_amplitude singer_amplitude amplitude_emulator tests scripts

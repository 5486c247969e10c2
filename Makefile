# The two commands (see README): `make demo` runs the pipeline, `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup

$(BIN)/tap-amplitude: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/tap-amplitude

test: setup
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/python scripts/demo.py

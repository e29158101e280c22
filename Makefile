VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test demo lint

$(PY):
	python3 -m venv $(VENV)

setup: $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,bench]"

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright dagster_aha benchmarks

# The example project end to end on the local Aha! sandbox (no account needed): Aha! -> DuckDB,
# intake CSV -> Aha! features. Run it twice: the second run creates no duplicate features.
demo: setup
	cd example_project && $(abspath $(PY)) -m aha_example.demo

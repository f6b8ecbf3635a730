# featurelake: `make run` builds everything and runs the demo pipeline; `make test` runs the test suite.
# Both create .venv on first use; a second run reuses it and the cached Delta JARs, and works offline.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
FROM   ?= 2013-01-01
TO     ?= 2013-12-31
YEARS  ?= 1
# Airflow gets its own environment, so that its pins never touch the main one (tests load the DAG there).
AIRFLOW_VENV := .venv-airflow
AIRFLOW      := apache-airflow==3.3.2
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(subst ==,-,$(AIRFLOW))

.PHONY: setup run test test-fast lint bench package airflow-env clean-lake

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "featurelake needs Python 3.11: set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)
	@$(BIN)/featurelake doctor

run: setup
	$(BIN)/featurelake demo-data --years $(YEARS)
	$(BIN)/featurelake run --from $(FROM) --to $(TO)

$(AIRFLOW_STAMP):
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet '$(AIRFLOW)'
	@rm -f $(AIRFLOW_VENV)/.installed-*
	@touch $@

airflow-env: $(AIRFLOW_STAMP)

# Everything, nothing skipped (what README and CI run); the 15 slowest tests are printed at the end.
test: setup $(AIRFLOW_STAMP)
	$(BIN)/python -m pytest --durations=15 $(PYTEST_ARGS)

# The inner loop: unit tests and in-process integration tests, no end-to-end run and no process of their own.
test-fast: setup
	$(BIN)/python -m pytest -m 'not e2e and not process' --durations=10 $(PYTEST_ARGS)

# dist/: the wheel, the --py-files zip of the code, the conf archive and the jobs (see README, "On a cluster").
package: $(STAMP)
	$(BIN)/python deploy/package.py

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.quality_gate
	$(BIN)/python -m bench.pit_join
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.steps
	$(BIN)/python -m bench.pipeline

clean-lake:
	rm -rf lakehouse

# featurelake: `make run` builds everything and runs the demo pipeline; `make test` runs the test suite.
# Both create .venv on first use; a second run reuses it and the cached Delta JARs, and works offline.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
FROM   ?= 2013-01-01
TO     ?= 2013-12-31
YEARS  ?= 1

.PHONY: setup run test lint bench clean-lake

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

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.quality_gate
	$(BIN)/python -m bench.pit_join
	$(BIN)/python -m bench.train

clean-lake:
	rm -rf lakehouse

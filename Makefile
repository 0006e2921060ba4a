# The README's two commands: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test system-deps lint format openapi bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Cachet needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/cachet serve

test: $(INSTALLED) system-deps
	$(BIN)/pytest

# softhsm2, poppler-utils, libnss3-tools: installed as root, otherwise named with the command.
system-deps:
	@sh scripts/system-deps.sh

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(INSTALLED)
	$(BIN)/python -m app.openapi > openapi/openapi.json

bench: $(INSTALLED)
	rm -f $${BENCH_RESULTS:-/tmp/cachet-bench-results.jsonl}
	$(BIN)/python -m bench.upload
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.signing
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.reads
	$(BIN)/python -m bench.table

clean:
	rm -rf $(VENV) build *.egg-info

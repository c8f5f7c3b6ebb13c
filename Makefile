# One entry point each for the demo, the tests and the linters. `make help` lists them.
# Needs only python3 (3.11+) on PATH: the first run creates .venv and installs mlstage into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := dev,postgres,s3,redis,dask

.DEFAULT_GOAL := help
.PHONY: help demo test lint venv

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: $(STAMP) ## Stages 0 to 2 in ./mlstage-demo: tracking, registry, the retraining loop, assess
	$(BIN)/mlstage demo

test: $(STAMP) ## Run the test suite
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

venv: $(STAMP) ## Create .venv and install mlstage with every extra (again when pyproject.toml changes)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "mlstage needs Python 3.11 or newer; try: make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $(STAMP)

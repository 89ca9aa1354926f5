# QuLab — every target creates or refreshes .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qulab-installed
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: venv app test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[app,dev]"
	@touch $(STAMP)

venv: $(STAMP)

app: venv
	$(BIN)/qulab setup

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

format: venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: venv
	$(BIN)/qulab bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output

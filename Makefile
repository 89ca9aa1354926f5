# QuLab — every target creates or refreshes .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qulab-installed
# make app HOST=0.0.0.0 PORT=8600 overrides QULAB_APP_HOST / QULAB_APP_PORT (default 127.0.0.1:8501).
HOST ?=
PORT ?=

.PHONY: venv app test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[app,dev]"
	@touch $(STAMP)

venv: $(STAMP)

app: venv
	$(BIN)/qulab app $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src bench

format: venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: venv
	$(BIN)/qulab bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output

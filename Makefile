# QuLab — every target creates or refreshes .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qulab-installed
# Pinned versions of everything installed (make lock rewrites it from pyproject.toml).
CONSTRAINTS := requirements/constraints.txt
# make app HOST=0.0.0.0 PORT=8600 overrides QULAB_APP_HOST / QULAB_APP_PORT (default 127.0.0.1:8501).
HOST ?=
PORT ?=

.PHONY: venv app test lint format bench lock clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[app,dev,otel]"
	@touch $(STAMP)

venv: $(STAMP)

app: venv
	$(BIN)/qulab app $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff format --check src tests bench examples requirements
	$(BIN)/ruff check src tests bench examples requirements
	$(BIN)/mypy src tests bench examples requirements/lock.py

format: venv
	$(BIN)/ruff format src tests bench examples requirements
	$(BIN)/ruff check --fix src tests bench examples requirements

# Every benchmark on the configured services (QULAB_DATABASE_URL, QULAB_REDIS_URL; or the
# benchmark-only QULAB_BENCH_POSTGRES_URL, QULAB_BENCH_REDIS_URL), results written to docs/.
bench: venv
	$(BIN)/qulab bench all --write-docs

# Re-resolve every dependency with pip (about a minute) and rewrite $(CONSTRAINTS). Needs only
# a Python with pip, so it works even when the pinned versions no longer install.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python requirements/lock.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output

# The README's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DATA_DIR ?= data
DEMO_COMPANIES ?= 3000
DEMO_YEARS ?= 4
DEMO_SEED ?= 7
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench install clean demo model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/credit-risk demo-data --if-missing --seed $(DEMO_SEED) --companies $(DEMO_COMPANIES) --years $(DEMO_YEARS)

model: demo
	$(BIN)/credit-risk train --if-no-champion --promote

run: model
	$(BIN)/credit-risk keys demo
	$(BIN)/credit-risk serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: model
	$(BIN)/python bench/bench_foundation.py
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_service.py
	$(BIN)/python bench/bench_book.py
	$(BIN)/python bench/bench_decision_log.py
	$(BIN)/python bench/bench_web.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Quick start: `make run` chats with an embedded server; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck bench clean

$(BIN)/chatthy: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/chatthy

run: $(BIN)/chatthy
	$(BIN)/chatthy run

lint: $(BIN)/chatthy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/chatthy
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(BIN)/chatthy
	$(BIN)/python bench/stream.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

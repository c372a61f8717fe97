# Two entry points: `make run` (the bot, on the embedded SQLite database) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install run test lint bench clean

$(BIN)/consensus: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/consensus

run: install
	$(BIN)/consensus serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy core

test: lint
	NO_PROXY=127.0.0.1,localhost $(BIN)/pytest

bench: install
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

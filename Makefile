# Two entry points: `make run` (the bot, on the embedded SQLite database) and `make test`.
# Both install the exact versions in requirements/dev.lock; `make lock` refreshes the locks.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --quiet --disable-pip-version-check
UV     := uv==0.13.9
LOCK   := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
          --upgrade --quiet --custom-compile-command 'make lock'

.PHONY: install run test lint bench lock clean

$(BIN)/consensus: pyproject.toml requirements/dev.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r requirements/dev.lock
	$(PIP) install --no-deps --editable .
	touch $@

install: $(BIN)/consensus

run: install
	$(BIN)/consensus serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core adapters bot

test: lint
	NO_PROXY=127.0.0.1,localhost $(BIN)/pytest --numprocesses auto --maxprocesses 4

bench: install
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m bench

# The newest versions that pyproject.toml allows, for every platform and Python 3.11+; the
# run-time lock (the image's) takes the same versions as the development lock.
lock: install
	$(PIP) install $(UV)
	$(LOCK) --extra test -o requirements/dev.lock
	$(LOCK) --constraint requirements/dev.lock -o requirements/runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

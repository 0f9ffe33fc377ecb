# The two commands a newcomer runs: `make run` and `make test`. Both work on a fresh machine:
# they create .venv, install the Python packages and the few Debian packages needed.
VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
# `make demo` keeps its accounts, dossiers, files and mails apart from `make run`'s ./var:
# `make demo-reset` deletes them all.
DEMO_DATA ?= var-demo

.PHONY: run demo demo-reset test test-fast lint site bench check clean system-deps system-deps-test

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	./scripts/system-deps.sh run

system-deps-test:
	./scripts/system-deps.sh test

run: $(STAMP) system-deps
	$(BIN)/formservice publish
	$(BIN)/formservice serve --host $(HOST) --port $(PORT)

demo: $(STAMP) system-deps
	FORMSERVICE_DATA_DIR=$(DEMO_DATA) $(BIN)/formservice demo --host $(HOST) --port $(PORT)

demo-reset:
	rm -rf $(DEMO_DATA)

site: $(STAMP)
	$(BIN)/formservice publish

check: $(STAMP)
	$(BIN)/formservice check

lint: $(STAMP)
	$(BIN)/ruff check formservice tests bench
	$(BIN)/ruff format --check formservice tests bench
	$(BIN)/mypy

# The full suite, as CI runs it (.ci/run): browser (Chromium) and crash/load tests included.
test: $(STAMP) system-deps-test lint
	$(BIN)/pytest

# While working: lint, then everything but the browser and the slow (crash, load, benchmark) tests.
test-fast: $(STAMP) system-deps lint
	$(BIN)/pytest -m "not browser and not slow"

bench: $(STAMP) system-deps-test
	$(PY) bench/site_build.py
	$(PY) bench/store.py
	$(PY) bench/accounts.py
	$(PY) bench/uploads.py
	$(PY) bench/backoffice.py
	$(PY) bench/exports.py
	$(PY) bench/scale.py

clean:
	rm -rf site .pytest_cache .mypy_cache .ruff_cache

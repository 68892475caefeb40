# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= profiles/demo.yaml

.PHONY: run test lint install install-test bench bench-startup sync-demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/workbench tui --profile $(PROFILE)

lint: install-test
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/ruff format --check workbench tests benchmarks
	$(BIN)/mypy  # strict on the packages [tool.mypy] lists in pyproject.toml

# Two worker processes (pytest-xdist), handed tests as they free up: the suite's wall time about halves on 2 cores.
# Every test has its own tmp dirs, ports and env (tests/conftest.py); `make test PYTEST_N=0` runs it in one process.
PYTEST_N ?= 2
test: lint
	$(BIN)/python -m pytest -q -n $(PYTEST_N) --dist worksteal

bench: install-test
	$(BIN)/python benchmarks/engine_overhead.py

# The demo profile ships inside the package too (workbench/data/demo.yaml), so `workbench` works from any
# directory after install; profiles/demo.yaml is the one to edit, then copy it over (a test checks they match).
sync-demo:
	cp profiles/demo.yaml workbench/data/demo.yaml
	rm -rf workbench/data/corpus && cp -r profiles/corpus workbench/data/corpus

bench-startup: install
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf $(VENV) build *.egg-info

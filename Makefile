# Callisto: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration serve lint typecheck bench clean

install: $(STAMP)

# Each Entities SDK generation gets a folder of its own (tests run it with PYTHONPATH set to it).
ENTITIES_SDKS := $(VENV)/entities

$(STAMP): pyproject.toml tests/entities-requirements.txt tests/entities-current-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -rf $(ENTITIES_SDKS)
	$(PY) -m pip install --quiet --no-deps --target $(ENTITIES_SDKS)/1.36.1 -r tests/entities-requirements.txt
	$(PY) -m pip install --quiet --no-deps --target $(ENTITIES_SDKS)/1.113.1 -r tests/entities-current-requirements.txt
	touch $(STAMP)

demo: install
	$(PY) -W ignore::DeprecationWarning -m callisto.demo

# -rs: a skipped test says why (no PostgreSQL, no Redis, ...).
test: install
	$(PY) -m pytest -q -rs

test-unit: install
	$(PY) -m pytest -q -rs tests/unit

test-integration: install
	$(PY) -m pytest -q -rs tests/integration

serve: install
	$(VENV)/bin/callisto serve

lint: install
	$(VENV)/bin/ruff check callisto tests bench examples
	$(VENV)/bin/ruff format --check callisto tests bench examples

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

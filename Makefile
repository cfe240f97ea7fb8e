# apicall: `make test` and `make demo` work on a fresh machine with only Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: redrive install test lint typecheck unit integration e2e demo serve invoke bench lock clean

install: $(STAMP)

$(STAMP): requirements-dev.txt shared/requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "apicall needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml

typecheck: install
	$(VENV)/bin/mypy

test: lint typecheck
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

integration: install
	$(PY) -m pytest tests/integration

e2e: install
	$(PY) -m pytest tests/e2e

demo: install
	$(PY) -m local.demo

serve: install
	$(PY) -m local.serve

invoke: install
	$(PY) -m local.invoke $(FN) $(EVENT)

# Move dead-lettered Push messages back to the push queue: make redrive [REDRIVE_ARGS="--id evt_1"]
REDRIVE_ARGS ?= --all
redrive: install
	PYTHONPATH=shared $(PY) -m apicall.redrive $(REDRIVE_ARGS)

bench: install
	$(PY) -m benchmarks.run_all

lock: install
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full transitive pins of the development environment (pip freeze of .venv). Regenerate with `make lock`.' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

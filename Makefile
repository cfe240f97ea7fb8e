# apicall: `make test` and `make demo` work on a fresh machine with only Python 3.11+.
SHELL := /bin/bash
# The first interpreter that really runs and is 3.11+ (a pyenv shim may exist and still fail).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# checkov pins an older boto3 than the project: it gets a virtualenv of its own.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
# So does the SAM CLI (it pins boto3 1.43); its Python also fetches the layer's wheels (shared/Makefile).
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-stamp
SAM := SAM_CLI_TELEMETRY=0 LAYER_BUILD_PYTHON=$(CURDIR)/$(SAM_VENV)/bin/python $(SAM_VENV)/bin/sam

.PHONY: sam-install sam-build layer-env corpora scan redrive install test test-fast lint typecheck unit integration e2e demo serve invoke bench lock clean

install: $(STAMP)

$(STAMP): requirements-dev.txt shared/requirements.txt constraints.txt
	@test -n "$(PYTHON)" || { echo "apicall needs Python 3.11 or newer on PATH" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@# The layer (shared/) and the repository root on the venv's path, as an editable install would.
	$(PY) -c 'import pathlib, sys, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "apicall-dev.pth").write_text("\n".join(sys.argv[1:]) + "\n")' "$(CURDIR)/shared" "$(CURDIR)"
	touch $(STAMP)

lint: install scan
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# Layering: handlers -> capability packages -> http -> core (pyproject.toml, importlinter).
	$(VENV)/bin/lint-imports
	$(VENV)/bin/cfn-lint template.yaml

$(SCAN_STAMP): requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-scan.txt
	touch $(SCAN_STAMP)

# Static security scan of template.yaml; suppressions sit on the resources with their reasons.
scan: $(SCAN_STAMP)
	BC_SKIP_MAPPING=TRUE $(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation \
		--compact --quiet --skip-download

typecheck: install
	$(VENV)/bin/mypy

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $(SAM_STAMP)

sam-install: $(SAM_STAMP)

# `sam build` of template.yaml into .aws-sam/build; the layer through shared/Makefile. No Docker.
sam-build: $(SAM_STAMP)
	$(SAM) build

# What the tests of the layer need: the SAM CLI, and a venv of shared/requirements.txt alone
# (tests/support/layer_env.py), built once per content of the requirements.
layer-env: install $(SAM_STAMP)
	$(PY) -m tests.support.layer_env

# The public corpora of tests/realworld (npm packages, pinned by version and integrity hash).
corpora: install
	$(PY) -m tests.realworld.corpora

test: lint typecheck corpora layer-env
	$(PY) -m pytest

# The edit loop: every test layer without the tests marked slow, no lint or typecheck.
test-fast: install corpora layer-env
	$(PY) -m pytest -m "not slow"

unit: install
	$(PY) -m pytest tests/unit

integration: install layer-env
	$(PY) -m pytest tests/integration

e2e: install
	$(PY) -m pytest tests/e2e

demo: install
	$(PY) -m local.demo

serve: install
	$(PY) -m local.serve

invoke: install
	@$(PY) -m local.invoke $(FN) $(EVENT)

# Move dead-lettered Push messages back to the push queue: make redrive [REDRIVE_ARGS="--id evt_1"]
REDRIVE_ARGS ?= --all
redrive: install
	@PYTHONPATH=shared $(PY) -m apicall.push.redrive $(REDRIVE_ARGS)

# Every benchmark of benchmarks/, each in its own process: make bench [BENCH_ARGS="--quick" | "--all"]
BENCH_ARGS ?=
bench: install corpora
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

lock: install
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full transitive pins of the development environment (pip freeze of .venv). Regenerate with `make lock`.' > constraints.txt

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache

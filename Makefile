# The two commands: `make demo` and `make test`. Both create .venv and install pinned dependencies first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (the Lambda runtime) when present, else python3 (>= 3.11).
PYTHON_BOOTSTRAP ?= $(shell \
	for candidate in python3.13 "$$(pyenv prefix 3.13 2>/dev/null)/bin/python3.13" \
	                 "$$(pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13" python3; do \
	  if "$$candidate" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then \
	    command -v "$$candidate" 2>/dev/null || echo "$$candidate"; break; fi; \
	done)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
ENV ?= dev
# sam build runs pip for python3.13 and make for the layer: the venv's interpreter comes first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv demo test lint validate validate-static unit integration workflows infra build deploy benchmark clean \
	sandbox-up local-invoke-setup local-invoke

help:
	@echo "make demo       - set up .venv and run the sandbox demo (cpctl sandbox demo)"
	@echo "make test       - set up .venv, run linters, template/ASL validation and every test"
	@echo "make lint       - ruff and mypy"
	@echo "make validate   - sam validate --lint, cfn-lint, statelint on every ASL file, checkov (infra/terraform, template.yaml)"
	@echo "make validate-static - the same without checkov (make test: the suite runs checkov)"
	@echo "make build      - sam build (arm64 wheels for the layer)"
	@echo "make deploy ENV=dev|staging|prod - sam deploy --config-env \$$ENV"
	@echo "make benchmark  - cold imports, transitions and API calls per workflow"
	@echo "make sandbox-up - serve the sandbox at http://127.0.0.1:4566 (bound to 0.0.0.0 for containers)"
	@echo "make local-invoke FN=<LogicalId> EVENT=events/<dir>/<file>.json - sam local invoke against it"

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt layers/common/requirements.txt
	@test -n "$(PYTHON_BOOTSTRAP)" || { echo "no python >= 3.11 found"; exit 1; }
	@echo "creating $(VENV) with $(PYTHON_BOOTSTRAP) ($$($(PYTHON_BOOTSTRAP) --version))"
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: venv
	$(BIN)/cpctl sandbox demo

# Each test process has its own emulated AWS, so the suite runs on every core. A module's tests stay on
# one worker (--dist loadfile): module fixtures (a served sandbox, checkov's scans, real servers) then
# start once, not once per worker. checkov runs in the suite (tests/infra/test_checkov.py), not twice.
test: venv lint validate-static
	$(BIN)/pytest -q -n auto --dist loadfile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/python/controlplane cpctl functions

validate: validate-static
	$(PY) -m cpctl.tools.checkov

validate-static: venv
	$(BIN)/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml
	$(BIN)/statelint --ignore=URI statemachines/*.asl.json

unit: venv
	$(BIN)/pytest -q tests/unit
integration: venv
	$(BIN)/pytest -q tests/integration
workflows: venv
	$(BIN)/pytest -q tests/workflows
infra: venv
	$(BIN)/pytest -q tests/infra

build: venv
	$(BIN)/sam build

deploy: build
	@case "$(ENV)" in dev|staging|prod) ;; *) echo "ENV must be dev, staging or prod"; exit 2;; esac
	$(BIN)/sam deploy --config-env $(ENV)

benchmark: venv
	$(PY) benchmarks/run.py

# The sandbox as an AWS endpoint; 0.0.0.0 so that containers (sam local invoke) reach it too.
sandbox-up: venv
	$(BIN)/cpctl sandbox up --host 0.0.0.0

# Docker, the stand-in Lambda base image (scripts/local-invoke-setup.sh, once), then one function in a
# container against the sandbox that `make sandbox-up` serves (AWS_ENDPOINT_URL=... to use another).
local-invoke-setup:
	bash scripts/local-invoke-setup.sh

local-invoke: venv local-invoke-setup
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make local-invoke FN=<LogicalId> EVENT=events/<dir>/<file>.json"; exit 2; }
	$(PY) -m cpctl.sandbox.local_invoke --function "$(FN)" --event "$(EVENT)"

clean:
	rm -rf $(VENV) .aws-sam .aws-sam-local .pytest_cache .mypy_cache .ruff_cache

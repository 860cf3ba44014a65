# Common commands. The README, .ci/run and the GitHub workflows call these targets, so local runs and
# CI never disagree. `make help` lists them.
SHELL := /bin/bash
UV ?= $(shell [ -x .tools/uv/bin/uv ] && echo .tools/uv/bin/uv || echo uv)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen
# The fuzzer's pytest plugins, off by default (pyproject.toml): loaded only by the runs that fuzz.
FUZZ_PLUGINS := -p hypothesispytest -p schemathesis
COVERAGE := --cov=app --cov-report=term-missing:skip-covered --cov-fail-under=90

.DEFAULT_GOAL := help
.PHONY: help sync tools lint format test test-faults check check-slow test-all audit run migrate bench \
	bench-telemetry smoke rename template-update

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

sync: ## Install the app and its dev dependencies from uv.lock
	$(UV) sync --frozen

tools: ## Install the pinned check tools into .tools/ (no root; names the system packages it leaves)
	scripts/install-tools.sh

lint: sync ## ruff, ruff format --check, mypy --strict (.pre-commit-config.yaml runs the same)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: sync ## Format and autofix what the checks check: Python (ruff) and Terraform (terraform fmt)
	$(RUN) ruff format .
	$(RUN) ruff check --fix .
	@if command -v terraform >/dev/null; then terraform fmt -recursive terraform; \
	else echo "terraform is not installed: terraform/ was not formatted"; fi

test: sync ## The inner loop: unit and integration tests (needs Postgres and Redis; stops neither)
	$(RUN) pytest $(FUZZ_PLUGINS) tests/unit tests/integration -m "not faults"

test-faults: sync ## The fault tests: stop and start this machine's Postgres and Redis (root, Debian)
	$(RUN) pytest tests/integration -m faults

check: sync ## Static infra checks (Dockerfile, compose, workflows, Terraform, rules, docs) but the slow ones
	$(RUN) pytest tests/infra -m "not slow"

check-slow: sync ## The slow checks: every Terraform root applied on an AWS emulator; the renamed copy
	$(RUN) pytest tests/infra -m slow

test-all: sync ## Every test and check but the slow ones, in one run with the coverage gate (CI)
	$(RUN) pytest $(FUZZ_PLUGINS) $(COVERAGE) -m "not slow"

audit: sync ## The anti-pattern checklist (A1-A10) as machine checks
	$(RUN) pytest tests/infra tests/unit -m audit

run: sync ## Serve the API on :8000 (metrics on :9000) with settings from the environment or .env
	$(RUN) python -m app serve

migrate: sync ## Apply database migrations
	$(RUN) python -m app migrate

bench: sync ## Load benchmarks that print ratios (see bench/README.md)
	$(RUN) python bench/run.py

bench-telemetry: sync ## Telemetry's cost on the cached order read, over 10 alternating rounds
	$(RUN) python bench/run.py telemetry

smoke: ## The compose stack for real: up --build --wait, quick-start calls, JSON logs, clean stop (needs Docker)
	scripts/smoke.sh

rename: sync ## Adopt the template: rename the service everywhere its name is a contract (NAME=<new-name>)
	python3 scripts/rename.py "$(NAME)"
	$(RUN) ruff format --quiet .  # a longer name can push a line past the limit

template-update: sync ## Merge in the template's changes since .template.json (TEMPLATE=<git url|path> [REF=main])
	$(RUN) python scripts/template_update.py "$(TEMPLATE)" "$(or $(REF),main)"

# Common commands. The README, .ci/run and the GitHub workflows call these targets, so local runs and
# CI never disagree. `make help` lists them.
SHELL := /bin/bash
UV ?= $(shell [ -x .tools/uv/bin/uv ] && echo .tools/uv/bin/uv || echo uv)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen

.DEFAULT_GOAL := help
.PHONY: help sync tools lint format test check audit run migrate bench bench-telemetry smoke rename

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

sync: ## Install the app and its dev dependencies from uv.lock
	$(UV) sync --frozen

tools: ## Install the pinned check tools into .tools/ (no root; names the system packages it leaves)
	scripts/install-tools.sh

lint: sync ## ruff, ruff format --check, mypy --strict
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: sync ## Format and autofix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

test: sync ## Every test and check: unit, integration, infra; coverage gate 90%
	$(RUN) pytest --cov=app --cov-report=term-missing:skip-covered --cov-fail-under=90

check: sync ## Static infra checks only (Dockerfile, compose, workflows, Terraform, rules, docs)
	$(RUN) pytest tests/infra

audit: sync ## The anti-pattern checklist (A1-A10) as machine checks
	$(RUN) pytest tests/infra tests/unit -m audit

run: sync ## Serve the API on :8000 (metrics on :9000) with settings from the environment or .env
	$(RUN) python -m app serve

migrate: sync ## Apply database migrations
	$(RUN) python -m app migrate

bench: sync ## Load benchmarks that print ratios (see bench/README.md)
	$(RUN) python bench/run.py

bench-telemetry: sync ## Telemetry's cost on the order read, over 10 alternating rounds
	$(RUN) python bench/run.py telemetry

smoke: ## The compose stack for real: up --build --wait, quick-start calls, JSON logs, clean stop (needs Docker)
	scripts/smoke.sh

rename: sync ## Adopt the template: rename the service everywhere its name is a contract (NAME=<new-name>)
	python3 scripts/rename.py "$(NAME)"
	$(RUN) ruff format --quiet .  # a longer name can push a line past the limit

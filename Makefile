# Guichet — `make run` starts the whole local stack, `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYPATH := common:services/identity:services/demarches:services/wallet:services/notify:gateway
export PYTHONPATH := $(PYPATH)

.PHONY: run test lint typecheck venv assets broker system-deps unit clean-test-vhosts

$(VENV)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	@touch $@

venv: $(VENV)/.installed

system-deps:
	@bash deploy/local/system_deps.sh

assets: venv
	@bash deploy/local/system_deps.sh --no-browser
	@bash deploy/local/build_assets.sh

broker:
	@bash deploy/local/ensure_rabbitmq.sh

run: venv assets broker
	@exec $(BIN)/python deploy/local/stack.py

lint: venv
	$(BIN)/ruff check common services gateway tests bench deploy
	$(BIN)/mypy

test: system-deps venv assets broker lint
	$(BIN)/python -m pytest -p guichet_common.testing.plugin --ignore=tests/browser $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

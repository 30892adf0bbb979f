# The two commands. Everything else is an implementation detail.
PYTHON ?= python3
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "$(PYTHON) -m uv")

.PHONY: run test sync lint bench

sync:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --quiet

run: sync
	@.venv/bin/python -m opus.launcher

test: sync
	@.venv/bin/python -m pytest

lint: sync
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench: sync
	@.venv/bin/python bench/run.py

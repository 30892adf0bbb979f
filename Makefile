# The two commands. Everything else is an implementation detail.
PYTHON ?= python3
UV := $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "$(PYTHON) -m uv")

.PHONY: run test sync lint bench bench-growth test-any-day

sync:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --quiet

run: sync
	@.venv/bin/python -m devkit.launcher

# Two workers (pytest-xdist): each has its own test database on the one embedded server.
test: sync
	@.venv/bin/python -m pytest -n 2

# The whole suite under faketime on a Sunday, 29 February, 31 December, a Monday and
# a summer night (slow: not part of `make test`). DATES="2027-03-28 ..." picks others.
test-any-day: sync
	@sh tests/any_day.sh $(DATES)

# Lighthouse on every main page, phone and desktop (10 to 40 minutes; scores follow the load).
audit: sync
	@.venv/bin/python -m pytest -m audit tests/judges/test_lighthouse.py

lint: sync
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/djangofmt --check templates

bench: sync
	@.venv/bin/python bench/run.py

# Large practice vs 100x: each page's in-process time (builds the 100x practice once: slow)
bench-growth: sync
	@.venv/bin/python bench/growth.py

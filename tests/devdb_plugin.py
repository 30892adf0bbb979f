"""The test run's database: loaded with ``-p`` (pyproject's addopts), so that it runs
before pytest-django reads the settings.

With no DATABASE_URL (a checkout), it starts the embedded PostgreSQL, or attaches
to the one `make run` keeps up, and sets DATABASE_URL for the run and every
process the tests start (xdist workers, manage.py, gunicorn). At the end it stops
the server if this run started it. With DATABASE_URL set (CI with a server of its
own) it starts nothing.
"""

import os

import pytest

from devkit import devdb

_started_here = False


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _started_here
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = devdb.ensure_running()
        _started_here = devdb.started_here
        if _started_here:
            devdb.stop_on_sigterm()
    if not os.environ.get("REDIS_URL"):
        devdb.ensure_broker_folders()
    return (yield)


def pytest_unconfigure(config):
    if _started_here:
        from django.db import connections

        connections.close_all()
        devdb.stop()

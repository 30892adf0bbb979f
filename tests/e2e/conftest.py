"""Browser tests: Playwright driving the system Chromium (never a downloaded one)."""

import os
import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail(
            "Chromium is not installed: apt-get install -y chromium (browser tests "
            "must run, not skip)"
        )
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args():
    return {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}


# Playwright's sync API runs an event loop in the main thread; the tests' own ORM
# calls (and pytest-django's flushes) are still synchronous and safe. Set once,
# at collection: fixtures may touch the database before any of ours runs.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def console_errors(page):
    """Every console error and CSP violation the page reports."""
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


ARTIFACTS = os.path.join(os.path.dirname(__file__), "artifacts")

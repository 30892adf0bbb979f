"""Browser tests: Playwright driving the system Chromium (never a downloaded one)."""

import os

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.support.browser_setup import (  # noqa: F401 (fixtures)
    AXE,
    AXE_RUN,
    browser_context_args,
    browser_type_launch_args,
)

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


@pytest.fixture(autouse=True)
def axe_on_every_page(request):
    """axe-core (vendored, injected by the browser: Opus never serves it) checks every
    page a browser test loads: no violation of any impact. A page left before axe
    finished is not judged there; its kind is judged by the tests that stay on it."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    page.add_init_script(path=str(AXE))
    found: dict[str, list[str]] = {}

    def judge(_page=None):
        try:
            violations = page.evaluate(AXE_RUN)
        except PlaywrightError:  # navigated away meanwhile
            return
        if violations:
            found[page.url] = violations

    page.on("load", judge)
    yield
    if not page.is_closed():
        judge()  # where the test ended: its last swaps included
    assert found == {}, "axe-core found violations:\n" + "\n".join(
        f"{url}: {violations}" for url, violations in found.items()
    )

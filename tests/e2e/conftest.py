"""Browser tests: Playwright driving the system Chromium (never a downloaded one)."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

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


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# One run at a time on a page (axe refuses a second): each waits for the one before.
AXE_RUN = """async () => {
  if (!window.axe) return [];
  const run = () => axe.run(document, {resultTypes: ["violations"]});
  window.axeTurn = (window.axeTurn || Promise.resolve()).then(run, run);
  const result = await window.axeTurn;
  return result.violations.map((v) => `${v.impact} ${v.id}: `
    + v.nodes.slice(0, 3).map((n) => n.html.slice(0, 120)).join(" | "));
}"""


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

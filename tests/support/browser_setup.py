"""The browser tests' and the judges' shared setup: the system Chromium (never a
downloaded one) and the vendored axe-core with its one-run-at-a-time call."""

import shutil
from pathlib import Path

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


AXE = Path(__file__).resolve().parents[1] / "e2e" / "vendor" / "axe.min.js"
# One run at a time on a page (axe refuses a second): each waits for the one before.
AXE_RUN = """async () => {
  if (!window.axe) return [];
  const run = () => axe.run(document, {resultTypes: ["violations"]});
  window.axeTurn = (window.axeTurn || Promise.resolve()).then(run, run);
  const result = await window.axeTurn;
  return result.violations.map((v) => `${v.impact} ${v.id}: `
    + v.nodes.slice(0, 3).map((n) => n.html.slice(0, 120)).join(" | "));
}"""

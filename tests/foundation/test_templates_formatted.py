"""The templates are as djangofmt writes them (its settings are in pyproject.toml), and no
template line is longer than 200 characters. `make lint` runs the same check; `djangofmt
templates` rewrites the files."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
LONGEST = 200


def djangofmt() -> str:
    beside_python = Path(sys.executable).parent / "djangofmt"
    found = str(beside_python) if beside_python.exists() else shutil.which("djangofmt")
    if found is None:
        pytest.fail("djangofmt is not installed: make sync installs the dev dependencies")
    return found


def test_the_templates_are_formatted():
    result = subprocess.run(
        [djangofmt(), "--check", "templates"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already formatted" in result.stdout + result.stderr


def test_no_template_line_is_longer_than_200_characters():
    files = sorted(path for path in TEMPLATES.rglob("*") if path.is_file())
    assert any(path.suffix == ".html" for path in files)
    too_long = [
        f"{path.relative_to(ROOT)}:{number} ({len(line)} characters)"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if len(line) > LONGEST
    ]
    assert too_long == []

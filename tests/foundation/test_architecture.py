"""The floor plan holds: the domain apps import only downward (import-linter's
contracts in pyproject.toml) and no import hides inside a function to dodge a
cycle (issue 10). Both read the source; neither runs the app."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("opus", "clients", "relationships", "scheduling", "billing", "frontdesk", "devkit")


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _function_local_imports(path: Path) -> list[str]:
    """`from <app> ...` / `import <app>` inside a function, except in an
    AppConfig's ``ready`` (where Django wants registrations to happen)."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if function and function != "ready" and isinstance(child, ast.Import | ast.ImportFrom):
                names = [child.module] if isinstance(child, ast.ImportFrom) else []
                names += [alias.name for alias in child.names if isinstance(child, ast.Import)]
                if any((name or "").split(".")[0] in APPS for name in names):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno}")
            visit(child, function)

    visit(ast.parse(path.read_text()), None)
    return found


def test_no_import_of_an_app_hides_inside_a_function():
    sources = [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    ]
    assert len(sources) > 50
    assert [hit for path in sources for hit in _function_local_imports(path)] == []


def test_the_services_selectors_and_permissions_type_check():
    """mypy with django-stubs on the modules ``[tool.mypy] files`` names."""
    mypy = Path(sys.executable).with_name("mypy")
    run = subprocess.run(
        [mypy, "--no-incremental"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout


def test_no_test_module_imports_another_test_module_or_a_conftest():
    """What tests share lives in tests/support/, tests/factories.py or a fixture
    (issue 10): a helper kept in a test module or a conftest ties every test that
    imports it to that module, and to that folder's fixtures and autouse rules."""

    def forbidden(name: str) -> bool:
        return any(part.startswith("test_") or part == "conftest" for part in name.split("."))

    sources = list((ROOT / "tests").rglob("*.py"))
    assert len(sources) > 80
    found = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module] + [f"{module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(forbidden(name) for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []

"""The floor plan in figures: which app imports which (module level, and inside
functions), read from the source without running it.

    python bench/import_graph.py [ROOT]
"""

import ast
import sys
from collections import Counter
from pathlib import Path

APPS = ("opus", "clients", "relationships", "scheduling", "billing", "frontdesk", "devkit")


def main(root: Path) -> None:
    pairs, local_pairs = Counter(), Counter()
    local_total = 0
    apps = [app for app in APPS if (root / app).is_dir()]
    for app in apps:
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue

            def visit(node, function, app=app):
                nonlocal local_total
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                        visit(child, child.name)
                        continue
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        names = (
                            [child.module or ""]
                            if isinstance(child, ast.ImportFrom)
                            else [alias.name for alias in child.names]
                        )
                        for name in names:
                            top = name.split(".")[0]
                            if top not in apps:
                                continue
                            inside = function is not None and function != "ready"
                            local_total += inside
                            if top != app:
                                pairs[app, top] += 1
                                local_pairs[app, top] += inside
                    visit(child, function)

            visit(ast.parse(path.read_text()), None)
    print("importer -> imported: imports (of them inside a function, AppConfig.ready aside)")
    for (importer, imported), count in sorted(pairs.items()):
        print(f"  {importer:14} -> {imported:14} {count:3}  ({local_pairs[importer, imported]})")
    domain = [a for a in apps if a not in ("opus", "devkit")]
    both = sum(1 for a in domain for b in domain if a < b and pairs[a, b] and pairs[b, a])
    print(f"pairs of domain apps importing each other: {both}")
    print(
        f"imports of the apps inside functions: {local_total}, across apps: "
        f"{sum(local_pairs.values())}"
    )
    biggest = max(
        (p for a in apps for p in (root / a).rglob("*.py") if "migrations" not in p.parts),
        key=lambda p: len(p.read_text().splitlines()),
    )
    print(
        f"largest module: {biggest.relative_to(root)}, "
        f"{len(biggest.read_text().splitlines())} lines"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())

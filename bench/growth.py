"""The growth check: every staff page's in-process time, large practice vs 100x.

    make bench-growth        # or: .venv/bin/python bench/growth.py [--repeat 15] [--history]

A page that shows a fixed amount (a week, a page of a list, the latest invoices)
should take about as long whatever the size of the practice. This builds two
practices, each in a data folder of its own, once (later runs reuse them):
``seed_demo --size large`` in .data/bench (the one `make bench` uses) and
``seed_demo --size huge``, a hundred times the demo, in .data/bench-huge (slow
to build the first time: tens of minutes on two loaded cores). It then requests
every page of bench/pages.py in-process as the front desk, ``--repeat`` times
after a warm-up, on each, and prints the medians side by side with their ratio;
the target is at most 1.5 times. ``--history`` first adds three years of
invoices, payments and attendance to both (bench/reports.py's), rolled back at
the end. Results go to bench/results/growth-*.json. It reports; it never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the bench's environment

SIZES = {"large": run.DATA_DIR, "huge": run.ROOT / ".data" / "bench-huge"}
LIMIT = 1.5


def one(size: str, repeat: int, history: bool) -> dict:
    """In this process: the practice of ``size`` built if need be, then measured."""
    env, started_here = run.setup_environment(SIZES[size])
    try:
        run.prepare(env, size)
        return run.inprocess(env, repeat, history=history)
    finally:
        if started_here:
            from devkit import devdb

            devdb.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--history", action="store_true")
    parser.add_argument("--one", choices=list(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one practice (the embedded server's folder is per process)
        print("JSON " + json.dumps(one(args.one, args.repeat, args.history)))
        return 0
    results = {}
    for size in SIZES:
        print(f"Measuring the {size} practice ...", flush=True)
        command = [run.PYTHON, __file__, "--one", size, "--repeat", str(args.repeat)]
        if args.history:
            command.append("--history")
        out = subprocess.run(  # noqa: S603 - our own script
            command, cwd=run.ROOT, check=True, stdout=subprocess.PIPE, text=True
        )
        line = next(line for line in out.stdout.splitlines() if line.startswith("JSON "))
        results[size] = json.loads(line.removeprefix("JSON "))
    large, huge = results["large"], results["huge"]
    print()
    print(
        "practice sizes (clients / sessions / invoices): "
        + ", ".join(
            f"{size} {r['counts']['clients_client']} / {r['counts']['scheduling_session']} / "
            f"{r['counts']['billing_invoice']}"
            for size, r in results.items()
        )
    )
    header = (
        f"{'page':<26} {'large ms':>9} {'100x ms':>9} {'growth':>7} {'queries':>9} "
        f"{'KiB large':>9} {'KiB 100x':>9}  met"
    )
    print(header)
    print("-" * len(header))
    rows = []
    by_name = {p["page"]: p for p in huge["pages"]}
    for small in large["pages"]:
        big = by_name[small["page"]]
        growth = big["median_ms"] / small["median_ms"]
        rows.append({"page": small["page"], "large": small, "huge": big, "growth": growth})
        queries = f"{small['queries']}/{big['queries']}"
        print(
            f"{small['page']:<26} {small['median_ms']:>9.1f} {big['median_ms']:>9.1f} "
            f"{growth:>6.2f}x {queries:>9} {small['bytes'] / 1024:>9.1f} "
            f"{big['bytes'] / 1024:>9.1f}  {'yes' if growth <= LIMIT else 'no'}"
        )
    print(
        f"(median of {args.repeat} in-process requests after a warm-up; growth: 100x over large, "
        f"target at most {LIMIT}; load average {run.fmt_load(os.getloadavg())} on "
        f"{os.cpu_count()} cores. It reports; it never fails)"
    )
    run.RESULTS.mkdir(exist_ok=True)
    path = run.RESULTS / f"growth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"repeat": args.repeat, "sizes": results, "rows": rows}, indent=2))
    print(f"written to {path.relative_to(run.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

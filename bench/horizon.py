"""Benchmark of the rolling horizon's daily task (scheduling.tasks.extend_schedule)
on the large demo practice:

    .venv/bin/python bench/horizon.py [--repeat 5]

Uses the bench's own data folder (.data/bench, as bench/run.py: built once).
Measures, in this process against the embedded PostgreSQL:

1. the catch-up to the horizon (the seed writes 16 weeks, the horizon is 26),
   left in place: it is what the first daily run does after the seed;
2. a run with nothing to add (every later daily run), best and median of --repeat;
3. the first run after a year without any (the clock moved a year on with
   time-machine), inside a transaction rolled back afterwards, so the bench
   database is left as it was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the bench's environment and its large practice


def timed(function) -> tuple[float, int]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    print("Loading the large demo practice (only the first time) ...", flush=True)
    run.manage(env, "seed_demo", "--size", "large")
    os.environ.update(env)

    import django

    django.setup()
    import time_machine
    from django.db import transaction
    from django.utils import timezone

    from scheduling.models import Session, SessionDate
    from scheduling.services import extend_schedule, horizon

    sessions, dates = Session.objects.count(), SessionDate.objects.count()
    print(f"Large practice: {sessions} sessions, {dates} session dates")
    seconds, added = timed(lambda: extend_schedule(until=horizon()))
    print(f"Catch-up to the horizon ({horizon()}): {seconds * 1000:.0f} ms, {added} dates added")

    runs = [timed(lambda: extend_schedule(until=horizon())) for _ in range(args.repeat)]
    assert all(added == 0 for _, added in runs), runs
    times = [seconds * 1000 for seconds, _ in runs]
    print(
        f"A run with nothing to add: best {min(times):.1f} ms, "
        f"median {statistics.median(times):.1f} ms ({args.repeat} runs)"
    )

    year_later = timezone.now() + timedelta(days=365)
    with time_machine.travel(year_later, tick=True), transaction.atomic():
        before = SessionDate.objects.count()
        seconds, _ = timed(lambda: extend_schedule(until=horizon()))
        added = SessionDate.objects.count() - before
        print(
            f"First run after a year's gap (to {horizon()}): {seconds * 1000:.0f} ms, "
            f"{added} dates added (rolled back)"
        )
        transaction.set_rollback(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The schedule with and without its cache, in-process, on the large demo practice:

    .venv/bin/python bench/schedule_cache.py [--repeat 30]

Uses the bench's own data folder (.data/bench, as bench/run.py: built once). Each
page (the week, day and month views and a busy session date's panel, as a page
and as the htmx fragment) is requested in this process through Django's test
client as a staff user: with the cache off (OPUS_SCHEDULE_CACHE=off), on a miss
(the cache emptied before each request: the render plus storing it) and on a hit.
It prints the median and best time of --repeat requests after a warm-up, the
queries of one request, and the size of the page. The development settings: the
schedule cache is the database's cache table unless REDIS_URL is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the bench's environment and its large practice

MODES = ("off", "miss", "hit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    run.manage(env, "createcachetable")
    print("Loading the large demo practice (only the first time) ...", flush=True)
    run.manage(env, "seed_demo", "--size", "large")
    ids = run.pick_objects(env)
    os.environ.update(env)

    import django

    django.setup()
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client as Browser
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    from opus.models import User
    from scheduling.schedule_cache import CACHE_ALIAS

    cache = caches[CACHE_ALIAS]
    browser = Browser(HTTP_HOST="localhost")
    browser.force_login(User.objects.get(username=run.USER))
    hx = {"HX-Request": "true"}
    pages = [
        ("week", "/schedule/", {}),
        ("week fragment", "/schedule/", hx),
        ("day", "/schedule/?view=day", {}),
        ("month", "/schedule/?view=month", {}),
        ("session-date panel", f"/schedule/dates/{ids['date']}/", hx),
    ]

    def timed(path, headers, mode) -> tuple[float, int, int]:
        if mode == "miss":
            cache.clear()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = browser.get(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (path, response.status_code)
        return elapsed, len(queries), len(response.content)

    print(
        f"\nin-process, staff, large practice, {args.repeat} requests each after a warm-up;"
        f" schedule cache: {cache.__class__.__name__}"
    )
    header = f"{'page':<20} {'mode':<5} {'median ms':>10} {'best ms':>8} {'queries':>8} {'KiB':>7}"
    print(header)
    print("-" * len(header))
    medians = {}
    for name, path, headers in pages:
        for mode in MODES:
            with override_settings(SCHEDULE_CACHE=mode != "off"):
                timed(path, headers, mode)  # warm-up (and, for a hit, the store)
                runs = [timed(path, headers, mode) for _ in range(args.repeat)]
            times = [r[0] for r in runs]
            medians[(name, mode)] = statistics.median(times)
            print(
                f"{name:<20} {mode:<5} {statistics.median(times):>10.1f} {min(times):>8.1f} "
                f"{runs[-1][1]:>8} {runs[-1][2] / 1024:>7.1f}",
                flush=True,
            )
    print()
    for name, _, _ in pages:
        off, hit = medians[(name, "off")], medians[(name, "hit")]
        print(f"{name}: a hit takes {hit / off:.0%} of the time with the cache off")
    cache.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the reports on the large demo practice (ten times the demo):

    .venv/bin/python bench/reports.py [--repeat 7]

Uses the bench's own data folder (.data/bench, as bench/run.py: built once).
Each report page (the whole page: filters, the SQL, the chart, the table) and its
CSV file is requested in this process through Django's test client as a staff
user, over the twelve months up to today and over everything the practice holds;
best and median of --repeat, after one warm-up. The target: each under 300 ms.
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

LIMIT_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    print("Loading the large demo practice (only the first time) ...", flush=True)
    run.manage(env, "seed_demo", "--size", "large")
    os.environ.update(env)

    import django

    django.setup()
    from django.db import connection
    from django.test import Client as Browser
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from billing.models import Invoice, Payment
    from clients.models import Client
    from opus.models import User
    from reports.reports import REPORTS
    from scheduling.models import Attendance, Subscription

    print(
        f"Large practice: {Client.objects.count()} clients, "
        f"{Subscription.objects.count()} subscriptions, {Invoice.objects.count()} invoices, "
        f"{Payment.objects.count()} payments, {Attendance.objects.count()} attendance marks"
    )
    browser = Browser(HTTP_HOST="localhost")
    browser.force_login(User.objects.get(username=run.USER))
    today = timezone.localdate()
    ranges = {
        "12 months": {},
        "5 years": {"first": f"{today.year - 4}-01-01", "last": f"{today:%Y-%m-%d}"},
    }
    failed = False
    for slug, report in REPORTS.items():
        for range_name, query in ranges.items():
            for kind, name in (("page", report.url_name), ("csv", report.csv_url_name)):
                url = reverse(name)
                params = {**query, "by": "service"} if report.groups else query

                def fetch(url=url, params=params, kind=kind):
                    response = browser.get(url, params)
                    assert response.status_code == 200, (url, response.status_code)
                    if kind == "csv":
                        b"".join(response.streaming_content)

                fetch()
                seconds = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    fetch()
                    seconds.append((time.perf_counter() - started) * 1000)
                with CaptureQueriesContext(connection) as queries:
                    fetch()
                best, median = min(seconds), statistics.median(seconds)
                verdict = "ok" if median < LIMIT_MS else "SLOW"
                failed |= median >= LIMIT_MS
                print(
                    f"{slug:11} {kind:4} {range_name:9} best {best:6.1f} ms  "
                    f"median {median:6.1f} ms  {len(queries):2d} queries  {verdict}",
                    flush=True,
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

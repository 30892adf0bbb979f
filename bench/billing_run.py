"""Benchmark of the monthly billing run (billing.services.runs) for a practice of
the large demo's size (520 clients) and one ten times larger:

    .venv/bin/python bench/billing_run.py [--sizes 520 5200]

Uses the bench's own data folder (.data/bench, as bench/run.py), migrated. Each
practice is built by bulk inserts inside a transaction that is rolled back at the
end, so the bench database is left as it was: clients (seven in ten pay for
themselves, three in ten have a parent paying), each enrolled in one weekly
session (per-session services) and one in four also in a monthly group, over
sessions of 8 places. Measured, in this process against the embedded
PostgreSQL, for next month: the preview (``plan_month``, what the Billing page
shows), the preparation (the drafts written) and the issue (every draft through
``issue_invoice`` and emailed through the outbox), each with its query count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from datetime import date, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the bench's environment

PLACES = 8


def build(size: int, today: date) -> None:
    from django.db import connection

    from clients.models import Client
    from opus.models import User
    from relationships.models import Relationship
    from scheduling.models import Room, Service, Session, Subscription
    from scheduling.services import generate_session_dates

    per_session = Service.objects.create(name=f"Bench lesson {size}", price=Decimal("30.00"))
    monthly = Service.objects.create(
        name=f"Bench group {size}",
        price=Decimal("80.00"),
        billing_basis="monthly",
        sessions_per_month=4,
    )
    clients = Client.objects.bulk_create(
        Client(first_name=f"Bench{i}", last_name=f"Client{size}", email=f"b{size}-{i}@example.com")
        for i in range(size)
    )
    relationships = []
    for i, client in enumerate(clients):
        if i % 10 < 7:
            relationships.append(
                Relationship(kind="first_party", payer=client, attendee=client, started_on=today)
            )
        else:
            parent = Client.objects.create(
                first_name=f"Parent{i}", last_name=f"Bench{size}", email=f"p{size}-{i}@example.com"
            )
            relationships.append(
                Relationship(kind="third_party", payer=parent, attendee=client, started_on=today)
            )
    relationships = Relationship.objects.bulk_create(relationships)
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=4)
    practitioner = User.objects.create(username=f"bench-{size}", role="practitioner")

    def sessions_for(service, count):
        made = []
        for n in range(count):
            room = Room.objects.create(name=f"Bench room {size}-{service.pk}-{n}")
            session = Session.objects.create(
                service=service,
                practitioner=practitioner,
                room=room,
                weekday=n % 5,
                start_time=clock(9 + n % 10, 0),
                capacity=PLACES,
                first_date=first + timedelta(days=n % 5),
            )
            generate_session_dates(session=session, until=today + timedelta(days=70))
            made.append(session)
        return made

    lessons = sessions_for(per_session, (size + PLACES - 1) // PLACES)
    groups = sessions_for(monthly, (size // 4 + PLACES - 1) // PLACES)
    subscriptions = []
    for i, relationship in enumerate(relationships):
        lesson = lessons[i // PLACES]
        subscriptions.append(
            Subscription(
                client=relationship.attendee,
                session=lesson,
                relationship=relationship,
                first_date=lesson.first_date,
                price=per_session.price,
            )
        )
        if i % 4 == 0:
            group = groups[(i // 4) // PLACES]
            subscriptions.append(
                Subscription(
                    client=relationship.attendee,
                    session=group,
                    relationship=relationship,
                    first_date=group.first_date,
                    price=monthly.price,
                )
            )
    Subscription.objects.bulk_create(subscriptions)
    with connection.cursor() as cursor:  # as autovacuum would have, in a practice of this size
        cursor.execute("ANALYZE")
    print(f"  built: {len(clients)} attending clients, {len(subscriptions)} subscriptions")


def measured(label: str, function):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # room for every query of the issue (Django keeps 9,000; a full log counts 0 after it)
    connection.queries_log = deque(maxlen=2_000_000)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    print(f"  {label}: {seconds * 1000:.0f} ms, {len(queries)} queries")
    return result


def bench(size: int, *, issue: bool) -> None:
    from django.db import transaction
    from django.utils import timezone

    from billing.models import Invoice
    from billing.services import runs
    from opus.lib.actors import SYSTEM

    today = timezone.localdate()
    period = runs.next_month(today)
    print(f"Practice of {size} clients, billing {period:%B %Y}:")
    with transaction.atomic():
        build(size, today)
        drafts = measured("preview (plan_month)", lambda: runs.plan_month(period))
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(runs.plan_month, period)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        print(f"    {len(drafts)} drafts, {sum(len(d.lines) for d in drafts)} lines")
        run_ = measured(
            "prepare (drafts written)", lambda: runs.prepare_run(period_start=period, actor=SYSTEM)
        )
        measured("preview of the prepared run", lambda: runs.run_drafts(run_))
        run_ = measured("approve", lambda: runs.approve_run(period_start=period, actor=SYSTEM))
        if issue:
            run_ = measured(
                "issue (every draft)", lambda: runs.issue_run(run_id=run_.pk, actor=SYSTEM)
            )
            issued = Invoice.objects.filter(billing_runs=run_).exclude(status="draft").count()
            print(f"    {issued} invoices issued: {run_.summary}")
        transaction.set_rollback(True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[520, 5200])
    parser.add_argument(
        "--issue-up-to",
        type=int,
        default=520,
        help="issue the drafts only for practices up to this size (issuing is per invoice)",
    )
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    os.environ.update(env)

    import django

    django.setup()
    for size in args.sizes:
        bench(size, issue=size <= args.issue_up_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())

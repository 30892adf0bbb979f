"""The staff pages the bench measures, and their in-process times and query counts.

    .venv/bin/python bench/pages.py [--repeat 15] [--history]   # run by run.py and growth.py

Runs inside Django (the environment comes from the caller: DATABASE_URL of the
practice to measure). It picks the objects the pages are about (the busiest coming
session date, the client with the most on their profile, a relationship, an
invoice, a session, a transfer at each of its steps), then requests every page
through Django's test client as the front desk (staff: sees all), ``--repeat``
times after a warm-up, and prints one JSON document: each page's path, headers,
size, query count and median and 95th percentile time in milliseconds.

The transfer drafts it needs are made the first time and kept (a draft is the
wizard's own row: nothing is transferred). ``--history`` first adds three years
of invoices, payments and attendance (bench/reports.py's) inside a transaction
rolled back at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER = "frontdesk"  # the documented demo login (staff: sees all)
HX = {"HX-Request": "true"}
TRIVIAL = ("trivial page", "/password/done/", {})


def pick_objects() -> dict:
    """Ids of what the pages are about; makes the transfer drafts the first time."""
    from django.db.models import Count, F, Q
    from django.utils import timezone

    from billing.models import Invoice
    from clients.models import Client
    from frontdesk import transfers
    from frontdesk.models import TransferDraft
    from opus.models import User
    from relationships.models import Relationship
    from scheduling.models import Session, SessionDate, Subscription
    from scheduling.services import FullDates

    today = timezone.localdate()
    busiest = Session.objects.annotate(n=Count("subscriptions")).order_by("-n", "pk").first()
    date = SessionDate.objects.filter(session=busiest, date__gte=today).order_by("date").first()
    client = (
        Client.objects.annotate(
            i=Count("invoices", distinct=True), s=Count("subscriptions", distinct=True)
        )
        .order_by("-i", "-s", "pk")
        .first()
    )
    relationship = (
        Relationship.objects.filter(kind="third_party").order_by("pk").first()
        or Relationship.objects.order_by("pk").first()
    )
    invoice = Invoice.objects.exclude(number=None).order_by("-pk").first()
    actor = User.objects.get(username=USER)
    subscription = (
        Subscription.objects.filter(end_date=None, session__service__billing_basis="per_session")
        .order_by("pk")
        .first()
    )
    drafts = list(
        TransferDraft.objects.filter(subscription=subscription, transfer=None).order_by("pk")[:2]
    )
    while len(drafts) < 2:
        drafts.append(
            transfers.start_transfer(subscription=subscription, transfer_date=today, actor=actor)
        )
    target_draft, payment_draft = drafts
    if payment_draft.first_date is None:
        # the session with the most places free (the transfer's plan has lines to show)
        target = (
            Session.objects.filter(last_date=None)
            .exclude(pk=subscription.session_id)
            .annotate(n=Count("subscriptions", filter=Q(subscriptions__end_date=None)))
            .order_by(F("n") - F("capacity"), "pk")
            .first()
        )
        transfers.choose_target(draft=payment_draft, session=target, actor=actor)
        first = (
            SessionDate.objects.filter(
                session=target, date__gte=today + timedelta(days=7), cancelled=False
            )
            .order_by("date")
            .first()
        )
        options = {"first_date": first.date, "end_date": payment_draft.end_date, "actor": actor}
        try:
            transfers.choose_dates(draft=payment_draft, **options)
        except FullDates as full:  # a later date full: skipped, as the user may accept
            transfers.choose_dates(draft=payment_draft, skip=full.dates, **options)
    return {
        "date": date.pk,
        "client": client.pk,
        "relationship": relationship.pk,
        "invoice": invoice.pk,
        "session": busiest.pk,
        "service": busiest.service_id,
        "target_draft": str(target_draft.public_id),
        "payment_draft": str(payment_draft.public_id),
    }


def pages(ids: dict) -> list[tuple[str, str, dict]]:
    """(name, path, headers) of every staff page and fragment the bench measures."""
    date, client = ids["date"], ids["client"]
    target, payment = ids["target_draft"], ids["payment_draft"]
    return [
        ("today", "/", {}),
        ("quick search fragment", "/search/?q=ava", HX),
        ("schedule week", "/schedule/", {}),
        ("schedule week fragment", "/schedule/?view=week", HX),
        ("calendar day", "/schedule/?view=day", {}),
        ("calendar day (rooms)", "/schedule/?view=day&across=room", {}),
        ("schedule month", "/schedule/?view=month", {}),
        ("session-date view", f"/schedule/dates/{date}/", {}),
        ("session-date panel", f"/schedule/dates/{date}/", HX),
        ("add client to date", f"/schedule/dates/{date}/add-client/?q=ava", {}),
        ("clients list", "/clients/", {}),
        ("clients search fragment", "/clients/?q=ava", HX),
        ("client profile", f"/clients/{client}/", {}),
        ("client account", f"/billing/clients/{client}/account/", {}),
        ("client enrol", f"/clients/{client}/enrol/", {}),
        ("relationships list", "/relationships/", {}),
        ("relationship page", f"/relationships/{ids['relationship']}/", {}),
        ("invoice list", "/billing/invoices/", {}),
        ("invoice list (open)", "/billing/invoices/?status=open", HX),
        ("invoice page", f"/billing/invoices/{ids['invoice']}/", {}),
        ("billing run preview", "/billing/run/", {}),
        ("transfer target step", f"/schedule/transfer/{target}/target/", {}),
        ("transfer payment step", f"/schedule/transfer/{payment}/payment/", {}),
        ("setup sessions", "/schedule/setup/", {}),
        ("setup session", f"/schedule/setup/sessions/{ids['session']}/", {}),
        ("setup services", "/schedule/setup/services/", {}),
        ("setup rooms", "/schedule/setup/rooms/", {}),
        ("closures", "/schedule/closures/", {}),
        ("team", "/team/", {}),
        ("practice settings", "/practice/", {}),
        ("reports", "/reports/", {}),
        ("report: aging", "/reports/aging/", {}),
        ("report: revenue", "/reports/revenue/", {}),
        ("report: enrolments", "/reports/enrolments/", {}),
        ("report: attendance", "/reports/attendance/", {}),
        ("report: card links", "/reports/card-links/", {}),
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class QueryCounter(list):
    def __call__(self, execute, sql, params, many, context):
        self.append(sql)
        return execute(sql, params, many, context)


def measure(repeat: int, ids: dict) -> list[dict]:
    from django.db import connection
    from django.test import Client as Browser

    from opus.models import User

    browser = Browser(HTTP_HOST="localhost")
    browser.force_login(User.objects.get(username=USER))
    rows = []
    for name, path, headers in [TRIVIAL, *pages(ids)]:

        def get(path=path, headers=headers):
            response = browser.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
            return response

        size = len(get().content)  # warm-up
        queries = QueryCounter()
        with connection.execute_wrapper(queries):
            get()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            get()
            times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "page": name,
                "path": path,
                "headers": headers,
                "bytes": size,
                "queries": len(queries),
                "median_ms": statistics.median(times),
                "p95_ms": percentile(times, 0.95),
            }
        )
    return rows


def load_bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--history", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opus.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    with transaction.atomic():
        ids = pick_objects()  # the drafts are kept, whatever the history
    atomic = transaction.atomic()
    atomic.__enter__()
    try:
        counts = {}
        if args.history:
            history = load_bench_module("reports")  # bench/reports.py, not the app
            history.add_history(connection)
        with connection.cursor() as cursor:
            for table in ("clients_client", "scheduling_session", "billing_invoice"):
                cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                counts[table] = cursor.fetchone()[0]
        result = {"ids": ids, "counts": counts, "pages": measure(args.repeat, ids)}
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)
    print("JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

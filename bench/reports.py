"""Benchmark of the reports on the large demo practice (ten times the demo):

    .venv/bin/python bench/reports.py [--repeat 7]

Uses the bench's own data folder (.data/bench, as bench/run.py: built once).
Each report page (the whole page: filters, the SQL, the chart, the table) and its
CSV file is requested in this process through Django's test client as a staff
user, over the twelve months up to today and over five years; best and median of
--repeat, after one warm-up. The target: each under 300 ms.

The seed gives the large practice little history (a few invoices, no attendance),
so ``--history`` (default on) first adds three years of it inside a transaction
that is rolled back at the end: an invoice per subscription per month (issued,
most paid, some part paid, some void), a mark on every past date of every
subscription, and card links; the bench database is left as it was.
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
    parser.add_argument("--no-history", dest="history", action="store_false")
    args = parser.parse_args()
    env, _ = run.setup_environment()
    run.manage(env, "migrate", "--no-input", "-v", "0")
    print("Loading the large demo practice (only the first time) ...", flush=True)
    run.manage(env, "seed_demo", "--size", "large")
    os.environ.update(env)

    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client as Browser
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from billing.models import Invoice, Payment
    from clients.models import Client
    from opus.models import User
    from reports.reports import REPORTS
    from scheduling.models import Attendance, Subscription

    atomic = transaction.atomic()
    atomic.__enter__()
    if args.history:
        started = time.perf_counter()
        add_history(connection)
        print(f"History added in {time.perf_counter() - started:.1f} s (rolled back at the end)")
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
    transaction.set_rollback(True)
    atomic.__exit__(None, None, None)
    return 1 if failed else 0


HISTORY_SQL = [
    # an invoice per subscription per month over three years, as drafts first ...
    """
    CREATE TEMP TABLE bench_months ON COMMIT DROP AS
    SELECT s.id AS subscription_id, r.payer_id, s.relationship_id, s.price,
           (date_trunc('month', CURRENT_DATE) - make_interval(months => m))::date AS month,
           m
    FROM scheduling_subscription s
    JOIN relationships_relationship r ON r.id = s.relationship_id
    CROSS JOIN generate_series(1, 36) AS m
    """,
    """
    ALTER TABLE bench_months ADD COLUMN invoice_id bigint
    """,
    """
    WITH made AS (
        INSERT INTO billing_invoice (payer_id, relationship_id, status, currency, total,
                                     void_reason, close_reason, created_at)
        SELECT payer_id, relationship_id, 'draft', 'GBP', 0, '', '', now()
        FROM bench_months ORDER BY subscription_id, m
        RETURNING id
    ), numbered AS (
        SELECT id, row_number() OVER (ORDER BY id) AS n FROM made
    ), wanted AS (
        SELECT ctid AS row_id, row_number() OVER (ORDER BY subscription_id, m) AS n
        FROM bench_months
    )
    UPDATE bench_months b SET invoice_id = numbered.id
    FROM wanted JOIN numbered USING (n) WHERE b.ctid = wanted.row_id
    """,
    """
    INSERT INTO billing_invoiceline (invoice_id, kind, description, quantity, unit_price,
                                     amount, reason, subscription_id, position)
    SELECT invoice_id, 'charge', 'Lessons', 4, price, price * 4, '', subscription_id, 0
    FROM bench_months
    """,
    # ... then issued (numbered after the practice's own), due a fortnight later
    """
    UPDATE billing_invoice i
    SET status = 'open', total = b.price * 4, issued_on = b.month,
        due_on = b.month + 14, status_changed_at = b.month + time '09:00',
        number = (SELECT COALESCE(MAX(number), 0) FROM billing_invoice) + b.invoice_id
    FROM bench_months b WHERE i.id = b.invoice_id
    """,
    # most are paid in full, one in ten in part, the last months' less often
    """
    INSERT INTO billing_payment (invoice_id, amount, currency, method, reference,
                                 gateway_charge_id, received_at, dispute_reason, refunded)
    SELECT invoice_id, CASE WHEN invoice_id % 10 = 3 THEN price * 2 ELSE price * 4 END,
           'GBP', 'cash', '', '', b.month + 10 + time '12:00', '',
           CASE WHEN invoice_id % 20 = 7 THEN price ELSE 0 END
    FROM bench_months b
    WHERE b.m > 2 OR invoice_id % 3 = 0
    """,
    # one payment in twenty partly refunded (cash), a week after it came in
    """
    INSERT INTO billing_refund (payment_id, amount, currency, method, reason, from_account,
                                status, gateway_refund_id, message, created_at, settled_at)
    SELECT id, refunded, currency, 'cash', 'bench', false, 'succeeded', '', '',
           received_at + interval '7 days', received_at + interval '7 days'
    FROM billing_payment WHERE refunded > 0
    """,
    """
    UPDATE billing_invoice i SET status = 'paid'
    FROM bench_months b
    WHERE i.id = b.invoice_id AND (b.m > 2 OR b.invoice_id % 3 = 0) AND b.invoice_id % 10 <> 3
    """,
    """
    UPDATE billing_invoice i SET status = 'void', void_reason = 'Billed twice'
    FROM bench_months b
    WHERE i.id = b.invoice_id AND b.m <= 2 AND b.invoice_id % 3 <> 0 AND b.invoice_id % 17 = 0
    """,
    # a mark on every past, held date of every subscription
    """
    INSERT INTO scheduling_attendance (session_date_id, client_id, subscription_id, mark,
                                       chargeable, marked_at)
    SELECT d.id, s.client_id, s.id,
           (ARRAY['present', 'present', 'present', 'present', 'present', 'present',
                  'absent', 'late_cancelled', 'no_show', 'present'])[1 + (d.id + s.id) % 10],
           (d.id + s.id) % 10 <> 6, d.ends_at
    FROM scheduling_subscription s
    JOIN scheduling_sessiondate d ON d.session_id = s.session_id
    WHERE d.date >= s.first_date AND (s.end_date IS NULL OR d.date < s.end_date)
      AND d.date < CURRENT_DATE AND NOT d.cancelled
    ON CONFLICT DO NOTHING
    """,
    # card links: three a client over three years, the older ones used or replaced
    """
    INSERT INTO billing_paymentcardrequest (client_id, reason, nonce, token_hash, created_at,
        expires_at, sent_at, opened_at, provider_message_id, superseded_at, setup_id)
    SELECT c.id, 'bench', 'bench-' || c.id || '-' || k, md5('bench' || c.id || '-' || k),
           now() - make_interval(days => (30 * k + c.id % 30)::int),
           now() - make_interval(days => (30 * k + c.id % 30)::int) + interval '7 days',
           now() - make_interval(days => (30 * k + c.id % 30)::int) + interval '1 minute',
           CASE WHEN (c.id + k) % 3 <> 0 THEN
               now() - make_interval(days => (30 * k + c.id % 30)::int) + interval '3 hours'
           END,
           '', now() - make_interval(days => (30 * k + c.id % 30)::int) + interval '8 days', ''
    FROM clients_client c CROSS JOIN generate_series(1, 3) AS k
    """,
    "ANALYZE",
]


def add_history(connection) -> None:
    with connection.cursor() as cursor:
        for sql in HISTORY_SQL:
            cursor.execute(sql)


if __name__ == "__main__":
    sys.exit(main())

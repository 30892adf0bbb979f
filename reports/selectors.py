"""The reports' numbers: each report is one SQL statement (aggregated in the
database, grouped, never a query per row), so a report costs the same number of
queries on a practice of 60 clients or of 6,000.

Each function takes plain values (dates, ids) and returns rows as dicts; the
views shape them into tables, charts and CSV files. Dates are in the practice's
time zone: a timestamp counts on the practice's calendar day (``AT TIME ZONE``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import (
    Account,
    AccountEntry,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentCardRequest,
    Refund,
)
from clients.models import Client
from frontdesk.models import Transfer, Withdrawal
from opus.models import User
from scheduling.models import (
    Attendance,
    Booking,
    Service,
    Session,
    SessionDate,
    Subscription,
)

T = {
    "invoice": Invoice._meta.db_table,
    "line": InvoiceLine._meta.db_table,
    "payment": Payment._meta.db_table,
    "refund": Refund._meta.db_table,
    "account": Account._meta.db_table,
    "account_entry": AccountEntry._meta.db_table,
    "card_request": PaymentCardRequest._meta.db_table,
    "client": Client._meta.db_table,
    "user": User._meta.db_table,
    "service": Service._meta.db_table,
    "session": Session._meta.db_table,
    "session_date": SessionDate._meta.db_table,
    "subscription": Subscription._meta.db_table,
    "booking": Booking._meta.db_table,
    "attendance": Attendance._meta.db_table,
    "transfer": Transfer._meta.db_table,
    "withdrawal": Withdrawal._meta.db_table,
}
BILLED = ("open", "paid", "closed")  # issued and not void: what the invoice list sums
AGING_BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "over_90")
WITHDRAWAL_REASONS = [value for value, _ in Withdrawal.Reason.choices]


def _rows(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in the practice's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _tz() -> str:
    return timezone.get_current_timezone_name()


# --- accounts receivable aging ------------------------------------------------------------------


def aging(*, as_of: date, currency: str = "") -> list[dict]:
    """Per payer and currency, what was still owed at the end of ``as_of``, by how
    many days past its due date each invoice was: current (not yet due), 1-30,
    31-60, 61-90, over 90; and the account credit the payer held then (``credit``,
    the ledger's entries written by the end of that day). An invoice counts when it
    was issued by then and was still open then: open now, or paid, void or closed
    only after that day; payments count when received by the end of that day. A
    payer who owes nothing but holds credit has a row of their own."""
    sql = f"""
        WITH owed AS (
            SELECT i.payer_id, i.currency, i.due_on,
                   i.total - COALESCE((
                       SELECT SUM(p.amount) FROM {T["payment"]} p
                       WHERE p.invoice_id = i.id AND p.received_at < %(cutoff)s
                   ), 0) AS balance
            FROM {T["invoice"]} i
            WHERE i.issued_on <= %(as_of)s
              AND (i.status = 'open'
                   OR (i.status IN ('paid', 'void', 'closed')
                       AND i.status_changed_at >= %(cutoff)s))
              AND (%(currency)s = '' OR i.currency = %(currency)s)
        ),
        by_payer AS (
            SELECT o.payer_id, o.currency,
                COUNT(*) AS invoices,
                COALESCE(SUM(balance) FILTER (
                    WHERE o.due_on IS NULL OR o.due_on >= %(as_of)s), 0) AS current,
                COALESCE(SUM(balance) FILTER (
                    WHERE %(as_of)s - o.due_on BETWEEN 1 AND 30), 0) AS d1_30,
                COALESCE(SUM(balance) FILTER (
                    WHERE %(as_of)s - o.due_on BETWEEN 31 AND 60), 0) AS d31_60,
                COALESCE(SUM(balance) FILTER (
                    WHERE %(as_of)s - o.due_on BETWEEN 61 AND 90), 0) AS d61_90,
                COALESCE(SUM(balance) FILTER (WHERE %(as_of)s - o.due_on > 90), 0) AS over_90,
                SUM(balance) AS total
            FROM owed o
            WHERE o.balance > 0
            GROUP BY o.payer_id, o.currency
        ),
        credit AS (
            SELECT a.payer_id, a.currency, SUM(e.amount) AS credit
            FROM {T["account_entry"]} e
            JOIN {T["account"]} a ON a.id = e.account_id
            WHERE e.created_at < %(cutoff)s
              AND (%(currency)s = '' OR a.currency = %(currency)s)
            GROUP BY a.payer_id, a.currency
            HAVING SUM(e.amount) > 0
        )
        SELECT COALESCE(b.payer_id, k.payer_id) AS payer_id, c.first_name, c.last_name,
            COALESCE(b.currency, k.currency) AS currency,
            COALESCE(b.invoices, 0) AS invoices,
            COALESCE(b.current, 0) AS current, COALESCE(b.d1_30, 0) AS d1_30,
            COALESCE(b.d31_60, 0) AS d31_60, COALESCE(b.d61_90, 0) AS d61_90,
            COALESCE(b.over_90, 0) AS over_90, COALESCE(b.total, 0) AS total,
            COALESCE(k.credit, 0) AS credit
        FROM by_payer b
        FULL OUTER JOIN credit k ON k.payer_id = b.payer_id AND k.currency = b.currency
        JOIN {T["client"]} c ON c.id = COALESCE(b.payer_id, k.payer_id)
        ORDER BY COALESCE(b.total, 0) DESC, c.last_name, c.first_name,
            COALESCE(b.payer_id, k.payer_id), COALESCE(b.currency, k.currency)
    """
    cutoff = day_start(as_of + timedelta(days=1))
    return _rows(sql, {"as_of": as_of, "cutoff": cutoff, "currency": currency})


# --- revenue ------------------------------------------------------------------------------------

# Each invoice line, signed (a charge adds, a discount or credit takes away), with the
# service and practitioner of the session it bills (none: a line about no session).
_LINES = f"""
    SELECT l.invoice_id,
           CASE WHEN l.kind = 'charge' THEN l.amount ELSE -l.amount END AS signed,
           COALESCE(ss.service_id, bs.service_id) AS service_id,
           COALESCE(ss.practitioner_id, bs.practitioner_id) AS practitioner_id
    FROM {T["line"]} l
    LEFT JOIN {T["subscription"]} sub ON sub.id = l.subscription_id
    LEFT JOIN {T["session"]} ss ON ss.id = sub.session_id
    LEFT JOIN {T["booking"]} b ON b.id = l.booking_id
    LEFT JOIN {T["session_date"]} bd ON bd.id = b.session_date_id
    LEFT JOIN {T["session"]} bs ON bs.id = bd.session_id
"""
REVENUE_GROUPS = ("month", "service", "practitioner")


def revenue(
    *,
    first: date,
    last: date,
    by: str = "month",
    service_id: int | None = None,
    practitioner_id: int | None = None,
) -> list[dict]:
    """Invoiced (issued, not void, on its issue date), collected (payments, on the
    day received) and refunded (refunds made, on the day made) from ``first`` to
    ``last``, grouped by month, service or
    practitioner, per currency. Invoiced sums the invoices' lines, so the groups
    add up to the invoices' totals to the penny; a payment (and a refund, through
    its payment) is shared out over its invoice's lines in proportion to their
    amounts (rounded once, per group)."""
    if by not in REVENUE_GROUPS:
        raise ValueError(by)
    key = {
        "month": "m.month",
        "service": "line.service_id",
        "practitioner": "line.practitioner_id",
    }[by]
    label, names = {
        "month": ("NULL::text", ""),
        "service": ("sv.name", f"LEFT JOIN {T['service']} sv ON sv.id = f.key"),
        "practitioner": (
            "NULLIF(TRIM(u.first_name || ' ' || u.last_name), '')",
            f"LEFT JOIN {T['user']} u ON u.id = f.key",
        ),
    }[by]
    # Each invoice, payment and refund once (refunds summed per invoice and month), then
    # shared out over its invoice's lines and summed straight into the groups: the
    # names are looked up for the few groups, not for every line.
    sql = f"""
        WITH money AS (
            SELECT i.id AS invoice_id, i.currency, date_trunc('month', i.issued_on)::date AS month,
                   1 AS billed, NULL::numeric AS paid, NULL::numeric AS refunded,
                   NULL::numeric AS total
            FROM {T["invoice"]} i
            WHERE i.status = ANY(%(billed)s) AND i.issued_on BETWEEN %(first)s AND %(last)s
            UNION ALL
            SELECT p.invoice_id, p.currency,
                   date_trunc('month', p.received_at AT TIME ZONE %(tz)s)::date,
                   NULL, p.amount, NULL, i.total
            FROM {T["payment"]} p
            JOIN {T["invoice"]} i ON i.id = p.invoice_id
            WHERE p.received_at >= %(start)s AND p.received_at < %(end)s
            UNION ALL
            SELECT p.invoice_id, r.currency,
                   date_trunc('month', r.settled_at AT TIME ZONE %(tz)s)::date,
                   NULL, NULL, SUM(r.amount), MIN(i.total)
            FROM {T["refund"]} r
            JOIN {T["payment"]} p ON p.id = r.payment_id
            JOIN {T["invoice"]} i ON i.id = p.invoice_id
            WHERE r.status = 'succeeded'
              AND r.settled_at >= %(start)s AND r.settled_at < %(end)s
            GROUP BY p.invoice_id, r.currency, 3
        ),
        facts AS (
            SELECT {key} AS key, m.currency,
                   COALESCE(SUM(m.billed * line.signed), 0) AS invoiced,
                   COALESCE(SUM(m.paid * line.signed / NULLIF(m.total, 0)), 0) AS collected,
                   COALESCE(SUM(m.refunded * line.signed / NULLIF(m.total, 0)), 0) AS refunded
            FROM money m
            JOIN ({_LINES}) line ON line.invoice_id = m.invoice_id
            WHERE (%(service)s::bigint IS NULL OR line.service_id = %(service)s)
              AND (%(practitioner)s::bigint IS NULL OR line.practitioner_id = %(practitioner)s)
            GROUP BY 1, 2
        )
        SELECT f.key, {label} AS label, f.currency, f.invoiced, f.collected, f.refunded
        FROM facts f
        {names}
        ORDER BY {"f.key" if by == "month" else "f.invoiced DESC, label"}, f.currency
    """
    return _rows(
        sql,
        {
            "billed": list(BILLED),
            "first": first,
            "last": last,
            "start": day_start(first),
            "end": day_start(last + timedelta(days=1)),
            "tz": _tz(),
            "service": service_id,
            "practitioner": practitioner_id,
        },
    )


# --- enrolment movement -------------------------------------------------------------------------


def enrolment_movement(*, first: date, last: date, service_id: int | None = None) -> list[dict]:
    """Per month and service: new enrolments (a subscription that starts and is not
    the new half of a transfer), withdrawals by reason (in the month of the last
    date attended), transfers in and out (a transfer is never a withdrawal), and
    other ends (a subscription that ended without either: a session ended, a
    relationship's sessions rebooked)."""
    sql = f"""
        WITH events AS (
            SELECT s.first_date AS day, se.service_id, 'new' AS kind
            FROM {T["subscription"]} s
            JOIN {T["session"]} se ON se.id = s.session_id
            WHERE s.first_date BETWEEN %(first)s AND %(last)s
              AND NOT EXISTS (SELECT 1 FROM {T["transfer"]} t WHERE t.to_subscription_id = s.id)
            UNION ALL
            SELECT t.transfer_date, se.service_id, 'transfer_in'
            FROM {T["transfer"]} t
            JOIN {T["subscription"]} s ON s.id = t.to_subscription_id
            JOIN {T["session"]} se ON se.id = s.session_id
            WHERE t.transfer_date BETWEEN %(first)s AND %(last)s
            UNION ALL
            SELECT t.transfer_date, se.service_id, 'transfer_out'
            FROM {T["transfer"]} t
            JOIN {T["subscription"]} s ON s.id = t.from_subscription_id
            JOIN {T["session"]} se ON se.id = s.session_id
            WHERE t.transfer_date BETWEEN %(first)s AND %(last)s
            UNION ALL
            SELECT w.last_date, se.service_id, 'withdrawn_' || w.reason
            FROM {T["withdrawal"]} w
            JOIN {T["subscription"]} s ON s.id = w.subscription_id
            JOIN {T["session"]} se ON se.id = s.session_id
            WHERE w.last_date BETWEEN %(first)s AND %(last)s
            UNION ALL
            SELECT s.end_date - 1, se.service_id, 'other_end'
            FROM {T["subscription"]} s
            JOIN {T["session"]} se ON se.id = s.session_id
            WHERE s.end_date - 1 BETWEEN %(first)s AND %(last)s
              AND s.end_date > s.first_date
              AND NOT EXISTS (SELECT 1 FROM {T["withdrawal"]} w WHERE w.subscription_id = s.id)
              AND NOT EXISTS (
                  SELECT 1 FROM {T["transfer"]} t WHERE t.from_subscription_id = s.id)
        )
        SELECT date_trunc('month', e.day)::date AS month, e.service_id, sv.name AS service,
               e.kind, COUNT(*) AS n
        FROM events e
        JOIN {T["service"]} sv ON sv.id = e.service_id
        WHERE %(service)s::bigint IS NULL OR e.service_id = %(service)s
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 3, 2, 4
    """
    counts = _rows(sql, {"first": first, "last": last, "service": service_id})
    rows: dict[tuple, dict] = {}
    for count in counts:
        row = rows.setdefault(
            (count["month"], count["service"], count["service_id"]),
            {
                "month": count["month"],
                "service": count["service"],
                "service_id": count["service_id"],
                "new": 0,
                "transfer_in": 0,
                "transfer_out": 0,
                "other_end": 0,
                **{f"withdrawn_{reason}": 0 for reason in WITHDRAWAL_REASONS},
            },
        )
        row[count["kind"]] = count["n"]
    result = list(rows.values())
    for row in result:
        row["withdrawn"] = sum(row[f"withdrawn_{reason}"] for reason in WITHDRAWAL_REASONS)
        row["net"] = (
            row["new"] + row["transfer_in"] - row["withdrawn"] - row["transfer_out"]
        ) - row["other_end"]
    return result


# --- attendance ---------------------------------------------------------------------------------

ATTENDANCE_GROUPS = ("session", "practitioner")


def attendance(
    *,
    first: date,
    last: date,
    by: str = "session",
    practitioner_id: int | None = None,
    service_id: int | None = None,
) -> list[dict]:
    """Marks on session dates from ``first`` to ``last`` (cancelled dates hold
    none), per session or per practitioner: how many of each, and the rate of
    present among those marked."""
    if by not in ATTENDANCE_GROUPS:
        raise ValueError(by)
    if by == "session":
        keys = "se.id, se.weekday, se.start_time, sv.name, se.practitioner_id"
        order = "sv.name, se.weekday, se.start_time, se.id"
    else:
        keys = "se.practitioner_id"
        order = "MIN(u.last_name), MIN(u.first_name), se.practitioner_id"
    session_fields = (
        "se.id AS session_id, se.weekday, se.start_time, sv.name AS service,"
        if by == "session"
        else ""
    )
    sql = f"""
        SELECT {session_fields}
               se.practitioner_id,
               MIN(NULLIF(TRIM(u.first_name || ' ' || u.last_name), '')) AS practitioner,
               MIN(u.username) AS username,
               COUNT(*) AS marked,
               COUNT(*) FILTER (WHERE a.mark = 'present') AS present,
               COUNT(*) FILTER (WHERE a.mark = 'absent') AS absent,
               COUNT(*) FILTER (WHERE a.mark = 'late_cancelled') AS late_cancelled,
               COUNT(*) FILTER (WHERE a.mark = 'no_show') AS no_show,
               COUNT(DISTINCT a.session_date_id) AS dates
        FROM {T["attendance"]} a
        JOIN {T["session_date"]} d ON d.id = a.session_date_id
        JOIN {T["session"]} se ON se.id = d.session_id
        JOIN {T["service"]} sv ON sv.id = se.service_id
        LEFT JOIN {T["user"]} u ON u.id = se.practitioner_id
        WHERE d.date BETWEEN %(first)s AND %(last)s
          AND (%(practitioner)s::bigint IS NULL OR se.practitioner_id = %(practitioner)s)
          AND (%(service)s::bigint IS NULL OR se.service_id = %(service)s)
        GROUP BY {keys}
        ORDER BY {order}
    """
    rows = _rows(
        sql,
        {"first": first, "last": last, "practitioner": practitioner_id, "service": service_id},
    )
    for row in rows:
        row["practitioner"] = row["practitioner"] or row["username"] or "No practitioner"
        row["rate"] = rate(row["present"], row["marked"])
    return rows


def rate(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` as a percentage to one decimal place (None: nothing to count)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


# --- card links ---------------------------------------------------------------------------------


def card_links(*, first: date, last: date, now: datetime | None = None) -> list[dict]:
    """The card links created from ``first`` to ``last``, per month of creation and
    in all (the row whose month is None): sent, opened (the first time the page was
    shown), card added, expired unused, replaced by a newer link; and the median
    time from sending (or creating, if never sent) to the card."""
    sql = f"""
        SELECT month,
               COUNT(*) AS created,
               COUNT(sent_at) AS sent,
               COUNT(opened_at) AS opened,
               COUNT(used_at) AS card_added,
               COUNT(*) FILTER (WHERE used_at IS NULL AND superseded_at IS NULL
                                AND expires_at <= %(now)s) AS expired,
               COUNT(*) FILTER (WHERE used_at IS NULL AND superseded_at IS NOT NULL)
                   AS superseded,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY EXTRACT(EPOCH FROM used_at - COALESCE(sent_at, created_at)))
                   FILTER (WHERE used_at IS NOT NULL) AS median_seconds
        FROM (
            SELECT r.*, date_trunc('month', r.created_at AT TIME ZONE %(tz)s)::date AS month
            FROM {T["card_request"]} r
            WHERE r.created_at >= %(start)s AND r.created_at < %(end)s
        ) links
        GROUP BY GROUPING SETS ((month), ())
        ORDER BY month NULLS LAST
    """
    return _rows(
        sql,
        {
            "tz": _tz(),
            "now": now or timezone.now(),
            "start": day_start(first),
            "end": day_start(last + timedelta(days=1)),
        },
    )

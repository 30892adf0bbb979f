"""The reports, declared once each: their filters, their table (columns, rows,
totals), their chart. The views render any of them as a page, a fragment or a
CSV file (reports/views.py); the numbers come from reports/selectors.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing.models import PaymentCardRequest
from frontdesk.models import Withdrawal
from opus.lib.csvexport import amount
from opus.lib.money import format_money
from reports import selectors
from reports.charts import Chart, bar_chart
from reports.forms import Filters

# --- a table and how its cells are shown ------------------------------------------------------


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, money, percent, month, hours

    @property
    def numeric(self) -> bool:
        return self.kind != "text" and self.kind != "month"


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict]
    totals: list[dict] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_money(self) -> bool:
        return any(column.kind == "money" for column in self.columns)


def month_label(value) -> str:
    if isinstance(value, date):
        return f"{value:%b %Y}"
    return "" if value is None else str(value)


def shown(column: Column, row: dict) -> str:
    """A cell as the page shows it."""
    value = row.get(column.key)
    if value is None:
        return "—"
    if column.kind == "money":
        return format_money(value, row["currency"])
    if column.kind == "percent":
        return f"{value}%"
    if column.kind == "month":
        return month_label(value)
    if column.kind == "hours":
        return f"{value} h"
    return str(value)


def written(column: Column, row: dict):
    """A cell as the CSV file holds it: plain numbers, ISO months."""
    value = row.get(column.key)
    if value is None:
        return None
    if column.kind == "money":
        return amount(value, row["currency"])
    if column.kind == "month" and isinstance(value, date):
        return f"{value:%Y-%m}"
    return value


def months_between(first: date, last: date) -> list[date]:
    months, day = [], date(first.year, first.month, 1)
    while day <= last:
        months.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return months


def _per_currency(rows: list[dict], keys: list[str], label_key: str, label: str) -> list[dict]:
    """A totals row per currency (summed in Python over rows already aggregated)."""
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(
            row["currency"],
            {label_key: label, "currency": row["currency"], **dict.fromkeys(keys, 0)},
        )
        for key in keys:
            total[key] += row[key] or 0
    return [totals[currency] for currency in sorted(totals)]


def _label_every(count: int) -> int:
    return max(1, -(-count // 12))


# --- the reports --------------------------------------------------------------------------------


@dataclass
class Report:
    slug: str
    title: str
    summary: str
    fields: tuple[str, ...]
    build: Callable[[Filters], Table]
    groups: tuple[tuple[str, str], ...] = ()

    @property
    def url_name(self) -> str:
        return f"reports:{self.slug}"

    @property
    def csv_url_name(self) -> str:
        return f"reports:{self.slug}-csv"


AGING_LABELS = {
    "current": "Current",
    "d1_30": "1-30 days",
    "d31_60": "31-60 days",
    "d61_90": "61-90 days",
    "over_90": "Over 90 days",
}


def build_aging(filters: Filters) -> Table:
    rows = selectors.aging(as_of=filters.as_of, currency=filters.currency)
    for row in rows:
        row["payer"] = f"{row['first_name']} {row['last_name']}"
    keys = [*selectors.AGING_BUCKETS, "total", "invoices", "credit"]
    totals = _per_currency(rows, keys, "payer", "Total")
    charts = [
        bar_chart(
            f"Open balance by days overdue ({total['currency']})",
            list(AGING_LABELS.values()),
            [f"Open ({total['currency']})"],
            [[total[key]] for key in selectors.AGING_BUCKETS],
            show=lambda v, c=total["currency"]: format_money(Decimal(v), c),
        )
        for total in totals
    ]
    return Table(
        columns=[
            Column("payer", "Payer"),
            Column("currency", "Currency"),
            Column("invoices", "Open invoices", "int"),
            *(Column(key, label, "money") for key, label in AGING_LABELS.items()),
            Column("total", "Total open", "money"),
            Column("credit", "Account credit", "money"),
        ],
        rows=rows,
        totals=totals,
        charts=charts,
        notes=[
            "What each payer still owed at the end of the day chosen, by how many days "
            "past its due date each invoice was.",
            "Account credit: what the practice owed the payer back at the end of that day "
            "(their account's balance), shown apart: it is set against their next invoices, "
            "not taken off the open invoices above.",
        ],
    )


REVENUE_GROUPS = (("month", "Month"), ("service", "Service"), ("practitioner", "Practitioner"))


def build_revenue(filters: Filters) -> Table:
    rows = selectors.revenue(
        first=filters.first,
        last=filters.last,
        by=filters.by,
        service_id=filters.service_id,
        practitioner_id=filters.practitioner_id,
    )
    for row in rows:
        row["invoiced"] = amount(row["invoiced"], row["currency"])
        row["collected"] = amount(row["collected"], row["currency"])
        row["refunded"] = amount(row["refunded"], row["currency"])
        if filters.by == "month":
            row["label"] = row["key"]
        elif row["label"] is None:
            row["label"] = "No session" if filters.by == "service" else "No practitioner"
    group_label = dict(REVENUE_GROUPS)[filters.by]
    label_kind = "month" if filters.by == "month" else "text"
    totals = _per_currency(rows, ["invoiced", "collected", "refunded"], "label", "Total")
    charts = []
    for total in totals:
        currency = total["currency"]
        mine = [row for row in rows if row["currency"] == currency]
        if filters.by == "month":
            by_month = {row["key"]: row for row in mine}
            months = months_between(filters.first, filters.last)
            categories = [month_label(m) for m in months]
            values = [
                [by_month.get(m, {}).get(key) for key in ("invoiced", "collected", "refunded")]
                for m in months
            ]
        else:
            mine = mine[:12]
            categories = [row["label"] for row in mine]
            values = [[row["invoiced"], row["collected"], row["refunded"]] for row in mine]
        charts.append(
            bar_chart(
                f"Invoiced, collected and refunded by {group_label.lower()} ({currency})",
                categories,
                ["Invoiced", "Collected", "Refunded"],
                values,
                show=lambda v, c=currency: format_money(Decimal(v), c),
                label_every=_label_every(len(categories)),
            )
        )
    return Table(
        columns=[
            Column("label", group_label, label_kind),
            Column("currency", "Currency"),
            Column("invoiced", "Invoiced", "money"),
            Column("collected", "Collected", "money"),
            Column("refunded", "Refunded", "money"),
        ],
        rows=rows,
        totals=totals,
        charts=charts,
        notes=[
            "Invoiced: issued invoices (not void), on their issue date, line by line. "
            "Collected: payments, on the day received. Refunded: refunds made, on the day "
            "made (collected counts the payments as received; take refunded off for the net).",
            "By service or practitioner, a payment or a refund is shared over its invoice's "
            "lines in proportion to their amounts.",
        ],
    )


REASONS = dict(Withdrawal.Reason.choices)


def build_enrolments(filters: Filters) -> Table:
    rows = selectors.enrolment_movement(
        first=filters.first, last=filters.last, service_id=filters.service_id
    )
    reason_columns = [
        Column(f"withdrawn_{reason}", f"Withdrawn: {label}", "int")
        for reason, label in REASONS.items()
    ]
    keys = [
        "new",
        "transfer_in",
        *(c.key for c in reason_columns),
        "withdrawn",
        "transfer_out",
        "other_end",
        "net",
    ]
    total = {"month": None, "service": "Total", **dict.fromkeys(keys, 0)}
    for row in rows:
        for key in keys:
            total[key] += row[key]
    months = months_between(filters.first, filters.last)
    per_month: dict[date, list[int]] = {m: [0, 0, 0] for m in months}
    for row in rows:
        bucket = per_month.setdefault(row["month"], [0, 0, 0])
        bucket[0] += row["new"]
        bucket[1] -= row["withdrawn"]
        bucket[2] += row["net"]
    chart = bar_chart(
        "New enrolments, withdrawals and net change by month",
        [month_label(m) for m in per_month],
        ["New", "Withdrawn", "Net change"],
        list(per_month.values()),
        label_every=_label_every(len(per_month)),
    )
    return Table(
        columns=[
            Column("month", "Month", "month"),
            Column("service", "Service"),
            Column("new", "New", "int"),
            Column("transfer_in", "Transferred in", "int"),
            *reason_columns,
            Column("withdrawn", "Withdrawn", "int"),
            Column("transfer_out", "Transferred out", "int"),
            Column("other_end", "Ended otherwise", "int"),
            Column("net", "Net change", "int"),
        ],
        rows=rows,
        totals=[total] if rows else [],
        charts=[chart],
        notes=[
            "A transfer is not a withdrawal: it is counted apart, out of one service and "
            "into another (or the same).",
            "Withdrawals count in the month of the last date attended; other ends (a "
            "session ended, sessions rebooked under a new payer) in the month of the "
            "last date covered.",
        ],
    )


ATTENDANCE_GROUPS = (("session", "Session"), ("practitioner", "Practitioner"))
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def build_attendance(filters: Filters) -> Table:
    rows = selectors.attendance(
        first=filters.first,
        last=filters.last,
        by=filters.by,
        practitioner_id=filters.practitioner_id,
        service_id=filters.service_id,
    )
    counts = ["dates", "marked", "present", "absent", "late_cancelled", "no_show"]
    total = {"session": "Total", "practitioner": "Total", **dict.fromkeys(counts, 0)}
    for row in rows:
        if filters.by == "session":
            row["session"] = (
                f"{row['service']}, {WEEKDAYS[row['weekday']]} {row['start_time']:%H:%M}"
            )
        for key in counts:
            total[key] += row[key]
    total["rate"] = selectors.rate(total["present"], total["marked"])
    leading = (
        [Column("session", "Session"), Column("practitioner", "Practitioner")]
        if filters.by == "session"
        else [Column("practitioner", "Practitioner")]
    )
    shown_rows = rows[:20]
    chart = bar_chart(
        f"Attendance rate by {filters.by} (present of marked, %)",
        [row[filters.by] for row in shown_rows],
        ["Attendance rate"],
        [[row["rate"]] for row in shown_rows],
        show=lambda v: f"{v}%",
        label_every=_label_every(len(shown_rows)),
    )
    return Table(
        columns=[
            *leading,
            Column("dates", "Dates marked", "int"),
            Column("marked", "Marks", "int"),
            Column("present", "Present", "int"),
            Column("absent", "Absent (told in time)", "int"),
            Column("late_cancelled", "Late-cancelled", "int"),
            Column("no_show", "No-show", "int"),
            Column("rate", "Attendance rate", "percent"),
        ],
        rows=rows,
        totals=[total] if rows else [],
        charts=[chart] if rows else [],
        notes=["The rate is the share of Present among the clients marked."],
    )


def build_card_links(filters: Filters) -> Table:
    rows = selectors.card_links(first=filters.first, last=filters.last)
    totals = [row for row in rows if row["month"] is None]
    rows = [row for row in rows if row["month"] is not None]
    for row in [*rows, *totals]:
        seconds = row.pop("median_seconds")
        row["median_hours"] = (
            None if seconds is None else Decimal(str(seconds / 3600)).quantize(Decimal("0.1"))
        )
        row["label"] = row["month"] if row["month"] else "Total"
        row["added_rate"] = selectors.rate(row["card_added"], row["sent"])
    states = ["sent", "opened", "card_added", "expired"]
    total = totals[0] if totals else dict.fromkeys(states, 0)
    chart = bar_chart(
        "Card links: sent, opened, card added, expired",
        ["Sent", "Opened", "Card added", "Expired"],
        ["Links"],
        [[total[state]] for state in states],
    )
    label = dict(PaymentCardRequest.State.choices)
    return Table(
        columns=[
            Column("label", "Month created", "month"),
            Column("created", "Links", "int"),
            Column("sent", label["sent"], "int"),
            Column("opened", "Opened", "int"),
            Column("card_added", label["used"], "int"),
            Column("expired", label["expired"], "int"),
            Column("superseded", "Replaced", "int"),
            Column("added_rate", "Card added (of sent)", "percent"),
            Column("median_hours", "Median time to card", "hours"),
        ],
        rows=rows,
        totals=[{**t, "label": "Total"} for t in totals] if rows else [],
        charts=[chart] if rows else [],
        notes=[
            "Opened: the first time the link's page was shown (recorded from this "
            "release on). Time to card: from sending (or creating, if never sent) to "
            "the card being added."
        ],
    )


REPORTS = {
    report.slug: report
    for report in (
        Report(
            "aging",
            "Accounts receivable aging",
            "What each payer owes, by how long it is overdue.",
            ("as_of", "currency"),
            build_aging,
        ),
        Report(
            "revenue",
            "Revenue",
            "Invoiced and collected, by month, service or practitioner.",
            ("first", "last", "by", "service", "practitioner"),
            build_revenue,
            REVENUE_GROUPS,
        ),
        Report(
            "enrolments",
            "Enrolment movement",
            "New enrolments, withdrawals by reason and transfers, per month and service.",
            ("first", "last", "service"),
            build_enrolments,
        ),
        Report(
            "attendance",
            "Attendance",
            "The attendance rate per session and per practitioner.",
            ("first", "last", "by", "practitioner", "service"),
            build_attendance,
            ATTENDANCE_GROUPS,
        ),
        Report(
            "card-links",
            "Card links",
            "Links to add a card: sent, opened, card added, expired; time to card.",
            ("first", "last"),
            build_card_links,
        ),
    )
}

"""Today, the home page after login, and the quick search in the header: reads
only (selectors), each in a fixed number of queries whatever the practice's size."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from billing.models import BillingRun, Invoice, PaymentAttempt, PaymentCardRequest
from clients.selectors import search_clients
from relationships.models import RelationshipMigration
from relationships.selectors import relationship_list
from scheduling.models import Attendance, Booking, DateAbsence, Subscription
from scheduling.selectors import schedule_slots

WAITING_SHOWN = 5  # each waiting list shows its first few and a count


@dataclass
class TodaysSession:
    slot: dict
    attending: list[dict] = field(default_factory=list)  # {"client", "mark"}
    absent: list[dict] = field(default_factory=list)

    @property
    def marked(self) -> int:
        return sum(1 for entry in self.attending if entry["mark"])


def todays_sessions(user, *, day: date) -> list[TodaysSession]:
    """The session dates of ``day`` visible to ``user``, each with its roster
    (subscriptions covering the day minus absences by request, plus bookings) and
    attendance marks. Four queries, however many sessions and clients."""
    slots = schedule_slots(user, start=day, end=day + timedelta(days=1))
    sessions = {slot["pk"]: TodaysSession(slot) for slot in slots if not slot["cancelled"]}
    if not sessions:
        return [TodaysSession(slot) for slot in slots]
    ids = list(sessions)
    marks = {
        (row["session_date_id"], row["client_id"]): row["mark"]
        for row in Attendance.objects.filter(session_date_id__in=ids).values(
            "session_date_id", "client_id", "mark"
        )
    }
    labels = dict(Attendance.Mark.choices)
    subscriptions = (
        Subscription.objects.filter(session__dates__pk__in=ids, session__dates__date=day)
        .covering(day)
        .annotate(
            absent=Exists(
                DateAbsence.objects.filter(
                    subscription_id=OuterRef("pk"),
                    session_date__date=day,
                )
            )
        )
        .values(
            "session__dates__pk",
            "client_id",
            "client__first_name",
            "client__last_name",
            "absent",
        )
    )
    rows = [
        (
            row["session__dates__pk"],
            row["client_id"],
            row["client__first_name"],
            row["client__last_name"],
            row["absent"],
        )
        for row in subscriptions
    ]
    bookings = Booking.objects.filter(
        session_date_id__in=ids, status=Booking.Status.BOOKED
    ).values_list("session_date_id", "client_id", "client__first_name", "client__last_name")
    rows += [(*row, False) for row in bookings]
    rows.sort(key=lambda r: (r[3].lower(), r[2].lower(), r[1]))
    for date_id, client_id, first, last, absent in rows:
        mark = marks.get((date_id, client_id), "")
        entry = {
            "client_id": client_id,
            "name": f"{first} {last}".strip(),
            "mark": mark,
            "mark_label": labels.get(mark, ""),
        }
        session = sessions[date_id]
        (session.absent if absent else session.attending).append(entry)
    return [sessions.get(slot["pk"]) or TodaysSession(slot) for slot in slots]


@dataclass
class Waiting:
    """One kind of thing waiting for the front desk: how many, and the first few."""

    count: int
    items: list


def _waiting(queryset) -> Waiting:
    return Waiting(count=queryset.count(), items=list(queryset[:WAITING_SHOWN]))


def waiting_for_staff(*, now) -> dict[str, Waiting]:
    """What waits for the front desk: card links sent and not used yet,
    migrations waiting for a card, invoices overdue, charges declined or failed
    with no later success, billing runs prepared and waiting for approval. Two
    queries each."""
    today = timezone.localdate(now)
    card_links = (
        PaymentCardRequest.objects.filter(
            used_at__isnull=True, superseded_at__isnull=True, expires_at__gt=now
        )
        .select_related("client")
        .order_by("created_at", "pk")
    )
    migrations = (
        RelationshipMigration.objects.filter(status=RelationshipMigration.Status.AWAITING_CARD)
        .select_related("old_relationship__attendee", "old_relationship__payer")
        .order_by("pk")
    )
    overdue = (
        Invoice.objects.filter(status=Invoice.Status.OPEN, due_on__lt=today)
        .select_related("payer")
        .order_by("due_on", "pk")
    )
    later_success = PaymentAttempt.objects.filter(
        invoice_id=OuterRef("invoice_id"),
        status=PaymentAttempt.Status.SUCCEEDED,
        created_at__gt=OuterRef("created_at"),
    )
    failed = (
        PaymentAttempt.objects.filter(
            status__in=[PaymentAttempt.Status.DECLINED, PaymentAttempt.Status.FAILED],
            invoice__status=Invoice.Status.OPEN,
        )
        .exclude(Exists(later_success))
        .select_related("invoice__payer")
        .order_by("-created_at", "-pk")
    )
    runs_to_approve = BillingRun.objects.filter(status=BillingRun.Status.PREPARED).order_by(
        "period_start"
    )
    return {
        "billing_runs": _waiting(runs_to_approve),
        "card_links": _waiting(card_links),
        "migrations": _waiting(migrations),
        "overdue": _waiting(overdue),
        "failed_charges": _waiting(failed),
    }


# --- quick search -------------------------------------------------------------------

SEARCH_SHOWN = 6
INVOICE_NUMBER = re.compile(r"^(?:inv-?|#)?0*(\d{1,9})$", re.IGNORECASE)


@dataclass
class SearchResults:
    q: str
    clients: list = field(default_factory=list)
    relationships: list = field(default_factory=list)
    invoices: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.clients or self.relationships or self.invoices)


def quick_search(user, q: str) -> SearchResults:
    """Clients, relationships and invoices (by number: "INV-000042", "#42", "42")
    matching ``q``, as ``user`` may see them: three queries at most."""
    q = " ".join(str(q).split())[:100]
    results = SearchResults(q=q)
    if not q:
        return results
    results.clients = list(
        search_clients(user, q=q).only("pk", "first_name", "last_name", "email")[:SEARCH_SHOWN]
    )
    results.relationships = list(
        relationship_list(user, q=q).filter(status="active")[:SEARCH_SHOWN]
    )
    number = INVOICE_NUMBER.match(q)
    if number:
        results.invoices = list(
            Invoice.objects.visible_to(user)
            .filter(Q(number=int(number.group(1))))
            .select_related("payer")[:SEARCH_SHOWN]
        )
    return results

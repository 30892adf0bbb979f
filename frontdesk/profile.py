"""The client profile: everything about one client, read across the apps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce

from billing.models import Invoice, Payment
from billing.selectors import with_panel_flags
from clients.models import Client, ClientEvent
from frontdesk.models import Transfer
from opus.lib.fields import default_currency
from opus.models import User
from relationships.models import Relationship
from scheduling.models import Subscription
from scheduling.selectors import (
    AttendanceSummary,
    attendance_summary,
    coming_sessions,
    last_session_date,
    makeup_credits_of,
    with_last_session,
)


def invoices_with_balance(user, client):
    """The client's invoices (as payer) visible to ``user``, with ``paid`` (the sum
    of their payments) annotated in the same query."""

    paid = (
        Payment.objects.filter(invoice_id=OuterRef("pk"))
        .order_by()
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    money = DecimalField(max_digits=14, decimal_places=3)
    return (
        Invoice.objects.visible_to(user)
        .filter(payer_id=client.pk)
        .annotate(
            paid=Coalesce(Subquery(paid, output_field=money), Value(Decimal(0)), output_field=money)
        )
        .order_by(F("issued_on").desc(nulls_first=True), "-pk")
    )


INVOICES_SHOWN = 10  # the latest; "All N invoices" opens the invoice list


def latest_invoices(user, client) -> list:
    """The client's latest INVOICES_SHOWN invoices, each with ``owed`` (what is left
    to pay on an open invoice; nothing on any other), and, on each row, the count
    of all of them and what is owed on all of them (window aggregates: one query,
    the rows read stay ten whatever the years of invoices)."""
    money = DecimalField(max_digits=14, decimal_places=3)
    owed = Case(
        When(status=Invoice.Status.OPEN, then=F("total") - F("paid")),
        default=Value(Decimal(0)),
        output_field=money,
    )
    invoices = list(
        invoices_with_balance(user, client).annotate(
            owed=owed,
            invoice_count=Window(Count("pk")),
            owed_in_all=Window(Sum(owed, output_field=money)),
        )[:INVOICES_SHOWN]
    )
    return invoices


@dataclass
class Profile:
    active_subscriptions: list
    past_subscriptions: list
    as_attendee: list
    as_payer: list
    coming: list
    invoices: list  # the latest INVOICES_SHOWN
    invoice_count: int  # all of them
    owed: Decimal  # on all of them
    all_invoices_query: str  # the invoice list's filter by this payer
    currency: str
    events: list
    more_events: bool
    attendance: AttendanceSummary | None = None
    makeup_credits: list | None = None

    @property
    def relationship_count(self) -> int:
        return len(self.as_attendee) + len(self.as_payer)


HISTORY_LIMIT = 100
RECENT_MARKS = 10
COMING_WEEKS = 8
# What the profile shows, and no more: fewer columns to build, convert and send.
PERSON = ("first_name", "last_name")
USER = ("first_name", "last_name", "username")
SUBSCRIPTION_FIELDS = (
    "client_id",
    "first_date",
    "end_date",
    "price",
    "currency",
    "session__weekday",
    "session__start_time",
    "session__last_date",
    "session__service__name",
    *(f"session__practitioner__{name}" for name in USER),
    "session__room__name",
    "relationship_id",
)
RELATIONSHIP_FIELDS = (
    "kind",
    "status",
    "started_on",
    "ended_on",
    *(f"payer__{name}" for name in PERSON),
    *(f"attendee__{name}" for name in PERSON),
    *(f"practitioner__{name}" for name in USER),
)
EVENT_FIELDS = ("kind", "summary", "created_at", *(f"actor__{name}" for name in USER))
EVENT_LABELS = dict(ClientEvent.Kind.choices)


def _history(client, user) -> list[dict]:
    """The client's latest events that ``user`` may read (none about another
    practitioner's sessions), one more than shown to tell whether there are more,
    as plain rows with what the page shows: the label of the kind and the actor's
    name. Up to a hundred rows: no model instances to build, no choice lookups in
    the template."""
    rows = list(
        ClientEvent.objects.visible_to(user)
        .filter(client_id=client.pk)
        .values(*EVENT_FIELDS)[: HISTORY_LIMIT + 1]
    )
    for row in rows:
        row["label"] = EVENT_LABELS.get(row["kind"], row["kind"])
        if row["actor__username"] is None:  # no actor (a system event), or a deleted user
            row["actor"] = ""
        else:  # User.display_name
            name = f"{row['actor__first_name']} {row['actor__last_name']}".strip()
            row["actor"] = name or row["actor__username"]
    return rows


def _attach_transfers(subscriptions, user) -> None:
    """Each subscription's transfer in and out (who, when, from, to, the invoice) as
    ``transfer_in_record`` / ``transfer_out_record``. One plain query when there is
    no transfer (most profiles); otherwise two more (actors, invoices), and one
    when the other side is a subscription not on the profile. A transfer whose other
    side ``user`` cannot see (another practitioner's session) is not shown, nor an
    invoice they cannot see. The sessions come from the subscriptions already read."""

    by_id = {s.pk: s for s in subscriptions}
    transfers = (
        list(
            Transfer.objects.filter(
                Q(from_subscription_id__in=by_id) | Q(to_subscription_id__in=by_id)
            )
        )
        if by_id
        else []
    )
    if not transfers:  # the common case costs one plain query, no joins
        for subscription in subscriptions:
            subscription.transfer_in_record = subscription.transfer_out_record = None
        return
    actors = User.objects.in_bulk({t.actor_id for t in transfers})
    invoices = Invoice.objects.visible_to(user).in_bulk(
        {t.invoice_id for t in transfers if t.invoice_id}
    )
    others = {t.from_subscription_id for t in transfers} | {t.to_subscription_id for t in transfers}
    others -= by_id.keys()
    if others:
        by_id.update(
            (s.pk, s)
            for s in Subscription.objects.visible_to(user)
            .filter(pk__in=others)
            .select_related("session__service")
        )
    transfers = [
        t for t in transfers if t.from_subscription_id in by_id and t.to_subscription_id in by_id
    ]
    for transfer in transfers:
        transfer.actor = actors[transfer.actor_id]
        transfer.invoice = invoices.get(transfer.invoice_id)
        transfer.from_subscription = by_id[transfer.from_subscription_id]
        transfer.to_subscription = by_id[transfer.to_subscription_id]
    incoming = {t.to_subscription_id: t for t in transfers}
    outgoing = {t.from_subscription_id: t for t in transfers}
    for subscription in subscriptions:
        subscription.transfer_in_record = incoming.get(subscription.pk)
        subscription.transfer_out_record = outgoing.get(subscription.pk)


def with_profile_flags(clients):
    """Annotate what lets the profile skip whole lookups: whether the client was
    ever transferred, and whether they ever had a card request."""

    return with_panel_flags(clients).annotate(
        has_transfers=Exists(Transfer.objects.filter(from_subscription__client_id=OuterRef("pk")))
    )


def profile_for(client: Client, user, *, today: date) -> Profile:
    """Everything on a client's profile, scoped to ``user``, in a fixed number of
    queries (one per section)."""

    subscriptions = list(
        with_last_session(Subscription.objects.visible_to(user))
        .filter(client_id=client.pk)
        .select_related("session__service", "session__practitioner", "session__room")
        .only(*SUBSCRIPTION_FIELDS)
        .order_by("-first_date", "-pk")
    )
    for subscription in subscriptions:  # the end date is exclusive: say the last session
        subscription.last_session = last_session_date(subscription)
    coming = coming_sessions(
        client, user, subscriptions=subscriptions, start=today, weeks=COMING_WEEKS
    )
    # "Update" starts a transfer from the client's next date in that session
    next_dates: dict[int, date] = {}
    for item in coming:
        if item.subscription is not None and not item.session_date.cancelled:
            next_dates.setdefault(item.subscription.pk, item.session_date.date)
    for subscription in subscriptions:
        subscription.next_date = next_dates.get(subscription.pk)
    active = [s for s in subscriptions if s.end_date is None or s.end_date > today]
    relationships = list(
        Relationship.objects.visible_to(user)
        .filter(Q(attendee_id=client.pk) | Q(payer_id=client.pk))
        .select_related("payer", "attendee", "practitioner")
        .only(*RELATIONSHIP_FIELDS)
        .order_by("status", "-started_on", "-pk")
    )
    # each subscription's relationship (who pays) is among the client's relationships
    by_id = {r.pk: r for r in relationships}
    for subscription in subscriptions:
        if subscription.relationship_id in by_id:
            subscription.relationship = by_id[subscription.relationship_id]
    if getattr(client, "has_transfers", True):
        _attach_transfers(subscriptions, user)
    else:  # annotated on the client: nothing to look up
        for subscription in subscriptions:
            subscription.transfer_in_record = subscription.transfer_out_record = None
    invoices = latest_invoices(user, client)
    events = _history(client, user)
    return Profile(
        active_subscriptions=active,
        past_subscriptions=[s for s in subscriptions if s not in active],
        as_attendee=[r for r in relationships if r.attendee_id == client.pk],
        as_payer=[
            r for r in relationships if r.payer_id == client.pk and r.attendee_id != client.pk
        ],
        coming=coming,
        invoices=invoices,
        invoice_count=invoices[0].invoice_count if invoices else 0,
        owed=invoices[0].owed_in_all if invoices else Decimal(0),
        all_invoices_query=urlencode({"payer": client.full_name}),
        currency=invoices[0].currency if invoices else default_currency(),
        events=events[:HISTORY_LIMIT],
        more_events=len(events) > HISTORY_LIMIT,
        attendance=attendance_summary(client.pk, user, recent=RECENT_MARKS),
        makeup_credits=makeup_credits_of(client.pk, user, today=today),
    )

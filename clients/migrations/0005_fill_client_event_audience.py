"""Say whose sessions each existing history row is about, where the database can
tell: the subscription, booking, absence, transfer or invoice the row names. A
session row that names none of them is about the client's one practitioner when
they have only one, else it is kept for staff; an invoice or payment row whose
invoice cannot be found is kept for staff. Rows about no session (contact details,
relationships, cards) stay readable by everyone who sees the client."""

import re
from datetime import datetime

from django.db import migrations

SESSION_KINDS = ("enrolled", "unenrolled_date", "reenrolled_date", "booked", "transferred")
INVOICE_KINDS = ("invoice", "payment", "email_sent", "email_failed")
INVOICE_REFERENCE = re.compile(r"\bINV-(\d+)|\bDraft #(\d+)")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _session(session) -> str:  # str(Session) when the rows were written
    return f"{session.service.name}, {WEEKDAYS[session.weekday]} {session.start_time:%H:%M}"


def _active_on(subscription, day) -> bool:
    return subscription.first_date <= day and (
        subscription.end_date is None or subscription.end_date > day
    )


def _one_date(summary: str, prefix: str, subscription) -> bool:
    """Whether the row ("Unenrolled from Piano on Mon 7 Dec 2026 only ...") names a
    date of this subscription."""
    start = f"{prefix} {subscription.session.service.name} on "
    if not summary.startswith(start):
        return False
    words = " ".join(summary[len(start) :].split()[:4])  # "Mon 7 Dec 2026"
    try:
        day = datetime.strptime(words, "%a %d %b %Y").date()
    except ValueError:
        return False
    return day.weekday() == subscription.session.weekday and _active_on(subscription, day)


def _about_sessions(event, subscriptions, bookings, transfers) -> set | None:
    summary = event.summary
    found = set()
    if event.kind == "enrolled":
        found = {
            s.session.practitioner_id
            for s in subscriptions
            if summary == f"Enrolled in {_session(s.session)} from {s.first_date:%d %b %Y}"
        }
    elif event.kind in ("unenrolled_date", "reenrolled_date"):
        prefix = "Unenrolled from" if event.kind == "unenrolled_date" else "Back on"
        found = {s.session.practitioner_id for s in subscriptions if _one_date(summary, prefix, s)}
    elif event.kind == "booked":
        found = {
            b.session_date.session.practitioner_id
            for b in bookings
            if summary
            == f"Booked {b.session_date.session.service.name} on {b.session_date.date:%a %d %b %Y}"
        }
    elif event.kind == "transferred":
        for t in transfers:
            old, new = t.from_subscription, t.to_subscription
            if summary.startswith(
                f"Transferred from {_session(old.session)} to {_session(new.session)} "
                f"from {new.first_date:%-d %b %Y}"
            ):
                found |= {old.session.practitioner_id, new.session.practitioner_id}
    return found or None


def _about_invoice(apps, summary) -> set | None:
    Invoice = apps.get_model("billing", "Invoice")
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    Transfer = apps.get_model("scheduling", "Transfer")
    match = INVOICE_REFERENCE.search(summary)
    if match is None:
        return None
    number, draft = match.groups()
    invoice = (
        Invoice.objects.filter(number=int(number))
        if number
        else Invoice.objects.filter(pk=int(draft))
    ).first()
    if invoice is None:
        return None
    about = set()
    for on_subscription, on_booking in InvoiceLine.objects.filter(invoice=invoice).values_list(
        "subscription__session__practitioner_id", "booking__session_date__session__practitioner_id"
    ):
        about.add(on_subscription or on_booking)
    about |= set(
        Transfer.objects.filter(invoice=invoice).values_list(
            "from_subscription__session__practitioner_id", flat=True
        )
    )
    return about - {None}


def fill(apps, schema_editor):
    ClientEvent = apps.get_model("clients", "ClientEvent")
    Subscription = apps.get_model("scheduling", "Subscription")
    Booking = apps.get_model("scheduling", "Booking")
    Transfer = apps.get_model("scheduling", "Transfer")
    clients = (
        ClientEvent.objects.filter(kind__in=SESSION_KINDS + INVOICE_KINDS)
        .values_list("client_id", flat=True)
        .distinct()
    )
    for client_id in clients.iterator():
        subscriptions = list(
            Subscription.objects.filter(client_id=client_id).select_related("session__service")
        )
        bookings = list(
            Booking.objects.filter(client_id=client_id).select_related(
                "session_date__session__service"
            )
        )
        transfers = list(
            Transfer.objects.filter(from_subscription__client_id=client_id).select_related(
                "from_subscription__session__service", "to_subscription__session__service"
            )
        )
        own = {s.session.practitioner_id for s in subscriptions} | {
            b.session_date.session.practitioner_id for b in bookings
        }
        changed = []
        for event in ClientEvent.objects.filter(
            client_id=client_id, kind__in=SESSION_KINDS + INVOICE_KINDS
        ):
            if event.kind in INVOICE_KINDS:
                about = _about_invoice(apps, event.summary)
                if about is None and event.kind.startswith("email"):
                    continue  # an email about a card link: about no session
            else:
                about = _about_sessions(event, subscriptions, bookings, transfers)
                if about is None and len(own) == 1:
                    about = own
            if about is None or len(about) > 1:
                event.staff_only = True
            elif about:
                event.practitioner_id = next(iter(about))
            else:
                continue
            changed.append(event)
        ClientEvent.objects.bulk_update(changed, ["practitioner", "staff_only"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0004_client_event_audience"),
        ("billing", "0005_open_invoices_accept_credits"),
        ("scheduling", "0004_transfer_draft"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]

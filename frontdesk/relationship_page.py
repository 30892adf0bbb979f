from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from billing.models import Invoice, PaymentCardRequest, PaymentMethod
from relationships.models import Relationship, RelationshipMigration
from scheduling.models import Booking, Subscription
from scheduling.selectors import attendance_summary


@dataclass
class HistoryItem:
    at: datetime
    text: str
    date_only: bool = False  # known to the day, not to the minute


def relationship_page(relationship: Relationship, user) -> dict:
    """Everything the relationship page shows ``user``, in a fixed number of queries.
    A practitioner sees the sessions under it that are theirs, and the invoices about
    them alone: a relationship they share with another practitioner shows nothing of
    the other's (docs/quality.md Security 17)."""
    now, today = timezone.now(), timezone.localdate()
    subscriptions = list(
        Subscription.objects.visible_to(user)
        .filter(relationship=relationship)
        .select_related("session__service", "session__practitioner", "session__room")
        .order_by("-first_date")
    )
    bookings = list(
        Booking.objects.visible_to(user)
        .filter(relationship=relationship)
        .select_related("session_date__session__service", "session_date__session__practitioner")
        .order_by("session_date__starts_at")
    )
    invoices = list(
        Invoice.objects.visible_to(user).filter(relationship=relationship).order_by("-pk")[:20]
    )
    card = PaymentMethod.objects.usable().filter(client_id=relationship.attendee_id).first()
    migration_out = (
        RelationshipMigration.objects.filter(old_relationship=relationship)
        .select_related("confirmed_by", "started_by", "new_relationship")
        .first()
    )
    migration_in = (
        RelationshipMigration.objects.filter(new_relationship=relationship)
        .select_related("confirmed_by", "old_relationship__payer")
        .first()
    )
    card_requests = list(
        PaymentCardRequest.objects.filter(relationship=relationship).order_by("-created_at")[:10]
    )
    history = [HistoryItem(relationship.created_at, "Relationship created")]
    for migration in (migration_in, migration_out):
        if migration and migration.confirmed_at:
            asker = (
                "the organiser"
                if migration.requested_by == RelationshipMigration.RequestedBy.ORGANISER
                else "the attendee"
            )
            who = migration.confirmed_by.display_name if migration.confirmed_by else "someone"
            history.append(
                HistoryItem(
                    migration.confirmed_at,
                    f"Migrated to first party at the request of {asker} "
                    f"(\u201c{migration.request_note}\u201d); confirmed by {who}",
                )
            )
    for card_request in card_requests:
        history.append(HistoryItem(card_request.created_at, "Payment card requested"))
        if card_request.sent_at:
            history.append(HistoryItem(card_request.sent_at, "Email sent: add a payment card"))
        if card_request.used_at:
            history.append(HistoryItem(card_request.used_at, "Card added through the link"))
    if relationship.ended_on:
        # a migration ends the relationship as it is confirmed: say when; without
        # one, only the day is known (never 23:59 of a day not yet over)
        confirmed = migration_out.confirmed_at if migration_out else None
        history.append(
            HistoryItem(
                confirmed
                or datetime.combine(
                    relationship.ended_on,
                    datetime.min.time(),
                    tzinfo=timezone.get_current_timezone(),
                ),
                f"Ended: {relationship.end_reason}",
                date_only=confirmed is None,
            )
        )
    history.sort(key=lambda item: item.at, reverse=True)
    return {
        "coming_subscriptions": [
            s for s in subscriptions if s.end_date is None or s.end_date > today
        ],
        "past_subscriptions": [
            s for s in subscriptions if s.end_date is not None and s.end_date <= today
        ],
        "coming_bookings": [
            b for b in bookings if b.status == "booked" and b.session_date.starts_at >= now
        ],
        "past_bookings": [
            b for b in bookings if not (b.status == "booked" and b.session_date.starts_at >= now)
        ],
        "invoices": invoices,
        "card": card,
        "migration_out": migration_out,
        "migration_in": migration_in,
        "card_request": card_requests[0] if card_requests else None,
        "history": history,
        # the attendee's attendance as the user sees it (one query)
        "attendance": attendance_summary(relationship.attendee_id, user, recent=0),
    }

"""Deleting a client: only one who never had money or history beyond their own
creation. Reads across billing and scheduling, so it lives at the top layer."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q

from billing.models import Invoice, PaymentCardRequest, PaymentMethod
from clients.models import Client, ClientEvent
from clients.permissions import can_edit_client
from clients.services import record_event
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship
from scheduling.models import Booking, Subscription

# what a client's history may hold and still be deleted: their own making
DELETABLE_EVENTS = (
    ClientEvent.Kind.CREATED,
    ClientEvent.Kind.UPDATED,
    ClientEvent.Kind.RELATIONSHIP,
    ClientEvent.Kind.ARCHIVED,
    ClientEvent.Kind.RESTORED,
)
ARCHIVE_INSTEAD = "Archive them instead: they leave the lists, and everything is kept."


def why_not_deletable(client: Client) -> str | None:
    """Why ``client`` may not be deleted (a sentence ending on Archive), or None: no
    invoices, payments, cards, subscriptions or bookings, at most one relationship
    that nothing was ever booked or invoiced under, and no history but its own."""
    if Invoice.objects.filter(payer=client).exists():
        return f"{client.full_name} has invoices. {ARCHIVE_INSTEAD}"
    if PaymentMethod.objects.filter(client=client).exists():
        return f"{client.full_name} has a payment card on file. {ARCHIVE_INSTEAD}"
    if (
        Subscription.objects.filter(client=client).exists()
        or Booking.objects.filter(client=client).exists()
    ):
        return f"{client.full_name} has been booked into sessions. {ARCHIVE_INSTEAD}"
    relationships = Relationship.objects.filter(Q(payer=client) | Q(attendee=client))
    used = relationships.filter(
        Q(subscriptions__isnull=False)
        | Q(bookings__isnull=False)
        | Q(invoices__isnull=False)
        | Q(replaced_by__isnull=False)
        | Q(replaces__isnull=False)
    )
    if relationships.count() > 1 or used.exists():
        return f"{client.full_name} is part of relationships with a history. {ARCHIVE_INSTEAD}"
    if client.events.exclude(kind__in=DELETABLE_EVENTS).exists():
        return f"{client.full_name} has a history. {ARCHIVE_INSTEAD}"
    return None


@transaction.atomic
def delete_client(*, client: Client, actor) -> str:
    """Delete a client added by mistake (staff only), with their unused relationship;
    refused with a message pointing to Archive otherwise. The database refuses what
    this misses (its foreign keys to a client protect it). Returns the name deleted."""
    if not can_edit_client(actor, client):
        raise PermissionDenied("Only staff may delete a client.")
    client = Client.objects.select_for_update().get(pk=client.pk)
    reason = why_not_deletable(client)
    if reason:
        raise BusinessRuleError(reason)
    name = client.full_name
    relationship = (
        Relationship.objects.select_for_update()
        .filter(Q(payer=client) | Q(attendee=client))
        .select_related("payer", "attendee")
        .first()
    )
    try:
        with transaction.atomic():
            if relationship is not None:
                other = relationship.payer if relationship.attendee_id == client.pk else None
                other = other or (
                    relationship.attendee if relationship.payer_id == client.pk else None
                )
                relationship.delete()
                if other is not None and other.pk != client.pk:
                    record_event(
                        client=other,
                        kind=ClientEvent.Kind.RELATIONSHIP,
                        summary=f"Relationship with {name} removed: {name} was deleted",
                        actor=actor,
                    )
            PaymentCardRequest.objects.filter(client=client).delete()
            client.delete()
    except (ProtectedError, IntegrityError) as error:
        raise BusinessRuleError(f"{name} has records kept by Opus. {ARCHIVE_INSTEAD}") from error
    return name

"""What scheduling adds to who sees what (see ``opus.lib.visibility``)."""

from django.db.models import Exists, OuterRef

from opus.lib import visibility
from scheduling.models import Booking, Subscription


def booked_in_their_sessions(user):
    """A relationship under which one of the practitioner's sessions is booked."""
    return Exists(
        Subscription.objects.filter(relationship=OuterRef("pk"), session__practitioner=user)
    ) | Exists(
        Booking.objects.filter(
            relationship=OuterRef("pk"), session_date__session__practitioner=user
        )
    )


def register() -> None:
    visibility.widen("relationships.Relationship", booked_in_their_sessions)

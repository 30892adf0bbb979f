"""What relationships add to who sees what (see ``opus.lib.visibility``)."""

from django.db.models import Exists, OuterRef

from opus.lib import visibility
from relationships.models import Relationship


def in_their_relationships(user):
    """A client who attends or pays under a relationship the practitioner sees."""
    visible = Relationship.objects.visible_to(user)
    return Exists(visible.filter(attendee_id=OuterRef("pk"))) | Exists(
        visible.filter(payer_id=OuterRef("pk"))
    )


def register() -> None:
    visibility.widen("clients.Client", in_their_relationships)

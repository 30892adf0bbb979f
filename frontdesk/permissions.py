"""Who may run the front desk's workflows. Views check (403) and the services
check again, with the same functions; ``actor`` is always named
(``opus.lib.actors``)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from opus.lib.actors import require_actor
from relationships.models import Relationship
from scheduling.permissions import can_transfer


def require_transfer_actor(actor) -> None:
    if not can_transfer(actor):
        raise PermissionDenied("Only staff can transfer clients between sessions.")


def can_work_on(user, relationship: Relationship) -> bool:
    """Migrate a relationship, book under it, rebook what it holds: staff, and the
    practitioners who see it (``Relationship.objects.visible_to``)."""
    require_actor(user)
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_practice_staff:
        return True
    return Relationship.objects.visible_to(user).filter(pk=relationship.pk).exists()


def require_relationship_actor(actor, relationship: Relationship) -> None:
    if not can_work_on(actor, relationship):
        raise PermissionDenied("You cannot see this relationship.")

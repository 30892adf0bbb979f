"""Who may do what with relationships. Visibility (what a user may see at all)
lives in ``Relationship.objects.visible_to``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from opus.lib.actors import require_actor


def can_create_relationship(user, *, practitioner=None) -> bool:
    """Staff (and Opus); a practitioner only one that names them as practitioner
    (the first-party relationship of a migration they confirm)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_practice_staff or (practitioner is not None and practitioner.pk == user.pk)


def require_may_create(actor, *, practitioner=None) -> None:
    require_actor(actor)
    if not can_create_relationship(actor, practitioner=practitioner):
        raise PermissionDenied("Only staff can create a relationship for another practitioner.")

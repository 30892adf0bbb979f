"""Who acts: a person, or Opus itself.

Every service that changes something takes ``actor`` as a required keyword and
checks it (``PermissionDenied`` when the person may not). Work that Opus does on
someone's behalf (the worker reconciling a charge, the credits and the invoice a
rebooking makes for the payers, a booking's invoice) names ``SYSTEM``: never
``None``, which a service refuses, so that a forgotten actor cannot skip a check.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class SystemActor:
    """Opus acting on someone's behalf. It may do what staff may do; rows it writes
    name no person (their ``created_by`` or ``actor`` stays empty)."""

    pk = None
    id = None
    is_authenticated = True
    is_active = True
    is_practice_staff = True

    def __repr__(self) -> str:
        return "SYSTEM"

    def __str__(self) -> str:
        return "Opus"


SYSTEM = SystemActor()


def require_actor(actor) -> None:
    if actor is None:
        raise PermissionDenied("Say who acts: a user, or SYSTEM for Opus itself.")


def person(actor):
    """For a foreign key to the user: the person who acted, or None for Opus."""
    require_actor(actor)
    return None if actor is SYSTEM else actor

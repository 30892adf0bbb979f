"""Who may do what in billing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from clients.models import Client
from opus.lib.actors import require_actor


def can_manage_billing(user) -> bool:
    """Issue, record payments, charge cards, void and close: staff only."""
    return bool(user is not None and user.is_authenticated and user.is_practice_staff)


def can_request_card(user, client, *, visible: bool | None = None) -> bool:
    """Staff, and the practitioners who can see the client (their practitioner).

    ``visible=True`` when the caller already fetched ``client`` through
    ``Client.objects.visible_to(user)``; saves a query."""

    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_practice_staff:
        return True
    if visible is None:
        visible = Client.objects.visible_to(user).filter(pk=client.pk).exists()
    return visible


def require_billing_actor(actor) -> None:
    """Services: staff, or Opus itself (``SYSTEM``: a task, a rebooking); never None."""
    require_actor(actor)
    if not can_manage_billing(actor):
        raise PermissionDenied("Only staff can change invoices and payments.")

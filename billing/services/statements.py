"""Emailing a payer's statement on request: an outbox row holding the payer's id
and the dates; the worker builds the statement and its PDF as it sends."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from billing.emails import STATEMENT
from billing.permissions import require_billing_actor
from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_day
from opus.models import OutboundEmail
from opus.services import queue_email


@transaction.atomic
def email_statement(*, payer, start: date, end: date, actor):
    """Queue the payer's statement from ``start`` to ``end`` to their email address
    (staff only). Refused, with a reason, when they have no address. The same
    statement asked again while the first is still waiting to be sent is that one."""
    require_billing_actor(actor)
    if end < start:
        raise BusinessRuleError("The statement's last day is before its first.", field="end")
    if not payer.email:
        raise BusinessRuleError(
            f"{payer.full_name} has no email address: add one to their details first."
        )
    context = {"client_id": payer.pk, "start": start.isoformat(), "end": end.isoformat()}
    waiting = OutboundEmail.objects.filter(
        template=STATEMENT, client=payer, status=OutboundEmail.Status.PENDING, context=context
    ).first()
    if waiting is not None:  # a double submit: the same statement is already on its way
        return waiting
    row = queue_email(
        template=STATEMENT,
        to=payer.email,
        client=payer,
        context=context,
    )
    record_event(
        client=payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=f"Statement ({format_day(start)} to {format_day(end)}) queued for email",
        actor=actor,
    )
    return row

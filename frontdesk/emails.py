"""The withdrawal email to the payer, as an outbox email kind (registered in
FrontdeskConfig.ready). The outbox row holds only the withdrawal's id."""

from __future__ import annotations

from clients.models import ClientEvent
from clients.services import record_event
from frontdesk.models import Withdrawal
from opus.lib.actors import SYSTEM
from opus.mail import EmailKind


def _withdrawal(row) -> Withdrawal | None:
    pk = (row.context or {}).get("withdrawal_id")
    if not isinstance(pk, int):
        return None
    return (
        Withdrawal.objects.select_related(
            "subscription__client",
            "subscription__session__service",
            "subscription__relationship__payer",
        )
        .filter(pk=pk)
        .first()
    )


def withdrawal_context(row) -> dict | None:
    withdrawal = _withdrawal(row)
    if withdrawal is None:
        return None
    subscription = withdrawal.subscription
    payer = subscription.relationship.payer
    return {
        "first_name": payer.first_name,
        "attendee_name": subscription.client.full_name,
        "for_self": payer.pk == subscription.client_id,
        "service_name": subscription.session.service.name,
        "weekday": subscription.session.get_weekday_display(),
        "last_date": withdrawal.last_date,
    }


def _history(row, summary: str, kind: str) -> None:
    withdrawal = _withdrawal(row)
    if withdrawal is not None:
        record_event(
            actor=SYSTEM,
            client=withdrawal.subscription.relationship.payer,
            kind=kind,
            summary=summary,
            practitioners=[withdrawal.subscription.session.practitioner_id],
        )


def withdrawal_sent(row) -> None:
    _history(
        row,
        f"Emailed the withdrawal's confirmation to {row.to_address}",
        ClientEvent.Kind.EMAIL_SENT,
    )


def withdrawal_failed(row) -> None:
    _history(
        row,
        f"The withdrawal's confirmation could not be emailed to {row.to_address}",
        ClientEvent.Kind.EMAIL_FAILED,
    )


WITHDRAWAL_EMAIL_KIND = EmailKind(
    context=withdrawal_context, on_sent=withdrawal_sent, on_failed=withdrawal_failed
)

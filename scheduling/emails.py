"""The closure email: one per attendee or payer, listing their cancelled dates
(``scheduling.closures.close_dates`` queues it through the outbox)."""

from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM
from opus.mail import EmailKind
from scheduling.models import Closure


def _closure(row):
    pk = (row.context or {}).get("closure_id")
    if not isinstance(pk, int):
        return None
    return Closure.objects.filter(pk=pk).first()


def closure_context(row) -> dict | None:
    closure = _closure(row)
    lines = (row.context or {}).get("lines")
    if closure is None or closure.state != Closure.State.ACTIVE or not isinstance(lines, list):
        return None  # undone before it went out: nothing to tell
    return {
        "first_name": row.client.first_name if row.client else "",
        "closure": closure,
        "lines": [str(line) for line in lines],
    }


def closure_sent(row) -> None:
    if row.client is not None:
        record_event(
            actor=SYSTEM,
            client=row.client,
            kind=ClientEvent.Kind.EMAIL_SENT,
            summary=f"Emailed the cancelled session dates to {row.to_address}",
        )


def closure_failed(row) -> None:
    if row.client is not None:
        record_event(
            actor=SYSTEM,
            client=row.client,
            kind=ClientEvent.Kind.EMAIL_FAILED,
            summary=f"The cancelled session dates could not be emailed to {row.to_address}",
        )


CLOSURE_EMAIL_KIND = EmailKind(
    context=closure_context, on_sent=closure_sent, on_failed=closure_failed
)

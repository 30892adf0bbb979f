"""Make-up credits. A cancellation in time ("Unenroll from this date only" early
enough, or the attendance mark "absent (told in time)") earns the client one
credit when the service's cancellation policy gives them: one session of the
same service, booked with "Book once" before the credit expires, and not
invoiced. These helpers run inside the services that own the cancellation, the
mark and the booking (which check who may act and hold the locks); none is
called on its own.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from opus.lib.errors import BusinessRuleError
from scheduling.models import Booking, MakeupCredit, SessionDate
from scheduling.policy import policy_for


def earn_makeup_credit(*, client_id: int, session_date: SessionDate) -> MakeupCredit | None:
    """The credit for missing ``session_date`` when its service's policy gives one
    (one per client and date: earning it again, after a withdrawal, revives it)."""
    service = session_date.session.service
    policy = policy_for(service)
    if not policy.makeup_credits:
        return None
    expires_on = session_date.date + timedelta(weeks=policy.makeup_weeks)
    credit, created = MakeupCredit.objects.select_for_update().get_or_create(
        client_id=client_id,
        missed=session_date,
        defaults={"service": service, "expires_on": expires_on},
    )
    if not created and credit.withdrawn_at is not None:
        credit.withdrawn_at = None
        credit.expires_on = expires_on
        credit.save(update_fields=["withdrawn_at", "expires_on"])
    return credit


def withdraw_makeup_credit(*, client_id: int, session_date: SessionDate, doing: str) -> bool:
    """The credit earned by missing ``session_date`` no longer stands (the client is
    back on the date, or was not told in time after all). Refused once the credit
    has been used: the make-up booking must be cancelled first. Returns whether
    there was a credit to withdraw."""
    credit = (
        MakeupCredit.objects.select_for_update(of=("self",))
        .select_related("used_by__session_date")
        .filter(client_id=client_id, missed=session_date, withdrawn_at__isnull=True)
        .first()
    )
    if credit is None:
        return False
    if credit.used_by is not None:
        raise BusinessRuleError(
            f"The make-up credit from this date was used on "
            f"{credit.used_by.session_date.date:%a %-d %b %Y}: cancel that booking "
            f"before you {doing}."
        )
    credit.withdrawn_at = timezone.now()
    credit.save(update_fields=["withdrawn_at"])
    return True


def use_makeup_credit(*, booking: Booking) -> MakeupCredit:
    """Spend the client's credit that expires first, of the booking's service and
    valid on its date, on ``booking``."""
    session_date = booking.session_date
    credit = (
        MakeupCredit.objects.select_for_update(of=("self",))
        .usable(on=session_date.date)
        .filter(client_id=booking.client_id, service_id=session_date.session.service_id)
        .select_related("missed")
        .order_by("expires_on", "pk")
        .first()
    )
    if credit is None:
        raise BusinessRuleError(
            f"{booking.client.first_name} has no make-up credit for "
            f"{session_date.session.service.name} valid on {session_date.date:%a %-d %b %Y}.",
            field="use_makeup",
        )
    credit.used_by = booking
    credit.used_at = timezone.now()
    credit.save(update_fields=["used_by", "used_at"])
    return credit


def move_makeup_credit(*, old: Booking, new: Booking) -> None:
    """A make-up booking rebooked under another relationship keeps its credit."""
    MakeupCredit.objects.filter(used_by=old).update(used_by=new)


def release_makeup_credit(*, booking: Booking) -> MakeupCredit | None:
    """A cancelled make-up booking gives its credit back (usable again until it expires)."""
    credit = MakeupCredit.objects.select_for_update().filter(used_by=booking).first()
    if credit is None:
        return None
    credit.used_by = None
    credit.used_at = None
    credit.save(update_fields=["used_by", "used_at"])
    return credit


def credit_text(credit: MakeupCredit) -> str:
    return f"a make-up credit, to use by {credit.expires_on:%a %-d %b %Y}"


def usable_credits(client_id: int, *, service_id: int, on: date) -> list[MakeupCredit]:
    """The client's credits for the service valid on ``on``, the first to expire first."""
    return list(
        MakeupCredit.objects.usable(on=on)
        .filter(client_id=client_id, service_id=service_id)
        .select_related("missed")
        .order_by("expires_on", "pk")
    )

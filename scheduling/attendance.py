"""Attendance: who came to a session date. Staff and the practitioner who leads
the session mark each client on the date's roster present, absent (told in time),
late-cancelled or no-show, from the date's start on; a change is kept as a line
of the client's history. Each mark applies the service's cancellation policy
(``scheduling.policy``): ``Attendance.chargeable`` says whether the billing run
bills the date."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from scheduling.makeup import credit_text, earn_makeup_credit, withdraw_makeup_credit
from scheduling.models import Attendance, Booking, SessionDate, Subscription
from scheduling.permissions import can_mark_attendance
from scheduling.policy import policy_for
from scheduling.selectors import roster_for

MARK_WORDS = {
    Attendance.Mark.PRESENT: "present",
    Attendance.Mark.ABSENT: "absent (told in time)",
    Attendance.Mark.LATE_CANCELLED: "late-cancelled",
    Attendance.Mark.NO_SHOW: "no-show",
}


def _locked_date(session_date: SessionDate, actor) -> SessionDate:
    """Lock the date (every mark on it takes this lock first), check who and when."""
    session_date = (
        SessionDate.objects.select_for_update(of=("self",))
        .select_related("session__service")
        .get(pk=session_date.pk)
    )
    if not can_mark_attendance(actor, session_date):
        raise PermissionDenied("Only staff and the session's practitioner may mark attendance.")
    if session_date.cancelled:
        raise BusinessRuleError(
            f"This date is cancelled ({session_date.cancel_reason}): nobody attends it, "
            "so there is no attendance to mark."
        )
    if session_date.starts_at > timezone.now():
        starts = timezone.localtime(session_date.starts_at)
        raise BusinessRuleError(
            f"This date has not started yet: attendance can be marked from its start, "
            f"{starts:%a %-d %b at %H:%M}."
        )
    return session_date


def _place_on(session_date: SessionDate, client: Client) -> dict:
    """How the client is on the date's roster: a subscription covering it (absent
    by request included) or a booked one-off booking; refused otherwise."""
    subscription = (
        Subscription.objects.filter(session_id=session_date.session_id, client_id=client.pk)
        .covering(session_date.date)
        .first()
    )
    if subscription is not None:
        return {"subscription": subscription, "booking": None}
    booking = Booking.objects.filter(
        session_date_id=session_date.pk, client_id=client.pk, status=Booking.Status.BOOKED
    ).first()
    if booking is not None:
        return {"subscription": None, "booking": booking}
    raise BusinessRuleError(f"{client.full_name} is not on this date's roster.")


def _summary(session_date: SessionDate, mark: str, before: str | None, chargeable: bool) -> str:
    text = (
        f"Marked {MARK_WORDS[mark]} on {session_date.session.service.name}, "
        f"{session_date.date:%a %-d %b %Y}"
    )
    if before is not None:
        text += f" (was {MARK_WORDS[before]})"
    if mark in (Attendance.Mark.LATE_CANCELLED, Attendance.Mark.NO_SHOW):
        text += ": charged by the policy" if chargeable else ": not charged by the policy"
    return text


@transaction.atomic
def mark_attendance(*, session_date: SessionDate, client: Client, mark: str, actor) -> Attendance:
    """Set (or change) one client's mark on a date. The same mark again changes
    nothing and writes no history (a double submit does one thing)."""
    if mark not in Attendance.Mark.values:
        raise BusinessRuleError(
            "Choose present, absent (told in time), late-cancelled or no-show.", field="mark"
        )
    session_date = _locked_date(session_date, actor)
    place = _place_on(session_date, client)
    existing = Attendance.objects.filter(session_date=session_date, client_id=client.pk).first()
    if existing is not None and existing.mark == mark:
        return existing
    chargeable = policy_for(session_date.session.service).chargeable(mark)
    before = existing.mark if existing is not None else None
    credit_note = ""
    if mark == Attendance.Mark.ABSENT:
        credit = earn_makeup_credit(client_id=client.pk, session_date=session_date)
        credit_note = f"; {credit_text(credit)}" if credit is not None else ""
    elif before == Attendance.Mark.ABSENT and withdraw_makeup_credit(
        client_id=client.pk, session_date=session_date, doing="change this mark"
    ):
        credit_note = "; its make-up credit withdrawn"
    attendance = existing or Attendance(session_date=session_date, client_id=client.pk)
    attendance.subscription = place["subscription"]
    attendance.booking = place["booking"]
    attendance.mark = mark
    attendance.chargeable = chargeable
    attendance.marked_at = timezone.now()
    attendance.marked_by = person(actor)
    attendance.save()
    record_event(
        client=client,
        kind=ClientEvent.Kind.ATTENDANCE,
        summary=_summary(session_date, mark, before, chargeable) + credit_note,
        actor=actor,
        practitioners=[session_date.session.practitioner_id],
    )
    return attendance


@transaction.atomic
def mark_all_present(*, session_date: SessionDate, actor) -> int:
    """'All present': every client attending the date (not those absent by request)
    who has no mark yet is marked present; marks already set stay. Returns how
    many were marked."""
    session_date = _locked_date(session_date, actor)
    roster = roster_for(session_date)
    now = timezone.now()
    new = [
        Attendance(
            session_date=session_date,
            client=entry.client,
            subscription=entry.subscription,
            booking=entry.booking,
            mark=Attendance.Mark.PRESENT,
            chargeable=True,
            marked_at=now,
            marked_by=person(actor),
        )
        for entry in roster.attending
        if entry.attendance is None
    ]
    Attendance.objects.bulk_create(new)
    for attendance in new:
        record_event(
            client=attendance.client,
            kind=ClientEvent.Kind.ATTENDANCE,
            summary=_summary(session_date, Attendance.Mark.PRESENT, None, True),
            actor=actor,
            practitioners=[session_date.session.practitioner_id],
        )
    return len(new)

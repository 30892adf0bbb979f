from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from opus.lib.errors import BusinessRuleError
from scheduling.models import Session, SessionDate


def generate_session_dates(*, session: Session, until: date) -> int:
    """Create the session's dates up to ``until`` (inclusive) that do not exist
    yet; returns how many were created. Times are in the practice's time zone."""
    tz = timezone.get_current_timezone()
    last = min(until, session.last_date) if session.last_date else until
    day = session.first_date + timedelta(days=(session.weekday - session.first_date.weekday()) % 7)
    new_dates = []
    while day <= last:
        starts_at = datetime.combine(day, session.start_time, tzinfo=tz)
        new_dates.append(
            SessionDate(
                session=session,
                date=day,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=session.duration_minutes),
            )
        )
        day += timedelta(days=7)
    with transaction.atomic():
        created = SessionDate.objects.bulk_create(new_dates, ignore_conflicts=True)
    return len(created)


@transaction.atomic
def enrol(
    *, relationship, session: Session, first_date: date, actor=None, end_date: date | None = None
):
    """Subscribe the relationship's attendee to a session at the service's current price."""
    from clients.models import ClientEvent
    from clients.services import record_event
    from scheduling.models import Subscription

    subscription = Subscription.objects.create(
        client=relationship.attendee,
        session=session,
        relationship=relationship,
        first_date=first_date,
        end_date=end_date,
        price=session.service.price,
        currency=session.service.currency,
        created_by=actor,
    )
    record_event(
        client=relationship.attendee,
        kind=ClientEvent.Kind.ENROLLED,
        summary=f"Enrolled in {session} from {first_date:%d %b %Y}",
        actor=actor,
        practitioners=[session.practitioner_id],
    )
    return subscription


def _check_date_can_change(session_date: SessionDate, *, verb: str) -> None:
    if session_date.cancelled:
        raise BusinessRuleError(
            f"This date is cancelled ({session_date.cancel_reason}): there is nothing to {verb}."
        )
    if session_date.is_past:
        raise BusinessRuleError(
            f"This date has already started or passed: its roster can no longer be changed, "
            f"so there is nothing to {verb}."
        )


def _locked(session_date: SessionDate, subscription) -> tuple:
    """Lock the session date, then the subscription (always in this order)."""
    from scheduling.models import Subscription

    session_date = (
        SessionDate.objects.select_for_update(of=("self",))
        .select_related("session__service")
        .get(pk=session_date.pk)
    )
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("client")
        .get(pk=subscription.pk)
    )
    return session_date, subscription


@transaction.atomic
def unenroll_from_date(*, subscription, session_date: SessionDate, actor):
    """'Unenroll from this date only': the subscription stays; this one date is
    skipped (a DateAbsence). Doing it twice changes nothing more."""
    from clients.models import ClientEvent
    from clients.services import record_event
    from scheduling.models import DateAbsence
    from scheduling.permissions import can_unenroll

    session_date, subscription = _locked(session_date, subscription)
    if not can_unenroll(actor, session_date):
        raise PermissionDenied("Only staff and the session's practitioner may unenroll a client.")
    if subscription.session_id != session_date.session_id:
        raise BusinessRuleError(
            f"{subscription.client.full_name}'s subscription is for another session."
        )
    if not subscription.is_active_on(session_date.date):
        raise BusinessRuleError(
            f"{subscription.client.full_name} is not enrolled in this session on "
            f"{session_date.date:%A %-d %B %Y}: a one-off booking is cancelled, not unenrolled."
        )
    _check_date_can_change(session_date, verb="unenroll from")
    absence, created = DateAbsence.objects.get_or_create(
        subscription=subscription, session_date=session_date, defaults={"created_by": actor}
    )
    if created:
        record_event(
            client=subscription.client,
            kind=ClientEvent.Kind.UNENROLLED_DATE,
            summary=(
                f"Unenrolled from {session_date.session.service.name} on "
                f"{session_date.date:%a %-d %b %Y} only (absent by request)"
            ),
            actor=actor,
            practitioners=[session_date.session.practitioner_id],
        )
    return absence


@transaction.atomic
def undo_unenroll_from_date(*, subscription, session_date: SessionDate, actor) -> bool:
    """Put the client back on the date. Returns False when there was nothing to
    undo (a second click). Refused when the seat has been taken meanwhile."""
    from clients.models import ClientEvent
    from clients.services import record_event
    from scheduling.models import DateAbsence
    from scheduling.permissions import can_unenroll
    from scheduling.selectors import with_enrolment

    session_date, subscription = _locked(session_date, subscription)
    if not can_unenroll(actor, session_date):
        raise PermissionDenied("Only staff and the session's practitioner may change a roster.")
    absence = DateAbsence.objects.filter(
        subscription=subscription, session_date=session_date
    ).first()
    if absence is None:
        return False
    _check_date_can_change(session_date, verb="undo")
    enrolled = with_enrolment(SessionDate.objects.filter(pk=session_date.pk)).get().enrolled
    if enrolled >= session_date.session.capacity:
        raise BusinessRuleError(
            f"The session is full on this date ({enrolled} of {session_date.session.capacity}): "
            f"{subscription.client.full_name}'s place has been taken."
        )
    absence.delete()
    record_event(
        client=subscription.client,
        kind=ClientEvent.Kind.REENROLLED_DATE,
        summary=(
            f"Back on {session_date.session.service.name} on "
            f"{session_date.date:%a %-d %b %Y} (unenrolment undone)"
        ),
        actor=actor,
        practitioners=[session_date.session.practitioner_id],
    )
    return True

from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from scheduling.closures import mark_closed
from scheduling.makeup import credit_text, earn_makeup_credit, withdraw_makeup_credit
from scheduling.models import DateAbsence, Session, SessionDate, Subscription
from scheduling.permissions import can_enroll, can_unenroll
from scheduling.policy import policy_for
from scheduling.selectors import dates_text, places_for, with_enrollment


def session_dates_to(session: Session, until: date, *, after: date | None = None) -> list:
    """The session's dates (unsaved) up to ``until`` (inclusive), after ``after``
    when given: the one computation of a session's dates and times, in the
    practice's time zone."""
    tz = timezone.get_current_timezone()
    last = min(until, session.last_date) if session.last_date else until
    start = session.first_date if after is None else max(session.first_date, after + timedelta(1))
    day = start + timedelta(days=(session.weekday - start.weekday()) % 7)
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
    return new_dates


def generate_session_dates(*, session: Session, until: date) -> int:
    """Create the session's dates up to ``until`` (inclusive) that do not exist
    yet; returns how many were created. Times are in the practice's time zone."""
    return _insert_dates(session_dates_to(session, until))


def horizon(today: date | None = None) -> date:
    """How far ahead session dates exist: today plus OPUS_SCHEDULE_HORIZON_WEEKS."""
    today = today or timezone.localdate()
    return today + timedelta(weeks=settings.OPUS_SCHEDULE_HORIZON_WEEKS)


def extend_schedule(*, until: date, chunk: int = 500) -> int:
    """Keep every session that is not finished generated up to ``until``: the dates
    after its last generated one (``session_dates_to``). One query finds the
    sessions short of ``until`` with their last generated date (an index lookup
    each), then one bulk insert per ``chunk`` sessions. Idempotent, also when two
    run at once: the unique (session, date) constraint and ``ignore_conflicts``
    keep each date once. Returns how many dates it inserted (those another run
    inserted first are counted too)."""
    last_generated = Subquery(
        SessionDate.objects.filter(session_id=OuterRef("pk")).order_by("-date").values("date")[:1]
    )
    week = timedelta(days=7)
    sessions = (
        Session.objects.annotate(generated=last_generated)
        .filter(first_date__lte=until)
        .filter(Q(generated__isnull=True) | Q(generated__lte=until - week))
        .filter(
            Q(last_date__isnull=True)
            | Q(generated__isnull=True)
            | Q(last_date__gte=F("generated") + week)
        )
        .only(
            "pk",
            "weekday",
            "start_time",
            "duration_minutes",
            "first_date",
            "last_date",
            "room_id",
            "practitioner_id",
        )
        .order_by("pk")
    )
    created = 0
    batch: list[SessionDate] = []
    for count, session in enumerate(sessions.iterator(chunk_size=chunk), start=1):
        batch += session_dates_to(session, until, after=session.generated)
        if count % chunk == 0:
            created += _insert_dates(batch)
            batch = []
    return created + _insert_dates(batch)


def _insert_dates(new_dates: list[SessionDate]) -> int:
    """Insert the dates that do not exist yet; those inside an active closure
    come out cancelled."""
    if not new_dates:
        return 0
    mark_closed(new_dates=new_dates)
    with transaction.atomic():
        return len(SessionDate.objects.bulk_create(new_dates, ignore_conflicts=True))


class FullDates(BusinessRuleError):
    """Some later dates a new subscription would cover have no place free: the
    user may choose a later first date, or accept with those dates skipped."""

    def __init__(self, message: str, *, dates: list[date], field: str | None = "first_date"):
        super().__init__(message, field=field)
        self.dates = dates


def lock_places(session_id: int) -> Session:
    """Take the session's places for this transaction: everything that puts a
    client on a date (an enrollment, a one-off booking, a transfer in, undoing an
    absence) takes this lock first, so two cannot both take the last place.
    FOR NO KEY UPDATE: inserting a row that points at the session still works."""
    return (
        Session.objects.select_for_update(no_key=True, of=("self",))
        .select_related("service")
        .get(pk=session_id)
    )


def check_places(
    *, session: Session, first_date: date, end_date: date | None = None, skip=()
) -> list[date]:
    """A new subscription needs a place on every date it covers. Refuses a full
    first date, and a session full for good (its dates not generated yet would be
    over); lists the later full dates (``FullDates``) unless each is among
    ``skip``, the dates the user accepted to skip. Returns the full dates, to
    skip. Call it under ``lock_places`` to rely on it."""
    places = places_for(session, first_date=first_date, end_date=end_date)
    if first_date in places.full:
        raise BusinessRuleError(
            f"{first_date:%a %-d %b %Y} is full: choose another first date or session.",
            field="first_date",
        )
    if places.full_for_good:
        raise BusinessRuleError(
            f"{session.service.name} on {session.get_weekday_display()}s has no place free for "
            "good: every place is taken by subscriptions with no end. Choose another session.",
            field="first_date",
        )
    skip = set(skip)
    if any(day not in skip for day in places.full):
        raise FullDates(
            f"Full on {dates_text(places.full)}: choose a later first date, or accept with "
            f"{'that date' if len(places.full) == 1 else 'those dates'} skipped.",
            dates=places.full,
        )
    return places.full


def skip_dates(*, subscription, days, actor) -> list:
    """'Accept with those dates skipped': the single-date unenrollment
    (a DateAbsence) on each of ``days``, made with the new subscription."""
    if not can_enroll(actor, subscription.session):
        raise PermissionDenied("Only staff or the session's practitioner can enroll in it.")

    session_dates = list(
        SessionDate.objects.filter(
            session_id=subscription.session_id, date__in=list(days), cancelled=False
        ).order_by("date")
    )
    if not session_dates:
        return []
    absences = DateAbsence.objects.bulk_create(
        [
            DateAbsence(subscription=subscription, session_date=d, created_by=person(actor))
            for d in session_dates
        ]
    )
    record_event(
        client=subscription.client,
        kind=ClientEvent.Kind.UNENROLLED_DATE,
        summary=(
            f"Not enrolled in {subscription.session.service.name} on "
            f"{dates_text(d.date for d in session_dates)}: full on "
            f"{'that date' if len(session_dates) == 1 else 'those dates'} (skipped)"
        ),
        actor=actor,
    )
    return absences


@transaction.atomic
def enroll(
    *,
    relationship,
    session: Session,
    first_date: date,
    actor,
    end_date: date | None = None,
    skip=(),
):
    """Subscribe the relationship's attendee to a session at the service's current
    price, with a place on every date it covers (``check_places``): the full
    dates the user accepted to skip (``skip``) are skipped."""

    if not can_enroll(actor, session):
        raise PermissionDenied("Only staff or the session's practitioner can enroll in it.")
    session = lock_places(session.pk)
    skipped = check_places(session=session, first_date=first_date, end_date=end_date, skip=skip)
    subscription = Subscription.objects.create(
        client=relationship.attendee,
        session=session,
        relationship=relationship,
        first_date=first_date,
        end_date=end_date,
        price=session.service.price,
        currency=session.service.currency,
        created_by=person(actor),
    )
    record_event(
        client=relationship.attendee,
        kind=ClientEvent.Kind.ENROLLED,
        summary=f"Enrolled in {session} from {first_date:%d %b %Y}",
        actor=actor,
        practitioners=[session.practitioner_id],
    )
    skip_dates(subscription=subscription, days=skipped, actor=actor)
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
    policy = policy_for(session_date.session.service)
    in_time = policy.in_time(starts_at=session_date.starts_at, at=timezone.now())
    absence, created = DateAbsence.objects.get_or_create(
        subscription=subscription,
        session_date=session_date,
        defaults={"created_by": actor, "in_time": in_time},
    )
    if created:
        notice = (
            "told in time"
            if in_time
            else f"late: less than {policy.notice_hours} hours before its start"
        )
        credit = (
            earn_makeup_credit(client_id=subscription.client_id, session_date=session_date)
            if in_time
            else None
        )
        if credit is not None:
            notice += f"; {credit_text(credit)}"
        record_event(
            client=subscription.client,
            kind=ClientEvent.Kind.UNENROLLED_DATE,
            summary=(
                f"Unenrolled from {session_date.session.service.name} on "
                f"{session_date.date:%a %-d %b %Y} only (absent by request, {notice})"
            ),
            actor=actor,
            practitioners=[session_date.session.practitioner_id],
        )
    return absence


@transaction.atomic
def undo_unenroll_from_date(*, subscription, session_date: SessionDate, actor) -> bool:
    """Put the client back on the date. Returns False when there was nothing to
    undo (a second click). Refused when the seat has been taken meanwhile."""

    lock_places(session_date.session_id)  # putting the client back takes a place
    session_date, subscription = _locked(session_date, subscription)
    if not can_unenroll(actor, session_date):
        raise PermissionDenied("Only staff and the session's practitioner may change a roster.")
    absence = DateAbsence.objects.filter(
        subscription=subscription, session_date=session_date
    ).first()
    if absence is None:
        return False
    _check_date_can_change(session_date, verb="undo")
    withdrawn = withdraw_makeup_credit(
        client_id=subscription.client_id, session_date=session_date, doing="undo the unenrollment"
    )
    enrolled = with_enrollment(SessionDate.objects.filter(pk=session_date.pk)).get().enrolled
    if enrolled >= session_date.session.capacity:
        raise BusinessRuleError(
            f"The session is full on this date: {subscription.client.full_name}'s place "
            "has been taken."
        )
    absence.delete()
    record_event(
        client=subscription.client,
        kind=ClientEvent.Kind.REENROLLED_DATE,
        summary=(
            f"Back on {session_date.session.service.name} on "
            f"{session_date.date:%a %-d %b %Y} (unenrollment undone"
            f"{'; its make-up credit withdrawn' if withdrawn else ''})"
        ),
        actor=actor,
        practitioners=[session_date.session.practitioner_id],
    )
    return True

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from clients.models import Client
from opus.models import User
from relationships.models import Relationship
from scheduling.models import (
    Attendance,
    Booking,
    DateAbsence,
    MakeupCredit,
    Session,
    SessionDate,
    Subscription,
)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def with_enrollment(queryset):
    """Annotate session dates with ``enrolled``: subscriptions covering the date,
    minus single-date absences, plus one-off bookings. One query, no N+1."""
    subscribed = (
        Subscription.objects.filter(
            session_id=OuterRef("session_id"), first_date__lte=OuterRef("date")
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=OuterRef("date")))
        .exclude(
            Exists(
                DateAbsence.objects.filter(
                    subscription_id=OuterRef("pk"), session_date_id=OuterRef(OuterRef("pk"))
                )
            )
        )
        .order_by()
        .values("session_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    booked = (
        Booking.objects.filter(session_date_id=OuterRef("pk"), status=Booking.Status.BOOKED)
        .order_by()
        .values("session_date_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(
        enrolled=Coalesce(Subquery(subscribed), 0) + Coalesce(Subquery(booked), 0)
    )


def places_text(capacity: int, taken: int) -> str:
    """How full a session date is, in the one wording every page uses: "Full",
    "1 place free" (a place of one), "3 of 8 places free"."""
    free = capacity - taken
    if free < 0:
        return f"Over capacity: {taken} for {capacity} {'place' if capacity == 1 else 'places'}"
    if free == 0:
        return "Full"
    if capacity == 1:
        return "1 place free"
    return f"{free} of {capacity} places free"


def dates_text(days) -> str:
    """Mon 7 Dec, Mon 14 Dec and Mon 21 Dec 2026."""
    days = sorted(days)
    if not days:
        return ""
    words = [f"{day:%a %-d %b}" for day in days]
    words[-1] = f"{days[-1]:%a %-d %b %Y}"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def overbooked_dates(*, today: date | None = None):
    """Coming session dates, not cancelled, with more clients than places: none,
    ever (docs/quality.md Reliability 14). Each with ``enrolled``."""
    today = today or timezone.localdate()
    dates = SessionDate.objects.filter(date__gte=today, cancelled=False)
    return list(
        with_enrollment(dates)
        .filter(enrolled__gt=F("session__capacity"))
        .select_related("session__service")
        .order_by("date", "pk")
    )


@dataclass(frozen=True)
class Places:
    """Whether a new subscription finds a place on every date it would cover."""

    full: list[date]  # generated dates it covers with no place free
    full_for_good: bool  # no place on the dates not generated yet either


def places_for(session: Session, *, first_date: date, end_date: date | None = None) -> Places:
    """Every generated, not cancelled date of ``session`` from ``first_date`` up
    to ``end_date`` (exclusive; open-ended when None) that has no place free; and
    whether the dates beyond the last generated one (generated later, holding
    the subscriptions that cover them and nothing else yet) are full too."""
    dates = SessionDate.objects.filter(session=session, date__gte=first_date, cancelled=False)
    if end_date is not None:
        dates = dates.filter(date__lt=end_date)
    full = list(
        with_enrollment(dates)
        .filter(enrolled__gte=session.capacity)
        .order_by("date")
        .values_list("date", flat=True)
    )
    last = (
        SessionDate.objects.filter(session=session)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    beyond = last + timedelta(weeks=1) if last else None
    full_for_good = (
        beyond is not None
        and (session.last_date is None or beyond <= session.last_date)
        and (end_date is None or end_date > beyond)
        and Subscription.objects.filter(session=session).covering(beyond).count()
        >= session.capacity
    )
    return Places(full=full, full_for_good=full_for_good)


def count_dates_before(end, *, skip_absences: bool):
    """For annotating subscriptions: how many of their session dates, not cancelled,
    fall from their first date up to (not including) ``end``, a date or an
    expression such as ``OuterRef("next_date")``. With ``skip_absences`` the dates
    the client was unenrolled from alone are left out (they were not attended)."""
    dates = SessionDate.objects.filter(
        session_id=OuterRef("session_id"),
        date__gte=OuterRef("first_date"),
        date__lt=end,
        cancelled=False,
    )
    if skip_absences:
        dates = dates.exclude(
            Exists(
                DateAbsence.objects.filter(
                    subscription_id=OuterRef(OuterRef("pk")), session_date_id=OuterRef("pk")
                )
            )
        )
    return Coalesce(
        Subquery(dates.order_by().values("session_id").annotate(n=Count("pk")).values("n")), 0
    )


def schedule_dates(user, *, start: date, end: date, practitioner=None, service=None, room=None):
    """Session dates visible to ``user`` from ``start`` up to (not including) ``end``."""
    dates = SessionDate.objects.visible_to(user).filter(date__gte=start, date__lt=end)
    if practitioner:
        dates = dates.filter(session__practitioner_id=practitioner)
    if service:
        dates = dates.filter(session__service_id=service)
    if room:
        dates = dates.filter(session__room_id=room)
    dates = dates.select_related("session__service", "session__practitioner", "session__room")
    return with_enrollment(dates).order_by("starts_at", "pk")


SLOT_FIELDS = (
    "pk",
    "date",
    "starts_at",
    "ends_at",
    "cancelled",
    "cancel_reason",
    "enrolled",
    "session__capacity",
    "session__service_id",
    "session__service__name",
    "session__practitioner_id",
    "session__room_id",
    "session__practitioner__first_name",
    "session__practitioner__last_name",
    "session__practitioner__username",
    "session__room__name",
)


def schedule_slots(user, *, start: date, end: date, **filters) -> list[dict]:
    """The schedule's session dates as plain rows, ready to lay out: what each
    slot shows, formatted once here. A week of a large practice holds hundreds
    of them, so neither model instances nor per-slot template filters: one query,
    then a dict per slot."""
    tz = timezone.get_current_timezone()
    url = reverse("scheduling:session-date", args=[0])[:-2]  # ".../dates/"
    slots = []
    for row in schedule_dates(user, start=start, end=end, **filters).values(*SLOT_FIELDS):
        capacity, enrolled = row["session__capacity"], row["enrolled"]
        full = not row["cancelled"] and enrolled >= capacity
        first = row["session__practitioner__first_name"]
        last = row["session__practitioner__last_name"]
        room = row["session__room__name"]
        practitioner = f"{first} {last}".strip() or row["session__practitioner__username"]
        starts, ends = row["starts_at"].astimezone(tz), row["ends_at"].astimezone(tz)
        slots.append(
            {
                "pk": row["pk"],
                "date": row["date"],
                "url": f"{url}{row['pk']}/",
                "time": f"{starts:%H:%M}",
                "until": f"{ends:%H:%M}",
                # minutes from midnight, for the calendar's time grid
                "start_minute": starts.hour * 60 + starts.minute,
                "end_minute": (
                    ends.hour * 60 + ends.minute if ends.date() == starts.date() else 24 * 60
                ),
                "service_id": row["session__service_id"],
                "service": row["session__service__name"],
                "practitioner_id": row["session__practitioner_id"],
                "practitioner": practitioner,
                "room_id": row["session__room_id"],
                "room": room or "",
                "meta": f"{practitioner} · {room}" if room else practitioner,
                "cancelled": row["cancelled"],
                "cancel_reason": row["cancel_reason"],
                "full": full,
                "state": " cancelled" if row["cancelled"] else " full" if full else "",
                "enrolled": str(enrolled),
                "capacity": str(capacity),
                "private": capacity == 1,  # reads "Full" or "Free", never "0/1"
                "places": places_text(capacity, enrolled),
            }
        )
    return slots


def practitioners_for(user):
    """Who the schedule can be filtered by: everyone who leads a session (staff),
    or only the practitioner themself."""

    if not user.is_practice_staff:
        return User.objects.filter(pk=user.pk)
    return User.objects.filter(Exists(Session.objects.filter(practitioner_id=OuterRef("pk"))))


# --- the roster of one session date ----------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    """One client on a session date, through a subscription or a one-off booking."""

    client: Client
    relationship: Relationship
    subscription: Subscription | None = None
    booking: Booking | None = None
    absent: bool = False
    absence_in_time: bool | None = None  # absent by request: told in time, or late
    attendance: Attendance | None = None

    @property
    def is_booking(self) -> bool:
        return self.booking is not None

    @property
    def key(self) -> str:
        if self.subscription is not None:
            return f"sub-{self.subscription.pk}"
        assert self.booking is not None
        return f"book-{self.booking.pk}"


@dataclass
class Roster:
    attending: list[RosterEntry] = field(default_factory=list)
    absent: list[RosterEntry] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.attending)


def _by_name(entry: RosterEntry):
    return (entry.client.last_name.lower(), entry.client.first_name.lower(), entry.client.pk)


def _mark_of_the_client(session_date: SessionDate) -> dict:
    """The client's attendance mark on the date, in the roster's own queries."""
    marks = Attendance.objects.filter(
        session_date_id=session_date.pk, client_id=OuterRef("client_id")
    )
    return {
        "attendance_mark": Subquery(marks.values("mark")[:1]),
        "attendance_chargeable": Subquery(marks.values("chargeable")[:1]),
    }


def _attendance(row) -> Attendance | None:
    if row.attendance_mark is None:
        return None
    return Attendance(
        client_id=row.client_id, mark=row.attendance_mark, chargeable=row.attendance_chargeable
    )


def roster_for(session_date: SessionDate) -> Roster:
    """The clients on a session date: subscriptions covering the date minus those
    unenrolled from this date only (listed apart, as absent by request), plus
    booked one-off bookings, each with its attendance mark. Two queries,
    whatever the size of the roster."""
    subscriptions = (
        Subscription.objects.filter(session_id=session_date.session_id)
        .covering(session_date.date)
        .select_related("client", "relationship__payer")
        .annotate(
            absence_in_time=Subquery(
                DateAbsence.objects.filter(
                    subscription_id=OuterRef("pk"), session_date_id=session_date.pk
                ).values("in_time")[:1]
            ),
            **_mark_of_the_client(session_date),
        )
        .order_by()
    )

    bookings = (
        Booking.objects.filter(session_date_id=session_date.pk, status=Booking.Status.BOOKED)
        .select_related("client", "relationship__payer")
        .annotate(**_mark_of_the_client(session_date))
        .order_by()
    )
    roster = Roster()
    for subscription in subscriptions:
        entry = RosterEntry(
            client=subscription.client,
            relationship=subscription.relationship,
            subscription=subscription,
            absent=subscription.absence_in_time is not None,
            absence_in_time=subscription.absence_in_time,
            attendance=_attendance(subscription),
        )
        (roster.absent if entry.absent else roster.attending).append(entry)
    for booking in bookings:
        roster.attending.append(
            RosterEntry(
                client=booking.client,
                relationship=booking.relationship,
                booking=booking,
                attendance=_attendance(booking),
            )
        )
    roster.attending.sort(key=_by_name)
    roster.absent.sort(key=_by_name)
    return roster


# --- a client's subscriptions and coming sessions -------------------------------------


def with_last_session(subscriptions):
    """Annotate subscriptions with what ``last_session_date`` needs, in the same
    query: the last generated, not cancelled date before each one's end date,
    and the last date generated for its session."""
    dates = SessionDate.objects.filter(session_id=OuterRef("session_id")).order_by("-date")
    held = dates.filter(
        cancelled=False, date__gte=OuterRef("first_date"), date__lt=OuterRef("end_date")
    )
    return subscriptions.annotate(
        last_generated=Subquery(dates.values("date")[:1]),
        last_held=Subquery(held.values("date")[:1]),
    )


def last_session_date(subscription) -> date | None:
    """The last date an ending subscription is held (its end date is the first
    date no longer attended): the session's weekday before the end date (or on
    the session's last date), stepping back over the dates cancelled for
    everyone; None when it ends before any. Needs ``with_last_session``."""
    if subscription.end_date is None:
        return None
    session = subscription.session
    last = subscription.end_date - timedelta(days=1)
    if session.last_date is not None:
        last = min(last, session.last_date)
    day = last - timedelta(days=(last.weekday() - session.weekday) % 7)
    if day < subscription.first_date:
        return None
    if subscription.last_generated is None or day > subscription.last_generated:
        return day  # not generated yet, so not cancelled either
    return subscription.last_held


@dataclass(frozen=True)
class ComingSession:
    session_date: SessionDate
    subscription: Subscription | None = None
    booking: Booking | None = None
    absent: bool = False

    @property
    def status(self) -> str:
        if self.session_date.cancelled:
            return "cancelled"
        if self.absent:
            return "absent"
        return "booked" if self.booking else "enrolled"


def coming_sessions(client, user, *, subscriptions, start: date, weeks: int = 8):
    """The client's session dates from ``start`` for ``weeks`` weeks: from the
    given (already fetched, already scoped) subscriptions and from booked one-off
    bookings. Cancelled dates and dates unenrolled by request are kept, marked,
    so that nobody expects the client then. At most two queries: the bookings
    alone (most clients have none: one small query, no joins to build), then the
    dates of both kinds together."""
    end = start + timedelta(weeks=weeks)
    by_session: dict[int, list[Subscription]] = {}
    for subscription in subscriptions:
        if subscription.first_date < end and (
            subscription.end_date is None or subscription.end_date > start
        ):
            by_session.setdefault(subscription.session_id, []).append(subscription)
    bookings = {
        booking.session_date_id: booking
        for booking in Booking.objects.visible_to(user).filter(
            client_id=client.pk,
            status=Booking.Status.BOOKED,
            session_date__date__gte=start,
            session_date__date__lt=end,
        )
    }
    if not by_session and not bookings:
        return []
    wanted = Q()
    if by_session:
        wanted |= Q(session_id__in=list(by_session))
    if bookings:
        wanted |= Q(pk__in=list(bookings))
    dates = (
        SessionDate.objects.filter(wanted, date__gte=start, date__lt=end)
        .annotate(
            absent=Exists(
                DateAbsence.objects.filter(
                    session_date_id=OuterRef("pk"), subscription__client_id=client.pk
                )
            )
        )
        .order_by("starts_at", "pk")
    )
    if bookings:  # a booked date's session may be one the client is not subscribed to
        dates = dates.select_related("session__service", "session__practitioner")
    items: list[ComingSession] = []
    for session_date in dates:
        subscribed = by_session.get(session_date.session_id, ())
        if subscribed:
            # the session (with its service, practitioner, room) came with the subscription
            session_date.session = subscribed[0].session
        for subscription in subscribed:
            if subscription.is_active_on(session_date.date):
                items.append(
                    ComingSession(
                        session_date=session_date,
                        subscription=subscription,
                        absent=session_date.absent,
                    )
                )
                break
        booking = bookings.get(session_date.pk)
        if booking is not None:
            booking.session_date = session_date
            items.append(ComingSession(session_date=session_date, booking=booking))
    return items


# --- attendance --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceSummary:
    marked: int
    present: int
    recent: list  # the last marks, newest session date first

    @property
    def rate(self) -> int | None:
        """Present out of marked, in whole percent; None when nothing is marked."""
        if not self.marked:
            return None
        return round(100 * self.present / self.marked)

    @property
    def rate_text(self) -> str:
        if not self.marked:
            return "No attendance marked yet"
        return f"{self.rate}% present ({self.present} of {self.marked} marked)"


def attendance_summary(client_id: int, user, *, recent: int = 10) -> AttendanceSummary:
    """A client's attendance as ``user`` may see it (a practitioner: the sessions
    they lead): the rate and the last ``recent`` marks. Two queries (one when
    ``recent`` is 0)."""
    marks = Attendance.objects.visible_to(user).filter(client_id=client_id)
    counts = marks.aggregate(
        marked=Count("pk"), present=Count("pk", filter=Q(mark=Attendance.Mark.PRESENT))
    )
    rows = []
    if recent:
        rows = list(
            marks.select_related("session_date__session__service").order_by(
                "-session_date__starts_at", "-pk"
            )[:recent]
        )
    return AttendanceSummary(marked=counts["marked"], present=counts["present"], recent=rows)


MAKEUP_CREDITS_SHOWN = 10


def makeup_credits_of(client_id: int, user, *, today: date) -> list:
    """A client's make-up credits as ``user`` may see them: those still usable
    (each with its expiry) and those used, the latest missed date first. One query."""
    return list(
        MakeupCredit.objects.visible_to(user)
        .filter(client_id=client_id, withdrawn_at__isnull=True)
        .filter(Q(expires_on__gte=today) | Q(used_by__isnull=False))
        .select_related("service", "missed", "used_by__session_date")
        .order_by("-missed__date", "-pk")[:MAKEUP_CREDITS_SHOWN]
    )

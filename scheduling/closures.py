"""Cancelling session dates: one date, or a closure across the practice, one room
or one practitioner for a range of dates; and undoing either while the dates are
still to come. A cancelled date touches no subscription and no booking: nobody
attends it, it is not billed, and everyone's enrolment stays as it was (one-off
bookings on it stay booked, as they always have when a date is cancelled: the
date is simply not held).

Staff only. Every write is atomic, locks what it checks, and writes a line of
history (ClientEvent) for every client on the roster of a date it changes: the
attendees and their payers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from opus.services import queue_email
from scheduling.models import Booking, Closure, DateAbsence, Session, SessionDate, Subscription
from scheduling.permissions import can_close
from scheduling.selectors import dates_text, with_enrollment

CLOSURE_EMAIL = "closure"
MAX_DAYS = 366  # a closure lasts at most a year
REASON_MAX = 200


# --- which dates a closure covers ---------------------------------------------------------


def scope_filter(*, scope: str, room=None, practitioner=None) -> Q:
    """The session dates a closure of this scope covers (on SessionDate)."""
    if scope == Closure.Scope.ROOM:
        return Q(session__room=room)
    if scope == Closure.Scope.PRACTITIONER:
        return Q(session__practitioner=practitioner)
    return Q()


def covering_closures(*, session, first: date, last: date, exclude=None) -> list[Closure]:
    """The active closures that cover some date of ``session`` between ``first``
    and ``last``: one query."""
    closures = Closure.objects.filter(
        Q(scope=Closure.Scope.PRACTICE)
        | Q(scope=Closure.Scope.ROOM, room_id=session.room_id)
        | Q(scope=Closure.Scope.PRACTITIONER, practitioner_id=session.practitioner_id),
        state=Closure.State.ACTIVE,
        first_date__lte=last,
        last_date__gte=first,
    )
    if session.room_id is None:
        closures = closures.exclude(scope=Closure.Scope.ROOM)
    if exclude is not None:
        closures = closures.exclude(pk=exclude)
    return list(closures.order_by("first_date", "pk"))


def mark_closed(*, new_dates: list[SessionDate]) -> None:
    """Before new dates are inserted (``generate_session_dates``, the rolling
    horizon): those inside an active closure come out cancelled, with the
    closure's reason and linked to it (undoing the closure re-opens them). Each
    date's ``session`` must be loaded with its room and practitioner ids. One
    query, whatever the number of sessions."""
    if not new_dates:
        return
    days = [d.date for d in new_dates]
    closures = list(
        Closure.objects.filter(
            state=Closure.State.ACTIVE, first_date__lte=max(days), last_date__gte=min(days)
        ).order_by("first_date", "pk")
    )
    if not closures:
        return
    for session_date in new_dates:
        for closure in closures:
            if closure.covers(session_date.session, session_date.date):
                session_date.cancelled = True
                session_date.cancel_reason = closure.reason
                session_date.closure = closure
                break


# --- who a cancelled date affects ---------------------------------------------------------


@dataclass(frozen=True)
class Attendee:
    """A client on the roster of an affected date, and who pays for them."""

    client: Client
    payer: Client
    booked: bool = False  # a one-off booking, not a subscription


@dataclass
class AffectedDate:
    session_date: SessionDate
    attendees: list[Attendee] = field(default_factory=list)


@dataclass
class AffectedDay:
    day: date
    dates: list[AffectedDate] = field(default_factory=list)


@dataclass
class Notice:
    """What one person (an attendee, a payer, or both) is told: the dates, and
    for whom when it is someone they pay for. One per person, whatever the count
    of attendees they pay for."""

    client: Client
    lines: list[tuple[SessionDate, Client | None]] = field(default_factory=list)
    practitioners: set = field(default_factory=set)

    def texts(self) -> list[str]:
        return [date_line(session_date, attendee) for session_date, attendee in self.lines]


@dataclass
class Affected:
    days: list[AffectedDay] = field(default_factory=list)

    @property
    def dates(self) -> list[AffectedDate]:
        return [item for day in self.days for item in day.dates]

    @property
    def clients(self) -> list[Client]:
        """Every attendee and payer, once each, by name."""
        people = {}
        for item in self.dates:
            for attendee in item.attendees:
                people[attendee.client.pk] = attendee.client
                people[attendee.payer.pk] = attendee.payer
        return sorted(people.values(), key=lambda c: (c.last_name.lower(), c.first_name.lower()))

    def notices(self) -> list[Notice]:
        by_person: dict[int, Notice] = {}
        for item in self.dates:
            sd = item.session_date
            for attendee in item.attendees:
                for client, about in (
                    (attendee.client, None),
                    (attendee.payer, attendee.client),
                ):
                    if about is not None and client.pk == about.pk:
                        continue  # they pay for themselves: one line is enough
                    notice = by_person.setdefault(client.pk, Notice(client=client))
                    notice.lines.append((sd, about))
                    notice.practitioners.add(sd.session.practitioner_id)
        return sorted(
            by_person.values(),
            key=lambda n: (n.client.last_name.lower(), n.client.first_name.lower(), n.client.pk),
        )


def date_line(session_date: SessionDate, attendee: Client | None = None) -> str:
    """Piano, 30 min on Mon 21 Dec 2026 at 10:00 (for Sam Rivera)."""
    starts = timezone.localtime(session_date.starts_at)
    text = f"{session_date.session.service.name} on {starts:%a %-d %b %Y} at {starts:%H:%M}"
    return f"{text} (for {attendee.full_name})" if attendee is not None else text


def affected_by(session_dates: list[SessionDate]) -> Affected:
    """The roster of each date (subscriptions covering it, minus those absent by
    request, plus one-off bookings), with each attendee's payer, grouped by day.
    Three queries whatever the number of dates and clients (none for no dates);
    the dates come with ``session__service``."""
    affected = Affected()
    if not session_dates:
        return affected
    ids = [d.pk for d in session_dates]
    days = [d.date for d in session_dates]
    subscriptions = defaultdict(list)
    for subscription in (
        Subscription.objects.filter(
            session_id__in={d.session_id for d in session_dates}, first_date__lte=max(days)
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=min(days)))
        .select_related("client", "relationship__payer")
        .order_by()
    ):
        subscriptions[subscription.session_id].append(subscription)
    absent = set()
    if subscriptions:
        absent = set(
            DateAbsence.objects.filter(session_date_id__in=ids).values_list(
                "subscription_id", "session_date_id"
            )
        )
    bookings = defaultdict(list)
    for booking in (
        Booking.objects.filter(session_date_id__in=ids, status=Booking.Status.BOOKED)
        .select_related("client", "relationship__payer")
        .order_by()
    ):
        bookings[booking.session_date_id].append(booking)
    by_day: dict[date, AffectedDay] = {}
    for sd in sorted(session_dates, key=lambda d: (d.starts_at, d.pk)):
        item = AffectedDate(session_date=sd)
        for subscription in subscriptions[sd.session_id]:
            if subscription.is_active_on(sd.date) and (subscription.pk, sd.pk) not in absent:
                item.attendees.append(
                    Attendee(client=subscription.client, payer=subscription.relationship.payer)
                )
        for booking in bookings[sd.pk]:
            item.attendees.append(
                Attendee(client=booking.client, payer=booking.relationship.payer, booked=True)
            )
        item.attendees.sort(key=lambda a: (a.client.last_name.lower(), a.client.first_name.lower()))
        by_day.setdefault(sd.date, AffectedDay(day=sd.date)).dates.append(item)
    affected.days = list(by_day.values())
    return affected


def _record(affected: Affected, *, kind: str, verb: str, reason: str, actor) -> None:
    """One line of history per person affected, naming their dates."""
    for notice in affected.notices():
        lines = notice.texts()
        what = lines[0] if len(lines) == 1 else f"{len(lines)} session dates: {'; '.join(lines)}"
        summary = f"{verb}: {what}" + (f" ({reason})" if reason else "")
        record_event(
            client=notice.client,
            kind=kind,
            summary=summary,
            actor=actor,
            practitioners=notice.practitioners,
        )


# --- a closure ----------------------------------------------------------------------------


def _require(actor) -> None:
    if not can_close(actor):
        raise PermissionDenied("Only staff may cancel session dates or close the practice.")


def check_closure(
    *, scope: str, first_date: date, last_date: date, reason: str, room=None, practitioner=None
) -> tuple[object, object, str]:
    """The rules of a closure, each refusal with the field it belongs to. Returns
    the room and practitioner the scope keeps (the other is dropped), and the
    reason trimmed."""
    if scope not in Closure.Scope.values:
        raise BusinessRuleError(
            "Choose what to close: the whole practice, one room or one practitioner.",
            field="scope",
        )
    if scope == Closure.Scope.ROOM and room is None:
        raise BusinessRuleError("Choose the room to close.", field="room")
    if scope == Closure.Scope.PRACTITIONER and practitioner is None:
        raise BusinessRuleError(
            "Choose the practitioner whose sessions are cancelled.", field="practitioner"
        )
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError(
            "Give a reason: it is shown on every cancelled date (and in the emails).",
            field="reason",
        )
    if len(reason) > REASON_MAX:
        raise BusinessRuleError(
            f"Keep the reason under {REASON_MAX} characters (it has {len(reason)}).",
            field="reason",
        )
    today = timezone.localdate()
    if first_date < today:
        raise BusinessRuleError(
            f"{first_date:%a %-d %b %Y} has passed: a closure starts today or later "
            "(past dates are never changed).",
            field="first_date",
        )
    if last_date < first_date:
        raise BusinessRuleError(
            f"The last date ({last_date:%a %-d %b %Y}) is before the first date "
            f"({first_date:%a %-d %b %Y}).",
            field="last_date",
        )
    if (last_date - first_date).days >= MAX_DAYS:
        raise BusinessRuleError(
            "A closure lasts at most a year: split a longer one.", field="last_date"
        )
    room = room if scope == Closure.Scope.ROOM else None
    practitioner = practitioner if scope == Closure.Scope.PRACTITIONER else None
    return room, practitioner, reason


def dates_to_close(*, scope: str, first_date: date, last_date: date, room=None, practitioner=None):
    """The session dates a new closure would cancel: in its range and scope, not
    cancelled already, and still to come (a date that has started is left as it
    was)."""
    return (
        SessionDate.objects.filter(
            scope_filter(scope=scope, room=room, practitioner=practitioner),
            date__gte=first_date,
            date__lte=last_date,
            cancelled=False,
            starts_at__gt=timezone.now(),
        )
        .select_related("session__service")
        .order_by("starts_at", "pk")
    )


def preview_closure(
    *,
    scope: str,
    first_date: date,
    last_date: date,
    reason: str,
    actor,
    room=None,
    practitioner=None,
) -> Affected:
    """What confirming the closure would do: every date it would cancel, and
    every client on them with their payer, grouped by day. Changes nothing.
    Four queries whatever the size of the practice."""
    _require(actor)
    room, practitioner, reason = check_closure(
        scope=scope,
        first_date=first_date,
        last_date=last_date,
        reason=reason,
        room=room,
        practitioner=practitioner,
    )
    dates = dates_to_close(
        scope=scope,
        first_date=first_date,
        last_date=last_date,
        room=room,
        practitioner=practitioner,
    )
    return affected_by(list(dates))


@dataclass
class Closed:
    closure: Closure
    created: bool  # False: the same form was submitted twice, nothing more was done
    affected: Affected
    emails: int = 0


@transaction.atomic
def close_dates(
    *,
    scope: str,
    first_date: date,
    last_date: date,
    reason: str,
    request_key: uuid.UUID,
    actor,
    room=None,
    practitioner=None,
    notify: bool = False,
) -> Closed:
    """Confirm a closure: cancel every date still to come in its range and
    scope (``cancel_reason`` its reason, linked to it), write each affected
    client's history and, with ``notify``, queue one email per attendee or payer
    listing their dates. ``request_key`` comes with the confirm form: submitting
    it twice makes one closure."""
    _require(actor)
    room, practitioner, reason = check_closure(
        scope=scope,
        first_date=first_date,
        last_date=last_date,
        reason=reason,
        room=room,
        practitioner=practitioner,
    )
    existing = Closure.objects.filter(request_key=request_key).first()
    if existing is not None:
        return Closed(closure=existing, created=False, affected=Affected())
    try:
        with transaction.atomic():
            closure = Closure.objects.create(
                scope=scope,
                room=room,
                practitioner=practitioner,
                first_date=first_date,
                last_date=last_date,
                reason=reason,
                request_key=request_key,
                created_by=person(actor),
            )
    except IntegrityError:  # the same form, submitted at the same moment, won
        return Closed(
            closure=Closure.objects.get(request_key=request_key),
            created=False,
            affected=Affected(),
        )
    # lock the dates; one cancelled meanwhile by another closure drops out of the
    # filter when its lock is released (READ COMMITTED re-checks the row)
    dates = list(
        dates_to_close(
            scope=scope,
            first_date=first_date,
            last_date=last_date,
            room=room,
            practitioner=practitioner,
        )
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    SessionDate.objects.filter(pk__in=[d.pk for d in dates]).update(
        cancelled=True, cancel_reason=reason, closure=closure
    )
    affected = affected_by(dates)
    _record(
        affected, kind=ClientEvent.Kind.DATE_CANCELLED, verb="Cancelled", reason=reason, actor=actor
    )
    emails = 0
    if notify:
        for notice in affected.notices():
            if not notice.client.email:
                continue
            queue_email(
                template=CLOSURE_EMAIL,
                to=notice.client.email,
                context={"closure_id": closure.pk, "lines": notice.texts()},
                client=notice.client,
            )
            emails += 1
    return Closed(closure=closure, created=True, affected=affected, emails=emails)


@dataclass
class Reopened:
    reopened: list[SessionDate] = field(default_factory=list)
    kept: list[tuple[SessionDate, str]] = field(default_factory=list)  # stays cancelled: why
    done: bool = True  # False: it was undone already, nothing more was done


def _over_capacity(session_date: SessionDate, enrolled: int) -> str | None:
    capacity = session_date.session.capacity
    if enrolled <= capacity:
        return None
    return (
        f"{enrolled} clients are enrolled for {capacity} "
        f"{'place' if capacity == 1 else 'places'} (enrolled while it was cancelled)"
    )


def _enrolled(session_dates: list[SessionDate]) -> dict[int, int]:
    if not session_dates:
        return {}
    return dict(
        with_enrollment(SessionDate.objects.filter(pk__in=[d.pk for d in session_dates]))
        .order_by()
        .values_list("pk", "enrolled")
    )


@transaction.atomic
def undo_closure(*, closure: Closure, actor) -> Reopened:
    """Re-open the closure's dates still to come (past ones stay cancelled) and
    mark it undone. A date another active closure also covers stays cancelled,
    handed over to that closure (its reason); a date that was filled beyond its
    capacity while cancelled stays cancelled, and is named. Undoing twice does
    nothing more."""
    _require(actor)
    closure = Closure.objects.select_for_update().get(pk=closure.pk)
    if closure.state == Closure.State.UNDONE:
        return Reopened(done=False)
    if closure.last_date < timezone.localdate():
        raise BusinessRuleError(
            f"“{closure.reason}” ended on {closure.last_date:%a %-d %b %Y}: its dates have "
            "passed and stay cancelled."
        )
    coming = SessionDate.objects.filter(closure=closure, starts_at__gt=timezone.now())
    session_ids = sorted(set(coming.values_list("session_id", flat=True)))
    # re-opening puts rosters back on dates: take the sessions' places, in order
    list(
        Session.objects.select_for_update(no_key=True)
        .filter(pk__in=session_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    dates = list(
        coming.select_for_update(of=("self",))
        .select_related("session__service", "session__room")
        .order_by("pk")
    )
    others = list(
        Closure.objects.filter(
            state=Closure.State.ACTIVE,
            first_date__lte=closure.last_date,
            last_date__gte=closure.first_date,
        )
        .exclude(pk=closure.pk)
        .order_by("first_date", "pk")
    )
    enrolled = _enrolled(dates)
    result = Reopened()
    handed: dict[int, list[int]] = defaultdict(list)
    for sd in dates:
        other = next((o for o in others if o.covers(sd.session, sd.date)), None)
        if other is not None:
            handed[other.pk].append(sd.pk)
            result.kept.append((sd, f"{other.reason} also closes it"))
            continue
        full = _over_capacity(sd, enrolled.get(sd.pk, 0))
        if full:
            result.kept.append((sd, full))
            continue
        result.reopened.append(sd)
    for other in others:
        if handed[other.pk]:
            SessionDate.objects.filter(pk__in=handed[other.pk]).update(
                closure=other, cancel_reason=other.reason
            )
    SessionDate.objects.filter(pk__in=[d.pk for d in result.reopened]).update(
        cancelled=False, cancel_reason="", closure=None
    )
    closure.state = Closure.State.UNDONE
    closure.undone_at = timezone.now()
    closure.undone_by = person(actor)
    closure.save(update_fields=["state", "undone_at", "undone_by"])
    _record(
        affected_by(result.reopened),
        kind=ClientEvent.Kind.DATE_REOPENED,
        verb="Held again (closure undone)",
        reason=closure.reason,
        actor=actor,
    )
    return result


# --- one date -------------------------------------------------------------------------------


def _locked_date(session_date: SessionDate) -> SessionDate:
    return (
        SessionDate.objects.select_for_update(of=("self",))
        .select_related("session__service")
        .get(pk=session_date.pk)
    )


def _check_to_come(session_date: SessionDate, *, verb: str) -> None:
    if session_date.is_past:
        raise BusinessRuleError(
            f"{session_date.date:%a %-d %b %Y} has already started or passed: "
            f"it can no longer be {verb}."
        )


@transaction.atomic
def cancel_session_date(*, session_date: SessionDate, reason: str, actor) -> bool:
    """Cancel one date still to come (a holiday): nobody attends it, every
    subscription and booking stays. Returns False when it was cancelled already
    (a second click)."""
    _require(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError("Give a reason: it is shown on the cancelled date.", field="reason")
    if len(reason) > REASON_MAX:
        raise BusinessRuleError(
            f"Keep the reason under {REASON_MAX} characters (it has {len(reason)}).",
            field="reason",
        )
    session_date = _locked_date(session_date)
    if session_date.cancelled:
        return False
    _check_to_come(session_date, verb="cancelled")
    SessionDate.objects.filter(pk=session_date.pk).update(cancelled=True, cancel_reason=reason)
    _record(
        affected_by([session_date]),
        kind=ClientEvent.Kind.DATE_CANCELLED,
        verb="Cancelled",
        reason=reason,
        actor=actor,
    )
    return True


@transaction.atomic
def reopen_session_date(*, session_date: SessionDate, actor) -> bool:
    """'Undo cancellation' on one date still to come, cancelled alone or by a
    closure (it then leaves the closure: undoing the closure later leaves it
    alone). Refused while another active closure covers it, and when it was
    filled beyond its capacity while cancelled. Returns False when it was not
    cancelled (a second click)."""
    _require(actor)
    # re-opening puts the roster back on the date: take the session's places first
    # (the lock order of scheduling.services.lock_places)
    list(
        Session.objects.select_for_update(no_key=True)
        .filter(pk=session_date.session_id)
        .values_list("pk", flat=True)
    )
    session_date = _locked_date(session_date)
    if not session_date.cancelled:
        return False
    _check_to_come(session_date, verb="re-opened: it stays cancelled")
    session = session_date.session
    other = covering_closures(
        session=session,
        first=session_date.date,
        last=session_date.date,
        exclude=session_date.closure_id,
    )
    if other:
        raise BusinessRuleError(
            f"The closure “{other[0].reason}” ({other[0].first_date:%-d %b} to "
            f"{other[0].last_date:%-d %b %Y}) also covers this date: it stays cancelled. "
            "Undo that closure first."
        )
    full = _over_capacity(session_date, _enrolled([session_date]).get(session_date.pk, 0))
    if full:
        raise BusinessRuleError(f"This date stays cancelled: {full}.")
    reason = session_date.cancel_reason
    SessionDate.objects.filter(pk=session_date.pk).update(
        cancelled=False, cancel_reason="", closure=None
    )
    _record(
        affected_by([session_date]),
        kind=ClientEvent.Kind.DATE_REOPENED,
        verb="Held again (cancellation undone)",
        reason=reason,
        actor=actor,
    )
    return True


def coming_dates_text(dates: list[SessionDate]) -> str:
    return dates_text(d.date for d in dates)


def key() -> uuid.UUID:
    """A fresh key for a confirm form."""
    return uuid.uuid4()

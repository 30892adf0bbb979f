"""The practice's setup, by staff: services, rooms and sessions. Every write is
atomic, checks permission itself and leaves a SetupChange row (with a ClientEvent
for each client a change reaches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money, round_money
from opus.models import User
from scheduling.models import (
    Booking,
    DateAbsence,
    Room,
    Service,
    Session,
    SessionDate,
    SetupChange,
    Subscription,
)
from scheduling.permissions import can_set_up
from scheduling.policy import MAKEUP_WEEKS_RANGE, NOTICE_HOURS_MAX
from scheduling.selectors import dates_text, with_enrollment
from scheduling.services import generate_session_dates, horizon, session_dates_to

MAX_LISTED = 8  # clashes or dates named in one message


def _check(actor) -> None:
    if not can_set_up(actor):
        raise PermissionDenied("Only staff may change the practice's services, rooms and sessions.")


def _log(*, actor, summary: str, changes=None, effective_date=None, **about) -> SetupChange:
    return SetupChange.objects.create(
        actor=person(actor),
        summary=summary[:500],
        changes=changes or {},
        effective_date=effective_date,
        **about,
    )


def _changes(obj, data: dict, labels: dict, show=str) -> dict:
    """{label: [from, to]} for each field of ``data`` that differs on ``obj``."""
    return {
        labels[name]: [show(getattr(obj, name)), show(value)]
        for name, value in data.items()
        if getattr(obj, name) != value
    }


def _summary(changes: dict) -> str:
    return "; ".join(
        f"{label}: {old or 'none'} → {new or 'none'}" for label, (old, new) in changes.items()
    )


# --- services -----------------------------------------------------------------------------
SERVICE_LABELS = {
    "name": "Name",
    "description": "Description",
    "billing_basis": "Billing basis",
    "price": "Price",
    "sessions_per_month": "Sessions a month",
    "cancel_notice_hours": "Notice for a cancellation in time (hours)",
    "charge_late_cancellations": "Charge late cancellations",
    "charge_no_shows": "Charge no-shows",
    "makeup_credits": "Make-up credit for a cancellation in time",
    "makeup_weeks": "Make-up credit valid for (weeks)",
}


def _clean_policy(data: dict) -> dict:
    """The service's cancellation policy: each part empty (None) means the
    practice's default."""
    clean: dict[str, int | bool | None] = {}
    for name, (low, high), message in (
        ("cancel_notice_hours", (0, NOTICE_HOURS_MAX), "hours"),
        ("makeup_weeks", MAKEUP_WEEKS_RANGE, "weeks"),
    ):
        value = data.get(name)
        if value in (None, ""):
            clean[name] = None
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BusinessRuleError(
                f"Enter a number of {message} from {low} to {high}, or leave it empty for "
                "the practice's default.",
                field=name,
            )
        clean[name] = value
    for name in ("charge_late_cancellations", "charge_no_shows", "makeup_credits"):
        value = data.get(name)
        if value not in (None, True, False):
            raise BusinessRuleError("Choose yes, no, or the practice's default.", field=name)
        clean[name] = value
    return clean


def _clean_service(data: dict, *, service: Service | None) -> dict:
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        raise BusinessRuleError("Give the service a name.", field="name")
    taken = Service.objects.filter(name__iexact=name)
    if service is not None:
        taken = taken.exclude(pk=service.pk)
    if taken.exists():
        raise BusinessRuleError(f"A service named {name} exists already.", field="name")
    basis = data.get("billing_basis") or Service.BillingBasis.PER_SESSION
    if basis not in Service.BillingBasis.values:
        raise BusinessRuleError("Choose per session or per month.", field="billing_basis")
    price = data.get("price")
    if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
        raise BusinessRuleError("The price is an amount of 0 or more.", field="price")
    per_month = data.get("sessions_per_month")
    if basis == Service.BillingBasis.MONTHLY:
        if not per_month or per_month < 1:
            raise BusinessRuleError(
                "A monthly service says how many sessions a month its price covers.",
                field="sessions_per_month",
            )
    else:
        per_month = None
    return {
        "name": name,
        "description": str(data.get("description") or "").strip(),
        "billing_basis": basis,
        "price": price,
        "sessions_per_month": per_month,
        **_clean_policy(data),
    }


def _money_shown(currency: str):
    def show(value) -> str:
        if isinstance(value, Decimal):
            return str(round_money(value, currency))
        return "" if value is None else str(value)

    return show


@transaction.atomic
def save_service(*, data: dict, actor, service: Service | None = None) -> Service:
    """Create a service, or change one. A new price applies to new subscriptions
    only: every subscription keeps the price it was created with."""
    _check(actor)
    clean = _clean_service(data, service=service)
    try:
        with transaction.atomic():
            if service is None:
                service = Service.objects.create(**clean)
                _log(actor=actor, summary=f"Service created: {service.name}", service=service)
                return service
            service = Service.objects.select_for_update().get(pk=service.pk)
            changes = _changes(service, clean, SERVICE_LABELS, _money_shown(service.currency))
            if not changes:
                return service
            Service.objects.filter(pk=service.pk).update(**clean)
    except IntegrityError:
        raise BusinessRuleError(
            f"A service named {clean['name']} exists already.", field="name"
        ) from None
    service.refresh_from_db()
    summary = _summary(changes)
    if "Price" in changes:
        summary += " (new subscriptions only; existing ones keep their price)"
    _log(actor=actor, summary=summary, changes=changes, service=service)
    return service


@transaction.atomic
def set_service_active(*, service: Service, active: bool, actor) -> bool:
    """Retire a service (no new sessions or enrolments; what exists goes on) or
    bring it back. Returns False when it was so already."""
    _check(actor)
    service = Service.objects.select_for_update().get(pk=service.pk)
    if service.is_active == active:
        return False
    Service.objects.filter(pk=service.pk).update(is_active=active)
    _log(actor=actor, summary="Brought back" if active else "Retired", service=service)
    return True


# --- rooms --------------------------------------------------------------------------------
@transaction.atomic
def save_room(*, name: str, actor, room: Room | None = None) -> Room:
    _check(actor)
    name = " ".join(str(name or "").split())
    if not name:
        raise BusinessRuleError("Give the room a name.", field="name")
    taken = Room.objects.filter(name__iexact=name)
    if room is not None:
        taken = taken.exclude(pk=room.pk)
    if taken.exists():
        raise BusinessRuleError(f"A room named {name} exists already.", field="name")
    try:
        with transaction.atomic():
            if room is None:
                room = Room.objects.create(name=name)
                _log(actor=actor, summary=f"Room created: {name}", room=room)
                return room
            room = Room.objects.select_for_update().get(pk=room.pk)
            if room.name == name:
                return room
            old = room.name
            Room.objects.filter(pk=room.pk).update(name=name)
    except IntegrityError:
        raise BusinessRuleError(f"A room named {name} exists already.", field="name") from None
    room.name = name
    _log(actor=actor, summary=f"Name: {old} → {name}", changes={"Name": [old, name]}, room=room)
    return room


@transaction.atomic
def set_room_active(*, room: Room, active: bool, actor) -> bool:
    """Retire a room (no new sessions in it; its sessions go on) or bring it back."""
    _check(actor)
    room = Room.objects.select_for_update().get(pk=room.pk)
    if room.is_active == active:
        return False
    Room.objects.filter(pk=room.pk).update(is_active=active)
    _log(actor=actor, summary="Brought back" if active else "Retired", room=room)
    return True


# --- sessions: clashes --------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """What a session will be on its coming dates."""

    start_time: time
    duration_minutes: int
    practitioner: User
    room: Room | None


def _times(day: date, slot: Slot) -> tuple[datetime, datetime]:
    starts = datetime.combine(day, slot.start_time, tzinfo=timezone.get_current_timezone())
    return starts, starts + timedelta(minutes=slot.duration_minutes)


def _lock_slot(slot: Slot) -> None:
    """Whoever books the same room or practitioner waits here (rooms first, then
    people), so two changes at once cannot both pass the clash check."""
    if slot.room is not None:
        list(Room.objects.select_for_update(no_key=True).filter(pk=slot.room.pk))
    list(User.objects.select_for_update(no_key=True).filter(pk=slot.practitioner.pk))


def clashes(*, days: list[date], slot: Slot, session: Session | None = None) -> list[str]:
    """Where the room or the practitioner is already busy at an overlapping time on
    one of ``days``: other sessions' dates, not cancelled. One query."""
    if not days:
        return []
    busy = Q(session__practitioner=slot.practitioner)
    if slot.room is not None:
        busy |= Q(session__room=slot.room)
    others = (
        SessionDate.objects.filter(busy, date__in=days, cancelled=False)
        .select_related("session__service", "session__practitioner", "session__room")
        .order_by("starts_at", "pk")
    )
    if session is not None:
        others = others.exclude(session=session)
    found = []
    for other in others:
        starts, ends = _times(other.date, slot)
        if not (other.starts_at < ends and starts < other.ends_at):
            continue
        what = []
        if other.session.practitioner_id == slot.practitioner.pk:
            what.append(f"{slot.practitioner.display_name} is busy")
        if slot.room is not None and other.session.room_id == slot.room.pk:
            what.append(f"{slot.room.name} is taken")
        local = timezone.localtime(other.starts_at)
        found.append(
            f"{' and '.join(what)} on {other.date:%a %-d %b %Y} at {local:%H:%M} "
            f"({other.session.service.name}, {other.session.practitioner.display_name}"
            f"{', ' + other.session.room.name if other.session.room else ''})"
        )
    return found


def _refuse_clashes(found: list[str], *, field: str | None = None) -> None:
    if not found:
        return
    listed = "; ".join(found[:MAX_LISTED])
    more = f"; and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
    raise BusinessRuleError(f"Refused: {listed}{more}.", field=field)


def _check_slot(slot: Slot) -> None:
    if not getattr(slot.practitioner, "is_active", False):
        raise BusinessRuleError("Choose an active member of the team.", field="practitioner")
    if slot.room is not None and not slot.room.is_active:
        raise BusinessRuleError(f"{slot.room.name} is retired: choose another room.", field="room")
    if not 5 <= slot.duration_minutes <= 24 * 60:
        raise BusinessRuleError(
            "A session lasts from 5 minutes to 24 hours.", field="duration_minutes"
        )
    starts, ends = _times(date(2000, 1, 3), slot)
    if ends.date() != starts.date() and ends.time() != time(0):
        raise BusinessRuleError(
            "A session ends on the day it starts: choose an earlier time or a shorter one.",
            field="duration_minutes",
        )


# --- sessions: create ---------------------------------------------------------------------
@transaction.atomic
def create_session(
    *,
    service: Service,
    practitioner,
    room: Room | None,
    start_time: time,
    duration_minutes: int,
    capacity: int,
    first_date: date,
    last_date: date | None,
    actor,
    today: date | None = None,
) -> Session:
    """A weekly session on the weekday of ``first_date`` (the weekday is derived
    from it, so the two never disagree), open-ended or until ``last_date``; a
    one-off appointment has ``last_date == first_date``. Its dates are generated at
    once, up to the horizon. Refused when the room or the practitioner is busy at
    an overlapping time on any of those dates (listed)."""
    _check(actor)
    today = today or timezone.localdate()
    if not service.is_active:
        raise BusinessRuleError(
            f"{service.name} is retired: choose another service.", field="service"
        )
    if first_date < today:
        raise BusinessRuleError("The first date cannot be in the past.", field="first_date")
    if last_date is not None and last_date < first_date:
        raise BusinessRuleError("The last date comes on or after the first.", field="last_date")
    if not 1 <= capacity <= 500:
        raise BusinessRuleError("The capacity is from 1 to 500 places.", field="capacity")
    slot = Slot(start_time, duration_minutes, practitioner, room)
    _check_slot(slot)
    session = Session(
        service=service,
        practitioner=practitioner,
        room=room,
        weekday=first_date.weekday(),
        start_time=start_time,
        duration_minutes=duration_minutes,
        capacity=capacity,
        first_date=first_date,
        last_date=last_date,
    )
    until = max(horizon(today), first_date)
    _lock_slot(slot)
    days = [d.date for d in session_dates_to(session, until)]
    _refuse_clashes(clashes(days=days, slot=slot))
    session.save()
    generate_session_dates(session=session, until=until)
    kind = "One-off appointment" if last_date == first_date else "Session"
    _log(
        actor=actor,
        summary=f"{kind} created: {session}",
        effective_date=first_date,
        session=session,
    )
    return session


# --- sessions: change from a date onward --------------------------------------------------
def _lock_session(session: Session) -> Session:
    return (
        Session.objects.select_for_update(of=("self",))
        .select_related("service", "practitioner", "room")
        .get(pk=session.pk)
    )


def _coming_dates(session: Session, effective_date: date):
    """The session's dates from ``effective_date`` on that have not started."""
    return SessionDate.objects.filter(
        session=session, date__gte=effective_date, starts_at__gt=timezone.now()
    ).order_by("date")


CHANGE_LABELS = {
    "start_time": "Time",
    "duration_minutes": "Duration (minutes)",
    "practitioner": "Practitioner",
    "room": "Room",
    "capacity": "Capacity",
}


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, time):
        return f"{value:%H:%M}"
    return getattr(value, "display_name", None) or str(value)


@transaction.atomic
def change_session(
    *,
    session: Session,
    effective_date: date,
    start_time: time,
    duration_minutes: int,
    practitioner,
    room: Room | None,
    capacity: int,
    actor,
    today: date | None = None,
) -> dict:
    """Change a session from ``effective_date`` onward: its coming dates from then
    get the new time and duration; dates before it, and dates already started,
    keep their stored times. The session row holds the new practitioner, room and
    capacity, and a SetupChange records from what to what, from which date.
    Refused (with the list) when the room or practitioner is busy on a coming
    date, or when a coming date has more clients than the new capacity. Returns
    the changes ({} when nothing changed)."""
    _check(actor)
    today = today or timezone.localdate()
    session = _lock_session(session)
    if effective_date < today:
        raise BusinessRuleError(
            "Changes apply from today or a later date: past dates keep what they were.",
            field="effective_date",
        )
    if session.last_date is not None and effective_date > session.last_date:
        raise BusinessRuleError(
            f"The session ends on {session.last_date:%a %-d %b %Y}: choose a date up to then.",
            field="effective_date",
        )
    if not 1 <= capacity <= 500:
        raise BusinessRuleError("The capacity is from 1 to 500 places.", field="capacity")
    new = {
        "start_time": start_time,
        "duration_minutes": duration_minutes,
        "practitioner": practitioner,
        "room": room,
        "capacity": capacity,
    }
    changes = _changes(session, new, CHANGE_LABELS, _show)
    if not changes:
        return {}
    slot = Slot(start_time, duration_minutes, practitioner, room)
    if practitioner != session.practitioner or (room is not None and room != session.room):
        _check_slot(slot)
    else:
        _check_slot(Slot(start_time, duration_minutes, session.practitioner, None))
    _lock_slot(slot)
    generate_session_dates(session=session, until=horizon(today))
    coming = list(_coming_dates(session, max(effective_date, session.first_date)))
    held = [d.date for d in coming if not d.cancelled]
    _refuse_clashes(clashes(days=held, slot=slot, session=session))
    if capacity < session.capacity:
        # the session holds one capacity for all its dates: every coming date must fit
        over = list(
            with_enrollment(_coming_dates(session, today))
            .filter(cancelled=False, enrolled__gt=capacity)
            .order_by("date")
            .values_list("date", "enrolled")
        )
        if over:
            listed = ", ".join(f"{day:%a %-d %b %Y} ({n})" for day, n in over[:MAX_LISTED])
            more = f" and {len(over) - MAX_LISTED} more" if len(over) > MAX_LISTED else ""
            raise BusinessRuleError(
                f"More clients than {capacity} are already enrolled on {listed}{more}: "
                "withdraw or move some first, or choose a larger capacity.",
                field="capacity",
            )
    for name, value in new.items():
        setattr(session, name, value)
    session.save(update_fields=[*new])
    for session_date in coming:
        session_date.starts_at, session_date.ends_at = _times(session_date.date, slot)
    SessionDate.objects.bulk_update(coming, ["starts_at", "ends_at"])
    _log(
        actor=actor,
        summary=f"From {effective_date:%a %-d %b %Y}: {_summary(changes)}",
        changes=changes,
        effective_date=effective_date,
        session=session,
    )
    return changes


# --- sessions: end ------------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    """A subscription that ending the session ends, and its new end date."""

    subscription: Subscription
    new_end_date: date

    @property
    def never_attends(self) -> bool:
        return self.new_end_date == self.subscription.first_date


@dataclass
class Ending:
    """Who and what ending a session on ``last_date`` reaches, shown before it is
    confirmed: subscriptions it ends (with their new end date: the day after the
    last date, or their first date when they would start later: they never
    attend), one-off bookings on dates after it, and those dates (removed, or
    cancelled when something is recorded on them)."""

    session: Session
    last_date: date
    subscriptions: list = field(default_factory=list)
    bookings: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)

    @property
    def end_date(self) -> date:
        return self.last_date + timedelta(days=1)


def ending_for(session: Session, last_date: date) -> Ending:
    """What ending ``session`` on ``last_date`` would do (nothing is written)."""
    after = last_date + timedelta(days=1)
    subscriptions = list(
        Subscription.objects.filter(session=session)
        .filter(
            Q(end_date__isnull=True) | (Q(end_date__gt=after) & Q(end_date__gt=F("first_date")))
        )
        .select_related("client", "relationship__payer")
        .order_by("client__last_name", "client__first_name", "pk")
    )
    ended = [Ended(s, max(after, s.first_date)) for s in subscriptions]
    bookings = list(
        Booking.objects.filter(
            session_date__session=session,
            session_date__date__gt=last_date,
            session_date__cancelled=False,
            status=Booking.Status.BOOKED,
        )
        .select_related("client", "relationship__payer", "session_date")
        .order_by("session_date__date", "pk")
    )
    dates = SessionDate.objects.filter(session=session, date__gt=last_date).order_by("date")
    kept = set(
        Booking.objects.filter(session_date__in=dates).values_list("session_date_id", flat=True)
    ) | set(
        DateAbsence.objects.filter(session_date__in=dates).values_list("session_date_id", flat=True)
    )
    ending = Ending(session=session, last_date=last_date, subscriptions=ended)
    ending.bookings = bookings
    for session_date in dates:
        if session_date.pk not in kept:
            ending.removed.append(session_date)
        elif not session_date.cancelled:
            ending.cancelled.append(session_date)
    return ending


def _check_last_date(session: Session, last_date: date, today: date) -> None:
    if last_date < today:
        raise BusinessRuleError(
            "The last date cannot be in the past: past dates stay as they were.", field="last_date"
        )
    if last_date < session.first_date:
        raise BusinessRuleError(
            f"The session starts on {session.first_date:%a %-d %b %Y}: "
            "its last date comes on or after it.",
            field="last_date",
        )


def preview_end(*, session: Session, last_date: date, actor, today: date | None = None) -> Ending:
    """The confirmation page's list: who ending the session would reach."""
    _check(actor)
    _check_last_date(session, last_date, today or timezone.localdate())
    return ending_for(session, last_date)


@transaction.atomic
def end_session(*, session: Session, last_date: date, actor, today: date | None = None) -> Ending:
    """End a session after ``last_date``: its subscriptions end with it (each
    client's history says so), its dates after it are removed, or cancelled when
    a booking or an absence is recorded on them. Confirming twice changes nothing
    more. Extending an ended session (a later last date) generates its dates."""
    _check(actor)
    today = today or timezone.localdate()
    session = _lock_session(session)
    _check_last_date(session, last_date, today)
    old_last = session.last_date
    ending = ending_for(session, last_date)
    practitioners = [session.practitioner_id]
    for ended in ending.subscriptions:
        subscription = ended.subscription
        Subscription.objects.filter(pk=subscription.pk).update(end_date=ended.new_end_date)
        never = ended.never_attends
        record_event(
            client=subscription.client,
            kind=ClientEvent.Kind.SESSION_ENDED,
            summary=(
                f"{session} ends after {last_date:%a %-d %b %Y}: the subscription "
                + ("starting later is ended unattended" if never else "ends with it")
                + f" (paid by {subscription.relationship.payer.full_name})"
            ),
            actor=actor,
            practitioners=practitioners,
        )
    for booking in ending.bookings:
        record_event(
            client=booking.client,
            kind=ClientEvent.Kind.SESSION_ENDED,
            summary=(
                f"{session} ends after {last_date:%a %-d %b %Y}: the booking on "
                f"{booking.session_date.date:%a %-d %b %Y} is on a cancelled date"
            ),
            actor=actor,
            practitioners=practitioners,
        )
    if ending.cancelled:
        SessionDate.objects.filter(pk__in=[d.pk for d in ending.cancelled]).update(
            cancelled=True, cancel_reason="The session ended"
        )
    SessionDate.objects.filter(pk__in=[d.pk for d in ending.removed]).delete()
    if old_last != last_date:
        Session.objects.filter(pk=session.pk).update(last_date=last_date)
        session.last_date = last_date
        if old_last is not None and last_date > old_last:  # extended: the dates to come
            after = max(old_last, today - timedelta(days=1))
            SessionDate.objects.bulk_create(
                session_dates_to(session, horizon(today), after=after), ignore_conflicts=True
            )
    if old_last != last_date or ending.subscriptions or ending.removed or ending.cancelled:
        parts = [f"Last date {last_date:%a %-d %b %Y}"]
        if ending.subscriptions:
            parts.append(f"{len(ending.subscriptions)} subscription(s) ended")
        if ending.removed or ending.cancelled:
            gone = [d.date for d in ending.removed + ending.cancelled]
            parts.append(f"dates after it removed or cancelled: {dates_text(gone)}")
        _log(
            actor=actor,
            summary="; ".join(parts),
            changes={"Last date": [_show(old_last), _show(last_date)]},
            effective_date=last_date,
            session=session,
        )
    return ending


def price_note(service: Service) -> str:
    return (
        f"Now {format_money(service.price, service.currency)}. A new price applies to new "
        "subscriptions only: existing subscriptions keep the price they were created with."
    )

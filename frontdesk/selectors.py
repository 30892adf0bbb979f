"""The front desk's reads: what a transfer may move to, and whether a relationship
may be migrated, booked under, or has sessions left to rebook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from billing.selectors import (
    card_on_file,
)
from clients.fields import LABELS
from clients.models import Client
from clients.permissions import details_user_may_add
from relationships.models import Relationship, RelationshipMigration
from scheduling.models import Booking, Session, SessionDate, Subscription
from scheduling.selectors import count_dates_before, places_text, with_enrollment

MIGRATION_MIN_AGE = 16


# --- reads -----------------------------------------------------------------------------
def coming_dates(session: Session, *, today: date, limit: int = 12):
    """The session's coming, not cancelled dates, each with ``enrolled``,
    ``free_seats`` and ``places`` (the fill in words)."""
    dates = list(
        with_enrollment(
            SessionDate.objects.filter(session=session, date__gte=today, cancelled=False)
        )
        .select_related("session")
        .order_by("date")[:limit]
    )
    for session_date in dates:
        session_date.free_seats = max(session.capacity - session_date.enrolled, 0)
        session_date.places = places_text(session.capacity, session_date.enrolled)
    return dates


TARGETS_SHOWN = 20  # the transfer's list: this many sessions, then "Show more"
TARGETS_MAX = 500


def transfer_targets(
    user, subscription: Subscription, *, service=None, practitioner=None, limit=None
):
    """Sessions the client may move to: any other session the user can see, those
    of the same service first (then by service, day and time), at most ``limit`` of
    them, each with the free places of its next coming date: read for those rows
    only, so the list costs the same whatever the number of sessions."""
    today = timezone.localdate()
    sessions = (
        Session.objects.visible_to(user)
        .exclude(pk=subscription.session_id)
        .filter(Q(last_date__isnull=True) | Q(last_date__gte=today))
        .select_related("service", "practitioner", "room")
        .annotate(
            other_service=Case(
                When(service_id=subscription.session.service_id, then=Value(0)),
                default=Value(1),
            )
        )
        .order_by("other_service", "service__name", "weekday", "start_time", "pk")
    )
    if service:
        sessions = sessions.filter(service_id=service)
    if practitioner:
        sessions = sessions.filter(practitioner_id=practitioner)
    targets = list(sessions if limit is None else sessions[:limit])
    next_dates = {}
    first_coming = (
        SessionDate.objects.filter(session__in=targets, date__gte=today, cancelled=False)
        .order_by("session_id", "date")
        .distinct("session_id")
    )
    for session_date in with_enrollment(first_coming) if targets else ():
        next_dates[session_date.session_id] = session_date
    for session in targets:
        upcoming = next_dates.get(session.pk)
        session.next_date = upcoming
        session.free_seats = (
            max(session.capacity - upcoming.enrolled, 0) if upcoming is not None else None
        )
        session.places = (
            places_text(session.capacity, upcoming.enrolled) if upcoming is not None else ""
        )
    return targets


# --- eligibility ---------------------------------------------------------------------
@dataclass(frozen=True)
class MigrationBlock:
    """Why a relationship cannot be migrated now, in words for the user."""

    message: str
    turns_16_on: date | None = None
    needs_date_of_birth: bool = False


def migration_block(
    relationship: Relationship, *, today: date, date_of_birth: date | None = None
) -> MigrationBlock | None:
    """None when the relationship may be migrated today (given the attendee's date
    of birth, or the one typed into the migration form)."""
    if relationship.kind != Relationship.Kind.THIRD_PARTY:
        return MigrationBlock("This is already a first-party relationship.")
    if relationship.status != Relationship.Status.ACTIVE:
        return MigrationBlock("This relationship has ended.")
    attendee = relationship.attendee
    born = date_of_birth or attendee.date_of_birth
    if born is None:
        return MigrationBlock(
            f"Enter {attendee.first_name}'s date of birth first: only attendees aged "
            f"{MIGRATION_MIN_AGE} or over can pay for their own sessions.",
            needs_date_of_birth=True,
        )
    probe = Client(date_of_birth=born)
    turns = probe.birthday_on(MIGRATION_MIN_AGE)
    age = probe.age_on(today)
    if age is not None and age < MIGRATION_MIN_AGE:
        return MigrationBlock(
            f"{attendee.first_name} is under {MIGRATION_MIN_AGE} and turns "
            f"{MIGRATION_MIN_AGE} on {turns:%-d %B %Y}: until then the relationship "
            "stays third party.",
            turns_16_on=turns,
        )
    return None


def missing_details(client: Client) -> list[str]:
    """The paying-client details this client lacks (one definition: clients.models)."""
    return client.missing_paying_details()


def details_for_staff(client: Client, missing: list[str], user) -> str | None:
    """Why ``user`` cannot finish the migration: missing details only staff may add
    (clients.permissions), in words; None when there are none."""
    names = [LABELS[name] for name in missing if name not in details_user_may_add(user, missing)]
    if not names:
        return None
    return (
        f"Only staff can add {client.first_name}'s {' and '.join(names)}: ask the front "
        f"desk to add {'them' if len(names) > 1 else 'it'} on {client.first_name}'s "
        "profile, or to confirm the migration."
    )


def has_card(client: Client) -> bool:

    return card_on_file(client) is not None


# --- booking under a relationship ----------------------------------------------------------
def booking_block(relationship: Relationship) -> str | None:
    """Why "Create Session" is unavailable, or None. A relationship that came out of
    a migration needs the new payer's card first, as the help article says."""
    if relationship.status != Relationship.Status.ACTIVE:
        return "This relationship has ended: book under the relationship that replaced it."
    migrated_in = RelationshipMigration.objects.filter(new_relationship=relationship).exists()
    if migrated_in and not has_card(relationship.payer):
        return (
            f"{relationship.payer.first_name} has not added a payment card yet. "
            "Create Session becomes available as soon as they do."
        )
    return None


# --- rebooking what the old relationship still holds ------------------------------------------
@dataclass(frozen=True)
class ComingUnderOld:
    old: Relationship | None
    bookings: list
    subscriptions: list

    @property
    def count(self) -> int:
        return len(self.bookings) + len(self.subscriptions)

    def chosen(self, *, booking_ids, subscription_ids) -> ComingUnderOld:
        """The same list narrowed to a selection (ids as posted by the form)."""
        bookings, subscriptions = set(booking_ids), set(subscription_ids)
        return ComingUnderOld(
            self.old,
            [b for b in self.bookings if b.pk in bookings],
            [s for s in self.subscriptions if s.pk in subscriptions],
        )


def coming_under_old(relationship: Relationship, user) -> ComingUnderOld:
    """The coming sessions still booked under the relationship this one replaced,
    of those ``user`` sees: a practitioner's own (another's are theirs or staff's
    to rebook, and none of their business)."""

    old = (
        Relationship.objects.filter(replaced_by=relationship)
        .select_related("payer", "attendee")
        .first()
    )
    if old is None:
        return ComingUnderOld(None, [], [])
    now = timezone.now()
    bookings = list(
        Booking.objects.visible_to(user)
        .filter(relationship=old, status=Booking.Status.BOOKED, session_date__starts_at__gte=now)
        .select_related("session_date__session__service", "session_date__session__practitioner")
    )
    subscriptions = list(
        with_coming_dates(
            Subscription.objects.visible_to(user).filter(relationship=old)
        ).select_related("session__service", "session__practitioner")
    )
    return ComingUnderOld(old, bookings, subscriptions)


def with_coming_dates(subscriptions):
    """Subscriptions that still cover a coming date, annotated with the first one
    (``next_date``: where a rebooked subscription is cut over) and with how many of
    their dates come before it (``dates_before``: those stay with the old payer,
    attended or not)."""
    from django.db.models import OuterRef, Q, Subquery

    next_date = (
        SessionDate.objects.filter(
            session_id=OuterRef("session_id"),
            starts_at__gte=timezone.now(),
            date__gte=OuterRef("first_date"),
        )
        .order_by("date")
        .values("date")[:1]
    )
    return (
        subscriptions.annotate(next_date=Subquery(next_date))
        .filter(
            Q(end_date__isnull=True) | Q(end_date__gt=models.F("next_date")),
            next_date__isnull=False,
        )
        .annotate(dates_before=count_dates_before(OuterRef("next_date"), skip_absences=False))
    )

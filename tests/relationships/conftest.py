"""The rebooking world: a relationship migrated with sessions and invoices left behind."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from frontdesk import relationship_flows as services
from scheduling.models import Booking
from scheduling.services import generate_session_dates
from tests.capacity import no_date_left_over_capacity  # noqa: F401 (autouse)
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)


@pytest.fixture
def world(therapist):
    """Oliver Grant paid for Sam Rivera: a weekly Piano subscription (three dates
    past, more coming) and two coming Guitar bookings; then Sam migrated. The
    session's weekday is never today's, so no date is half past."""
    today = timezone.localdate()
    weekday = (today.weekday() + 2) % 7
    first = next_weekday(weekday, today - timedelta(weeks=3))
    piano = SessionFactory(
        service=ServiceFactory(name="Piano", price=Decimal(30)),
        practitioner=therapist,
        weekday=weekday,
        first_date=first,
        capacity=3,
    )
    guitar = SessionFactory(
        service=ServiceFactory(name="Guitar", price=Decimal(40)),
        practitioner=therapist,
        weekday=weekday,
        start_time=time(15, 0),
        first_date=first,
        capacity=3,
    )
    for session in (piano, guitar):
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"),
        attendee=ClientFactory(first_name="Sam", last_name="Rivera"),
        practitioner=therapist,
    )
    subscription = SubscriptionFactory(relationship=old, session=piano, first_date=first)
    coming_guitar = list(guitar.dates.filter(date__gt=today).order_by("date")[:2])
    bookings = [
        Booking.objects.create(
            client=old.attendee, session_date=d, relationship=old, price=Decimal(40)
        )
        for d in coming_guitar
    ]
    PaymentMethodFactory(client=old.attendee)
    migration = services.start_migration(
        relationship=old, actor=therapist, requested_by="attendee", request_note="phoned"
    )
    new = services.confirm_migration(migration=migration, actor=therapist).new_relationship
    old.refresh_from_db()
    past = list(piano.dates.filter(date__lt=today).order_by("date"))
    assert len(past) == 3
    return {
        "old": old,
        "new": new,
        "payer": old.payer,
        "subscription": subscription,
        "bookings": bookings,
        "past": past,
        "cut_over": piano.dates.filter(date__gt=today).order_by("date").first().date,
    }

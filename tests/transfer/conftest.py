from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from scheduling.services import generate_session_dates
from tests.capacity import no_date_left_over_capacity  # noqa: F401 (autouse)
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
)


def next_weekday_after(today, weekday):
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


@pytest.fixture
def world(staff, therapist):
    return build_world(therapist)


def build_world(therapist) -> dict:
    """Ava, paid for by her mother, in Monday piano; Wednesday piano and a Friday
    guitar group to move to. Dates generated for eight weeks."""
    today = timezone.localdate()
    piano = ServiceFactory(name="Piano, 30 min", price=Decimal("30.00"))
    guitar = ServiceFactory(
        name="Guitar group", price=Decimal("96.00"), billing_basis="monthly", sessions_per_month=4
    )
    start = today - timedelta(weeks=4)
    monday = SessionFactory(
        service=piano,
        practitioner=therapist,
        weekday=0,
        capacity=1,
        first_date=start + timedelta(days=(0 - start.weekday()) % 7),
    )
    wednesday = SessionFactory(
        service=piano,
        practitioner=therapist,
        weekday=2,
        capacity=1,
        first_date=start + timedelta(days=(2 - start.weekday()) % 7),
    )
    friday = SessionFactory(
        service=guitar,
        practitioner=therapist,
        weekday=4,
        capacity=2,
        first_date=start + timedelta(days=(4 - start.weekday()) % 7),
    )
    for session in (monday, wednesday, friday):
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Mum"), attendee=ClientFactory(first_name="Ava")
    )
    subscription = SubscriptionFactory(
        relationship=relationship,
        session=monday,
        first_date=monday.first_date,
        price=Decimal("30.00"),
    )
    return {
        "today": today,
        "monday": monday,
        "wednesday": wednesday,
        "friday": friday,
        "subscription": subscription,
        "relationship": relationship,
        "next_monday": next_weekday_after(today, 0),
        "next_wednesday": next_weekday_after(today, 2),
        "next_friday": next_weekday_after(today, 4),
    }

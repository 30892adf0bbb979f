from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
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


# The transfer tests run on a Wednesday noon, whatever day the suite runs on: Ava's
# Monday session then has exactly four dates before the transfer date (next Monday);
# on a Monday, today's date would be a fifth. Time runs on from there (tick) for the
# tests with threads, and starts before any fixture logs anyone in.
WORLD_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(autouse=True)
def _on_a_wednesday():
    with time_machine.travel(WORLD_NOW, tick=True):
        yield


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

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from billing.models import Invoice, PaymentMethod
from clients.models import Client
from opus.models import User
from relationships.models import Relationship
from scheduling.models import Booking, Service, Session, SessionDate, Subscription
from scheduling.selectors import overbooked_dates

TIME_ZONE = settings.TIME_ZONE

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    call_command("seed_demo")


def test_the_demo_practice_shows_every_feature(demo):
    today = timezone.localdate()
    assert User.objects.filter(role="staff").count() == 2
    assert User.objects.filter(role="practitioner").count() == 3
    assert set(Service.objects.values_list("billing_basis", flat=True)) == {
        "per_session",
        "monthly",
    }
    assert Session.objects.count() == 20
    assert SessionDate.objects.filter(date__gt=today + timedelta(weeks=12)).exists()
    assert SessionDate.objects.filter(cancelled=True, date__gt=today).exists()
    assert Client.objects.count() == 60
    assert Subscription.objects.count() >= 60
    assert set(Invoice.objects.values_list("status", flat=True)) == set(Invoice.Status.values)
    assert Invoice.objects.filter(status="open", due_on__lt=today).exists()  # overdue


def test_the_relationship_stories_are_there(demo):
    today = timezone.localdate()
    third = Relationship.objects.filter(kind="third_party").select_related("attendee")
    friend = third.get(attendee__first_name="Sam")
    assert (
        friend.attendee.phone == ""
        and not PaymentMethod.objects.filter(client=friend.attendee).exists()
    )
    assert friend.attendee.age_on(today) >= 18
    child = third.get(attendee__first_name="Lily")
    assert child.attendee.age_on(today) == 12
    teen = third.get(attendee__first_name="Ethan")
    sixteenth = teen.attendee.birthday_on(16)
    assert today < sixteenth <= today + timedelta(days=31)
    grace = third.get(attendee__first_name="Grace")
    assert PaymentMethod.objects.filter(client=grace.attendee).exists()
    assert Relationship.objects.filter(kind="first_party").count() >= 50
    assert (
        Booking.objects.filter(
            relationship__kind="third_party", session_date__date__gt=today
        ).count()
        >= 3
    )


def test_seeding_twice_changes_nothing(demo):
    counts = (Client.objects.count(), Subscription.objects.count(), Invoice.objects.count())
    call_command("seed_demo")
    assert (Client.objects.count(), Subscription.objects.count(), Invoice.objects.count()) == counts


def test_the_large_practice_is_ten_times_larger_and_books_no_date_past_its_capacity():
    call_command("seed_demo", size="large")
    assert Session.objects.count() == 200
    assert Client.objects.count() >= 520
    assert User.objects.filter(role="practitioner").count() == 30
    over = _over(overbooked_dates())
    assert not over, "\n".join(over)


def test_a_demo_pupil_can_be_transferred_to_another_private_session(demo):
    """Every instrument keeps one private slot free next week, so the transfer wizard
    has a private session to offer, not only groups."""
    next_week = timezone.localdate() + timedelta(days=7)
    for instrument in ("Piano", "Guitar"):
        sessions = Session.objects.filter(service__name__startswith=instrument)
        assert sessions.count() >= 2
        free = [
            s
            for s in sessions
            if not s.subscriptions.filter(first_date__lte=next_week)
            .exclude(end_date__lt=next_week)
            .exists()
        ]
        assert free, instrument


def _over(dates) -> list[str]:
    return [
        f"{d.session.service.name} (session {d.session_id}) on {d.date}: "
        f"{d.enrolled} for {d.session.capacity}"
        for d in dates
    ]


@pytest.mark.parametrize("today", ["2026-11-29 09:00", "2028-02-29 09:00", "2026-12-31 09:00"])
def test_the_demo_books_no_date_past_its_capacity(today):
    """docs/quality.md Reliability 14: the demo itself keeps every coming date within
    its places, whatever day it is seeded on (it once booked dates past them)."""
    with time_machine.travel(datetime.fromisoformat(today).replace(tzinfo=ZoneInfo(TIME_ZONE))):
        call_command("seed_demo", stdout=io.StringIO())
        over = _over(overbooked_dates())
    assert not over, "\n".join(over)

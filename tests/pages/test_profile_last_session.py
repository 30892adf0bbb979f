"""The profile says a subscription's last session, not its (exclusive) end date
(issue 9, minor): "until 30 Nov" read as if the client came on the 30th."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Subscription
from scheduling.services import generate_session_dates
from tests.factories import RelationshipFactory, SessionFactory, SubscriptionFactory, next_weekday

pytestmark = pytest.mark.django_db


@pytest.fixture
def fridays(therapist):
    """A Friday session, its dates generated for ten weeks from three weeks ago."""
    first = next_weekday(4, timezone.localdate() - timedelta(weeks=3))
    session = SessionFactory(practitioner=therapist, weekday=4, first_date=first)
    generate_session_dates(session=session, until=first + timedelta(weeks=10))
    return session, first


def last(subscription):
    from scheduling.selectors import last_session_date, with_last_session

    return last_session_date(
        with_last_session(Subscription.objects.filter(pk=subscription.pk)).get()
    )


def test_the_last_session_is_the_weekday_before_the_end_date(fridays):
    session, first = fridays
    monday_after = first + timedelta(weeks=7, days=3)
    subscription = SubscriptionFactory(session=session, first_date=first, end_date=monday_after)
    assert last(subscription) == first + timedelta(weeks=7)
    on_a_friday = SubscriptionFactory(
        session=session, first_date=first, end_date=first + timedelta(weeks=7)
    )
    assert last(on_a_friday) == first + timedelta(weeks=6)  # the end date is not attended


def test_cancelled_dates_are_stepped_over(fridays):
    session, first = fridays
    subscription = SubscriptionFactory(
        session=session, first_date=first, end_date=first + timedelta(weeks=7, days=3)
    )
    for weeks in (7, 6):
        session.dates.filter(date=first + timedelta(weeks=weeks)).update(
            cancelled=True, cancel_reason="Holiday"
        )
    assert last(subscription) == first + timedelta(weeks=5)


def test_beyond_the_generated_dates_the_weekday_decides(fridays):
    session, first = fridays
    subscription = SubscriptionFactory(
        session=session, first_date=first, end_date=first + timedelta(weeks=30, days=1)
    )
    assert last(subscription) == first + timedelta(weeks=30)


def test_none_when_it_ends_before_its_first_session(fridays):
    session, first = fridays
    subscription = SubscriptionFactory(session=session, first_date=first, end_date=first)
    assert last(subscription) is None


def test_the_profile_says_last_session_not_until(staff_client, fridays):
    session, first = fridays
    relationship = RelationshipFactory()
    end = first + timedelta(weeks=7, days=3)  # a Monday, not attended
    SubscriptionFactory(relationship=relationship, session=session, first_date=first, end_date=end)
    other = SessionFactory(
        practitioner=session.practitioner,
        weekday=4,
        start_time=session.start_time.replace(hour=15),
        first_date=first,
    )
    generate_session_dates(session=other, until=first + timedelta(weeks=2))
    SubscriptionFactory(
        relationship=relationship,
        session=other,
        first_date=first,
        end_date=first + timedelta(days=10),
    )
    page = staff_client.get(
        reverse("clients:detail", args=[relationship.attendee_id])
    ).content.decode()
    last_friday = first + timedelta(weeks=7)
    assert f"last session {last_friday:%a} {last_friday.day} {last_friday:%b %Y}" in page
    assert f"until {end.day} {end:%b %Y}" not in page
    past_last = first + timedelta(weeks=1)
    assert f"{first.day} {first:%b %Y} \u2013 {past_last.day} {past_last:%b %Y}" in page

"""scheduling.services.enroll and the selectors behind the capacity rule (issue 9,
item 3): every date a new subscription covers has a place, or the user chose to
skip it; ``overbooked_dates`` finds any coming date that has not."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from scheduling import services
from scheduling.models import DateAbsence, Subscription
from scheduling.selectors import roster_for
from tests.factories import (
    BookingFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)

pytestmark = pytest.mark.django_db


def over_capacity(**kwargs):
    from scheduling.selectors import overbooked_dates

    return overbooked_dates(**kwargs)


@pytest.fixture
def session(therapist):
    """Two places, dates from tomorrow's weekday for eight weeks."""
    today = timezone.localdate()
    weekday = (today.weekday() + 1) % 7
    session = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        start_time=time(9, 0),
        capacity=2,
        first_date=next_weekday(weekday, today + timedelta(days=1)),
    )
    services.generate_session_dates(session=session, until=today + timedelta(weeks=8))
    return session


def dates_of(session):
    return list(session.dates.order_by("date"))


def test_enroll_refuses_a_later_date_with_no_place(session, staff):
    """On main ``enroll`` checked nothing: the seed and Create Session overbooked."""
    later = dates_of(session)[3]
    for _ in range(2):
        BookingFactory(session_date=later)
    with pytest.raises(BusinessRuleError) as error:
        services.enroll(
            actor=SYSTEM,
            relationship=RelationshipFactory(),
            session=session,
            first_date=session.first_date,
        )
    assert f"{later.date:%a %-d %b}" in error.value.message
    assert not Subscription.objects.exists()


def test_enroll_with_the_full_dates_skipped_unenrolls_from_them(session, staff):
    dates = dates_of(session)
    for day in (dates[2], dates[5]):
        BookingFactory(session_date=day)
        BookingFactory(session_date=day)
    relationship = RelationshipFactory()
    with pytest.raises(services.FullDates) as error:
        services.enroll(
            actor=SYSTEM, relationship=relationship, session=session, first_date=dates[0].date
        )
    assert error.value.dates == [dates[2].date, dates[5].date]
    subscription = services.enroll(
        relationship=relationship,
        session=session,
        first_date=dates[0].date,
        actor=staff,
        skip=error.value.dates,
    )
    absences = DateAbsence.objects.filter(subscription=subscription).order_by("session_date__date")
    assert [a.session_date for a in absences] == [dates[2], dates[5]]
    assert all(a.created_by == staff for a in absences)
    assert [e.client for e in roster_for(dates[2]).absent] == [relationship.attendee]
    event = ClientEvent.objects.get(
        client=relationship.attendee, kind=ClientEvent.Kind.UNENROLLED_DATE
    )
    assert f"{dates[2].date:%-d %b}" in event.summary and "full" in event.summary
    assert over_capacity() == []


def test_a_full_first_date_cannot_be_skipped(session):
    first = dates_of(session)[0]
    BookingFactory(session_date=first)
    BookingFactory(session_date=first)
    with pytest.raises(BusinessRuleError, match="is full") as error:
        services.enroll(
            actor=SYSTEM,
            relationship=RelationshipFactory(),
            session=session,
            first_date=first.date,
            skip=[first.date],
        )
    assert not isinstance(error.value, services.FullDates)


def test_an_enrollment_that_ends_before_the_full_dates_is_fine(session):
    dates = dates_of(session)
    BookingFactory(session_date=dates[4])
    BookingFactory(session_date=dates[4])
    subscription = services.enroll(
        actor=SYSTEM,
        relationship=RelationshipFactory(),
        session=session,
        first_date=dates[0].date,
        end_date=dates[4].date,  # the first date no longer attended
    )
    assert subscription.end_date == dates[4].date and over_capacity() == []


def test_undo_refuses_when_the_place_was_taken(session, staff):
    dates = dates_of(session)
    mine = SubscriptionFactory(session=session, first_date=session.first_date)
    SubscriptionFactory(session=session, first_date=session.first_date)
    services.unenroll_from_date(subscription=mine, session_date=dates[1], actor=staff)
    BookingFactory(session_date=dates[1])
    with pytest.raises(BusinessRuleError, match="full on this date"):
        services.undo_unenroll_from_date(subscription=mine, session_date=dates[1], actor=staff)
    assert over_capacity() == []


def test_overbooked_dates_finds_coming_dates_over_capacity_only(session):
    dates = dates_of(session)
    for _ in range(3):
        BookingFactory(session_date=dates[1])
        BookingFactory(session_date=dates[2])
    dates[2].cancelled, dates[2].cancel_reason = True, "Holiday"
    dates[2].save()
    over = over_capacity()
    assert [(d.pk, d.enrolled) for d in over] == [(dates[1].pk, 3)]
    assert over_capacity(today=dates[1].date + timedelta(days=1)) == []
    for d in dates[1].bookings.all()[:1]:
        d.status, d.cancelled_at = "cancelled", timezone.now()
        d.save()
    assert over_capacity() == []

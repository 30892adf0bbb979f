"""Create Session and the rebooking never leave a date over capacity (issue 9,
item 3): a weekly booking needs a place on every date it covers, and a rebooked
subscription holds the places its predecessor held, no more."""

from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clients.models import ClientEvent
from frontdesk import relationship_flows as services
from opus.lib.errors import BusinessRuleError
from scheduling import services as scheduling_services
from scheduling.models import DateAbsence, SessionDate, Subscription
from scheduling.selectors import with_enrollment
from scheduling.services import generate_session_dates, unenroll_from_date
from tests.capacity import meet_after_the_checks
from tests.factories import (
    BookingFactory,
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)
from tests.support.threads import run_together

pytestmark = pytest.mark.django_db


def over_capacity() -> list[tuple[date, int]]:
    return [
        (d.date, d.enrolled)
        for d in with_enrollment(SessionDate.objects.select_related("session"))
        if d.enrolled > d.session.capacity
    ]


@pytest.fixture
def weekly(therapist):
    """A one-place weekly session of the therapist's, its dates generated for ten
    weeks from tomorrow's weekday, and Sam, paid for by Oliver, with a card."""
    today = timezone.localdate()
    weekday = (today.weekday() + 1) % 7
    session = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        start_time=time(17, 0),
        capacity=1,
        first_date=next_weekday(weekday, today + timedelta(days=1)),
    )
    generate_session_dates(session=session, until=today + timedelta(weeks=10))
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"),
        attendee=ClientFactory(first_name="Sam"),
        practitioner=therapist,
    )
    PaymentMethodFactory(client=relationship.attendee)
    dates = list(session.dates.order_by("date").values_list("date", flat=True))
    return session, relationship, dates


def book_weekly(relationship, session, first_date, actor, **extra):
    return services.book_session(
        relationship=relationship, actor=actor, session=session, first_date=first_date, **extra
    )


def test_a_weekly_booking_over_a_full_later_date_is_refused_naming_it(weekly, therapist):
    """On main only the first date was checked: the third date then held 2 of 1."""
    session, relationship, dates = weekly
    BookingFactory(session_date=session.dates.get(date=dates[2]))
    with pytest.raises(BusinessRuleError) as error:
        book_weekly(relationship, session, dates[0], therapist)
    assert f"{dates[2]:%a %-d %b}" in error.value.message
    assert over_capacity() == []
    assert not Subscription.objects.exists()


def test_accepting_the_full_dates_skipped_books_the_rest(weekly, therapist):
    session, relationship, dates = weekly
    for day in (dates[2], dates[4]):
        BookingFactory(session_date=session.dates.get(date=day))
    with pytest.raises(scheduling_services.FullDates) as error:
        book_weekly(relationship, session, dates[0], therapist)
    assert error.value.dates == [dates[2], dates[4]]
    subscription = book_weekly(relationship, session, dates[0], therapist, skip=error.value.dates)
    skipped = DateAbsence.objects.filter(subscription=subscription)
    assert sorted(skipped.values_list("session_date__date", flat=True)) == [dates[2], dates[4]]
    assert ClientEvent.objects.filter(
        client=relationship.attendee, kind=ClientEvent.Kind.UNENROLLED_DATE
    ).exists()
    assert over_capacity() == []


def test_a_weekly_booking_into_a_session_full_for_good_is_refused(weekly, therapist):
    session, relationship, dates = weekly
    SubscriptionFactory(session=session, first_date=dates[3])  # no end
    with pytest.raises(BusinessRuleError, match="no place free for good"):
        book_weekly(relationship, session, dates[0], therapist, skip=dates[3:])
    assert over_capacity() == []


@pytest.mark.django_db(transaction=True)
def test_a_weekly_booking_racing_a_one_off_on_a_later_date_sees_its_place_taken(
    weekly, therapist, monkeypatch
):
    """The one-off books the second date and has checked its place; the weekly
    booking from the first date starts then. On main the weekly one checked its
    first date alone, waited for the session's row, and went through: 2 of 1."""
    session, relationship, dates = weekly
    other = RelationshipFactory(practitioner=therapist)
    later = session.dates.get(date=dates[1])
    meeting = meet_after_the_checks(monkeypatch, services, "_invoice_booking")

    def weekly_after_the_one_off():
        assert meeting.arrived(1)
        return book_weekly(relationship, session, dates[0], therapist)

    results = run_together(
        [
            lambda: services.book_session(relationship=other, actor=therapist, session_date=later),
            weekly_after_the_one_off,
        ]
    )
    assert results[0].session_date == later  # the one-off went through
    assert isinstance(results[1], BusinessRuleError), results
    assert f"{dates[1]:%a %-d %b}" in results[1].message
    assert over_capacity() == []


# --- the page --------------------------------------------------------------------------------
def test_create_session_lists_the_full_dates_and_offers_to_skip_them(therapist_client, weekly):
    session, relationship, dates = weekly
    BookingFactory(session_date=session.dates.get(date=dates[3]))
    url = reverse("relationships:create-session", args=[relationship.pk])
    form = {"session": session.pk, "date": dates[0].isoformat(), "repeat": "weekly"}
    page = therapist_client.post(url, form).content.decode()
    assert f"Full on {dates[3]:%a %-d %b %Y}" in page
    assert f'name="skip" value="{dates[3]:%Y-%m-%d}"' in page
    assert "Create Session with that date skipped" in page
    assert not Subscription.objects.exists()

    done = therapist_client.post(url, {**form, "skip": dates[3].isoformat()})
    assert done.status_code == 302
    subscription = Subscription.objects.get()
    assert list(subscription.absences.values_list("session_date__date", flat=True)) == [dates[3]]
    assert over_capacity() == []


@pytest.mark.parametrize("skip", ["\x00oops", "2026-13-45", "x" * 5000, "2026-01-01," * 300])
def test_create_session_refuses_a_mangled_skip_without_a_500(therapist_client, weekly, skip):
    session, relationship, dates = weekly
    response = therapist_client.post(
        reverse("relationships:create-session", args=[relationship.pk]),
        {"session": session.pk, "date": dates[0].isoformat(), "repeat": "weekly", "skip": skip},
    )
    assert response.status_code == 200
    assert "The dates to skip were not understood" in response.content.decode()
    assert not Subscription.objects.exists()


# --- rebooking moves places, it never takes more --------------------------------------------
def test_rebooking_keeps_the_dates_the_attendee_was_unenrolled_from(world, therapist):
    """Sam is unenrolled from one coming date and its place was given away. On main
    the rebooked subscription forgot the absence: Sam was back, 4 of 3."""
    subscription = world["subscription"]
    piano = subscription.session
    away = piano.dates.get(date=world["cut_over"] + timedelta(weeks=1))
    unenroll_from_date(subscription=subscription, session_date=away, actor=therapist)
    for _ in range(2):
        SubscriptionFactory(session=piano, first_date=piano.first_date)
    BookingFactory(session_date=away)  # the place Sam left that day
    assert over_capacity() == []
    services.rebook_coming_sessions(
        relationship=world["new"],
        actor=therapist,
        booking_ids=[],
        subscription_ids=[subscription.pk],
    )
    successor = Subscription.objects.get(relationship=world["new"], session=piano)
    assert list(successor.absences.values_list("session_date", flat=True)) == [away.pk]
    assert over_capacity() == []


def test_rebooking_a_full_session_is_not_refused_as_full(world, therapist):
    """Sam already holds the place: moving it to the new relationship takes none."""
    subscription = world["subscription"]
    piano = subscription.session
    for _ in range(piano.capacity - 1):
        SubscriptionFactory(session=piano, first_date=piano.first_date)
    result = services.rebook_coming_sessions(
        relationship=world["new"],
        actor=therapist,
        booking_ids=[b.pk for b in world["bookings"]],
        subscription_ids=[subscription.pk],
    )
    assert result.moved == 3
    assert over_capacity() == []
    coming = piano.dates.get(date=world["cut_over"])
    assert with_enrollment(SessionDate.objects.filter(pk=coming.pk)).get().enrolled == 3

"""roster_for, with_enrollment, coming_sessions and the client search."""

from datetime import timedelta

import pytest
from django.utils import timezone

from clients.models import Client
from clients.selectors import search_clients
from scheduling.models import Booking, DateAbsence, SessionDate
from scheduling.selectors import coming_sessions, roster_for, with_enrollment
from tests.factories import (
    BookingFactory,
    ClientFactory,
    RelationshipFactory,
    SubscriptionFactory,
    coming_date,
)

pytestmark = pytest.mark.django_db


def names(entries):
    return [e.client.full_name for e in entries]


def enrolled(session_date):
    return with_enrollment(SessionDate.objects.filter(pk=session_date.pk)).get().enrolled


def test_subscriptions_covering_the_date_are_on_the_roster(world):
    roster = roster_for(world.date)
    assert names(roster.attending) == ["Ava Adams", "Sam Rivera"]  # by last name
    assert roster.absent == []
    assert roster.count == enrolled(world.date) == 2


def test_the_roster_says_who_pays_for_a_third_party_attendee(world):
    sam = next(e for e in roster_for(world.date).attending if e.client == world.sam)
    assert sam.relationship.get_kind_display() == "Third party"
    assert sam.relationship.payer == world.oliver
    assert sam.subscription == world.sam_sub and not sam.is_booking


def test_an_absence_takes_the_client_off_the_roster(world):
    DateAbsence.objects.create(subscription=world.sam_sub, session_date=world.date)
    roster = roster_for(world.date)
    assert names(roster.attending) == ["Ava Adams"]
    assert names(roster.absent) == ["Sam Rivera"]
    assert roster.absent[0].absent
    assert roster.count == enrolled(world.date) == 1


def test_a_booking_is_on_the_roster_and_a_cancelled_one_is_not(world):
    booked = BookingFactory(session_date=world.date, relationship__payer__first_name="Bea")
    BookingFactory(
        session_date=world.date,
        relationship__payer__first_name="Cal",
        status=Booking.Status.CANCELLED,
        cancelled_at=timezone.now(),
    )
    roster = roster_for(world.date)
    entry = next(e for e in roster.attending if e.is_booking)
    assert entry.booking == booked and entry.subscription is None
    assert "Cal" not in " ".join(names(roster.attending))
    assert any(n.startswith("Bea ") for n in names(roster.attending))
    assert roster.count == enrolled(world.date) == 3


def test_ended_and_not_yet_started_subscriptions_are_not_on_the_roster(world):
    SubscriptionFactory(
        session=world.session,
        first_date=world.session.first_date,
        end_date=world.date.date,  # the first date no longer attended
    )
    SubscriptionFactory(session=world.session, first_date=world.date.date + timedelta(days=7))
    assert roster_for(world.date).count == enrolled(world.date) == 2


def test_a_cancelled_date_keeps_its_roster_for_reference(world):
    SessionDate.objects.filter(pk=world.date.pk).update(
        cancelled=True, cancel_reason="Bank holiday"
    )
    world.date.refresh_from_db()
    assert names(roster_for(world.date).attending) == ["Ava Adams", "Sam Rivera"]


def test_roster_for_runs_two_queries_however_long_the_roster(world, django_assert_num_queries):
    world.session.capacity = 30
    world.session.save()
    for _ in range(12):
        SubscriptionFactory(session=world.session, first_date=world.session.first_date)
        BookingFactory(session_date=world.date)
    with django_assert_num_queries(2):
        roster = roster_for(world.date)
        [(e.client.full_name, e.relationship.payer.full_name) for e in roster.attending]
    assert roster.count == 26


def test_coming_sessions_mark_absences_cancellations_and_bookings(world, therapist):
    second = coming_date(world.session, weeks=2)
    third = coming_date(world.session, weeks=3)
    SessionDate.objects.filter(pk=third.pk).update(cancelled=True, cancel_reason="Holiday")
    DateAbsence.objects.create(subscription=world.sam_sub, session_date=second)
    BookingFactory(relationship=world.third_party, session_date__session__practitioner=therapist)
    items = coming_sessions(
        world.sam, therapist, subscriptions=[world.sam_sub], start=timezone.localdate()
    )
    statuses = [item.status for item in items]
    assert statuses.count("enrolled") == 1
    assert statuses.count("absent") == 1
    assert statuses.count("cancelled") == 1
    assert statuses.count("booked") == 1
    starts = [item.session_date.starts_at for item in items]
    assert starts == sorted(starts)


def test_coming_sessions_of_another_practitioner_stay_hidden(world, other_therapist):
    BookingFactory(relationship=world.third_party)
    items = coming_sessions(
        world.sam, other_therapist, subscriptions=[], start=timezone.localdate()
    )
    assert items == []


def test_search_matches_name_email_and_phone_whatever_the_spacing(staff):
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="07700 900456")
    ClientFactory(first_name="Samantha", last_name="Jones", email="sj@example.org")
    ClientFactory(first_name="Other", last_name="Person", phone="01234 567890")

    def found(q):
        return {c.full_name for c in search_clients(staff, q=q)}

    assert found("sam") == {"Sam Rivera", "Samantha Jones"}
    assert found("sam rivera") == {"Sam Rivera"}
    assert found("RIVERA") == {"Sam Rivera"}
    assert found("sj@example") == {"Samantha Jones"}
    assert found("07700900456") == {"Sam Rivera"}
    assert found("0770 0900-456") == {"Sam Rivera"}
    assert found("nobody") == set()
    assert list(search_clients(staff, q="")) == list(Client.objects.order_by("last_name"))
    assert sam in search_clients(staff, q="900 456")


def test_search_matches_the_start_of_a_word_the_start_of_an_email_or_either_end_of_a_phone(
    staff,
):
    """What the indexes can answer (clients.models): no scan of every client."""
    ClientFactory(first_name="Ava", last_name="Adams-Baker", email="ava.ab@example.org")
    ClientFactory(first_name="O'Brien", last_name="Kelly", email="k@example.org", phone="")
    ClientFactory(
        first_name="Dave", last_name="Lava", email="dl@example.org", phone="020 7946 0000"
    )

    def found(q):
        return {c.last_name for c in search_clients(staff, q=q)}

    assert found("ava") == {"Adams-Baker"}  # not "Dave" nor "Lava": a word starts with it
    assert found("baker") == {"Adams-Baker"}  # a word of a double-barrelled name
    assert found("adams-ba") == {"Adams-Baker"}
    assert found("o'brien") == found("brien") == {"Kelly"}
    assert found("ava.a") == {"Adams-Baker"}  # the email by its start
    assert found("example") == set()  # not the middle of an email
    assert found("020") == found("0000") == {"Lava"}  # the phone by either end
    assert found("7946") == set()
    assert found("ava (") == {"Adams-Baker"}  # punctuation alone is skipped ...
    assert found("o'brien & | !") == {"Kelly"}
    assert found("ava:* | dave") == set()  # typed, not tsquery syntax


def test_search_sorts_by_most_recent_activity(staff):
    older = ClientFactory(last_name="Older")
    newer = ClientFactory(last_name="Newer")
    Client.objects.filter(pk=older.pk).update(last_activity_at=timezone.now())
    assert list(search_clients(staff, sort="activity"))[:2] == [older, newer]
    assert list(search_clients(staff, sort="name"))[:2] == [newer, older]
    assert list(search_clients(staff, sort="bogus"))[:2] == [newer, older]


def test_search_never_leaves_what_the_user_may_see(therapist, c2_world):
    mine = SubscriptionFactory(
        session__practitioner=therapist,
        relationship=RelationshipFactory(payer=ClientFactory(first_name="Zebedee")),
    )
    assert list(search_clients(therapist, q="Zebedee")) == [mine.client]
    assert list(search_clients(therapist, q="Sentinelsson")) == []

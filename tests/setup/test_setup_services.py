"""The practice's setup through its services (issue 11, "Services, rooms,
sessions"): each rule, each refusal with its message, the history rows."""

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from clients.models import ClientEvent
from opus.lib.errors import BusinessRuleError
from scheduling import setup
from scheduling.models import Room, Service, Session, SessionDate, SetupChange, Subscription
from scheduling.services import horizon
from tests.factories import (
    BookingFactory,
    ClientFactory,
    RelationshipFactory,
    RoomFactory,
    ServiceFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 2)  # a Wednesday


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel("2026-12-02 08:00 +00:00", tick=False):
        yield


def service_data(**changes):
    return {
        "name": "Piano, 30 min",
        "description": "",
        "billing_basis": "per_session",
        "price": Decimal("30.00"),
        "sessions_per_month": None,
        **changes,
    }


def new_session(staff, **changes):
    values = {
        "service": changes.get("service") or ServiceFactory(),
        "practitioner": changes.get("practitioner") or UserFactory(),
        "room": changes.get("room") or RoomFactory(),
        "start_time": time(17, 0),
        "duration_minutes": 30,
        "capacity": 2,
        "first_date": date(2026, 12, 7),  # a Monday
        "last_date": None,
        "actor": staff,
        **changes,
    }
    return setup.create_session(**values)


# --- services -----------------------------------------------------------------------------
def test_a_service_is_created_changed_and_retired_with_history(staff):
    service = setup.save_service(data=service_data(), actor=staff)
    assert service.price == Decimal("30.00") and service.is_active
    setup.save_service(data=service_data(price=Decimal("35.00")), service=service, actor=staff)
    service.refresh_from_db()
    assert service.price == Decimal("35.00")
    assert setup.set_service_active(service=service, active=False, actor=staff)
    assert not setup.set_service_active(service=service, active=False, actor=staff)
    assert not Service.objects.get(pk=service.pk).is_active
    summaries = list(SetupChange.objects.filter(service=service).values_list("summary", flat=True))
    assert summaries[0] == "Retired"
    assert "Price: 30.00 → 35.00 (new subscriptions only" in summaries[1]
    assert summaries[2] == "Service created: Piano, 30 min"


def test_a_price_change_leaves_existing_subscriptions_at_their_price(staff):
    subscription = SubscriptionFactory(price=Decimal("30.00"))
    service = subscription.session.service
    setup.save_service(
        data=service_data(name=service.name, price=Decimal("40.00")), service=service, actor=staff
    )
    subscription.refresh_from_db()
    assert subscription.price == Decimal("30.00")
    assert Service.objects.get(pk=service.pk).price == Decimal("40.00")


def test_a_monthly_service_needs_its_sessions_a_month(staff):
    with pytest.raises(BusinessRuleError) as refused:
        setup.save_service(data=service_data(billing_basis="monthly"), actor=staff)
    assert refused.value.field == "sessions_per_month"
    assert "how many sessions a month" in refused.value.message
    monthly = setup.save_service(
        data=service_data(billing_basis="monthly", sessions_per_month=4), actor=staff
    )
    assert monthly.sessions_per_month == 4
    per_session = setup.save_service(
        data=service_data(billing_basis="per_session", sessions_per_month=4),
        service=monthly,
        actor=staff,
    )
    assert per_session.sessions_per_month is None  # the check constraint holds


def test_a_service_name_is_unique_whatever_its_case(staff):
    setup.save_service(data=service_data(), actor=staff)
    with pytest.raises(BusinessRuleError, match="A service named piano, 30 MIN exists already"):
        setup.save_service(data=service_data(name="piano, 30 MIN"), actor=staff)


def test_a_practitioner_may_not_set_up(therapist):
    with pytest.raises(PermissionDenied):
        setup.save_service(data=service_data(), actor=therapist)
    with pytest.raises(PermissionDenied):
        setup.save_room(name="Studio", actor=therapist)
    assert not Service.objects.exists() and not Room.objects.exists()


# --- rooms --------------------------------------------------------------------------------
def test_a_room_is_created_renamed_and_retired(staff):
    room = setup.save_room(name="  Studio   1 ", actor=staff)
    assert room.name == "Studio 1"
    setup.save_room(name="Big hall", room=room, actor=staff)
    assert Room.objects.get(pk=room.pk).name == "Big hall"
    setup.set_room_active(room=room, active=False, actor=staff)
    assert not Room.objects.get(pk=room.pk).is_active
    assert SetupChange.objects.filter(room=room).count() == 3


def test_a_room_name_taken_is_a_readable_error(staff):
    setup.save_room(name="Studio 1", actor=staff)
    with pytest.raises(BusinessRuleError) as refused:
        setup.save_room(name="studio 1", actor=staff)
    assert refused.value.message == "A room named studio 1 exists already."
    assert refused.value.field == "name"


def test_the_database_refuses_a_duplicate_room_name_too(staff):
    Room.objects.create(name="Studio 1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Room.objects.create(name="Studio 1")


# --- sessions: create ---------------------------------------------------------------------
def test_a_new_session_takes_its_weekday_from_the_first_date_and_gets_its_dates(staff):
    session = new_session(staff, first_date=date(2026, 12, 9))  # a Wednesday
    assert session.weekday == 2
    dates = list(session.dates.values_list("date", flat=True))
    assert dates[0] == date(2026, 12, 9)
    assert dates[-1] <= horizon(TODAY) < dates[-1] + timedelta(weeks=1)
    assert len(dates) == 26  # 9 Dec 2026 to 2 Jun 2027, the horizon (26 weeks)
    assert SetupChange.objects.get(session=session).summary.startswith("Session created")


def test_a_one_off_appointment_has_one_date(staff):
    session = new_session(staff, last_date=date(2026, 12, 7))
    assert list(session.dates.values_list("date", flat=True)) == [date(2026, 12, 7)]


def test_a_session_with_a_last_date_gets_nothing_past_it(staff):
    session = new_session(staff, last_date=date(2026, 12, 31))
    assert list(session.dates.values_list("date", flat=True)) == [
        date(2026, 12, 7),
        date(2026, 12, 14),
        date(2026, 12, 21),
        date(2026, 12, 28),
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"first_date": date(2026, 12, 1)}, "first_date", "The first date cannot be in the past."),
        (
            {"last_date": date(2026, 12, 6)},
            "last_date",
            "The last date comes on or after the first.",
        ),
        ({"capacity": 0}, "capacity", "The capacity is from 1 to 500 places."),
        (
            {"start_time": time(23, 50)},
            "duration_minutes",
            "A session ends on the day it starts",
        ),
    ],
)
def test_a_new_session_is_refused_with_a_message(staff, changes, field, message):
    with pytest.raises(BusinessRuleError) as refused:
        new_session(staff, **changes)
    assert refused.value.field == field
    assert refused.value.message.startswith(message)
    assert not Session.objects.exists()


def test_a_retired_service_or_room_takes_no_new_session(staff):
    with pytest.raises(BusinessRuleError, match="is retired: choose another service"):
        new_session(staff, service=ServiceFactory(is_active=False))
    with pytest.raises(BusinessRuleError, match="is retired: choose another room"):
        new_session(staff, room=RoomFactory(is_active=False))


def test_a_busy_room_or_practitioner_is_refused_with_the_clashes_listed(staff):
    anna = UserFactory(first_name="Anna", last_name="Bell")
    studio = RoomFactory(name="Studio 1")
    first = new_session(staff, room=studio, practitioner=anna, last_date=date(2026, 12, 21))
    with pytest.raises(BusinessRuleError) as refused:
        new_session(staff, room=first.room, start_time=time(17, 15))
    message = refused.value.message
    assert "Studio 1 is taken on Mon 7 Dec 2026 at 17:00" in message
    assert "Mon 21 Dec 2026" in message and "28 Dec" not in message
    with pytest.raises(BusinessRuleError, match="Anna Bell is busy on Mon 7 Dec 2026 at 17:00"):
        new_session(staff, practitioner=first.practitioner, start_time=time(16, 45))
    # back to back is no clash, nor the same time on another weekday
    new_session(staff, room=first.room, start_time=time(17, 30))
    new_session(staff, room=first.room, first_date=date(2026, 12, 8))
    assert Session.objects.count() == 3


def test_a_cancelled_date_is_no_clash(staff):
    first = new_session(staff, last_date=date(2026, 12, 7))
    first.dates.update(cancelled=True, cancel_reason="Closed")
    new_session(staff, room=first.room, last_date=date(2026, 12, 7))


# --- sessions: change from a date onward --------------------------------------------------
def test_a_change_applies_from_its_date_and_past_dates_keep_their_times(staff):
    session = new_session(
        staff,
        first_date=date(2026, 12, 7),
        room=RoomFactory(name="Studio 1"),
        practitioner=UserFactory(first_name="Anna", last_name="Bell"),
    )
    # a date in the past, stored as it was held
    past = SessionDate.objects.create(
        session=session,
        date=date(2026, 11, 30),
        starts_at=session.dates.first().starts_at - timedelta(weeks=1),
        ends_at=session.dates.first().ends_at - timedelta(weeks=1),
    )
    new_room = RoomFactory(name="Hall")
    new_practitioner = UserFactory(first_name="Cleo", last_name="Dunn")
    changes = setup.change_session(
        session=session,
        effective_date=date(2026, 12, 14),
        start_time=time(18, 0),
        duration_minutes=45,
        practitioner=new_practitioner,
        room=new_room,
        capacity=3,
        actor=staff,
    )
    assert changes["Time"] == ["17:00", "18:00"]
    assert changes["Room"] == ["Studio 1", "Hall"]
    assert changes["Practitioner"] == ["Anna Bell", "Cleo Dunn"]
    times = {
        d.date: (f"{d.starts_at.astimezone():%H:%M}", (d.ends_at - d.starts_at).seconds // 60)
        for d in SessionDate.objects.filter(session=session)
    }
    assert times[date(2026, 11, 30)] == times[date(2026, 12, 7)] == ("17:00", 30)
    assert times[date(2026, 12, 14)] == times[date(2027, 5, 31)] == ("18:00", 45)
    session.refresh_from_db()
    assert (session.room, session.practitioner, session.capacity) == (
        new_room,
        new_practitioner,
        3,
    )
    change = SetupChange.objects.filter(session=session).first()
    assert change.effective_date == date(2026, 12, 14) and change.actor == staff
    assert change.changes["Capacity"] == ["2", "3"]
    past.refresh_from_db()
    assert f"{past.starts_at.astimezone():%H:%M}" == "17:00"


def test_a_change_that_changes_nothing_writes_nothing(staff):
    session = new_session(staff)
    same = {
        "start_time": session.start_time,
        "duration_minutes": 30,
        "practitioner": session.practitioner,
        "room": session.room,
        "capacity": 2,
    }
    before = SetupChange.objects.count()
    assert setup.change_session(session=session, effective_date=TODAY, actor=staff, **same) == {}
    assert SetupChange.objects.count() == before


def test_a_change_into_a_busy_room_lists_the_clashes(staff):
    session = new_session(staff)
    other = new_session(
        staff,
        room=RoomFactory(name="Hall"),
        start_time=time(18, 0),
        first_date=date(2026, 12, 21),
        last_date=date(2026, 12, 28),
    )
    with pytest.raises(BusinessRuleError) as refused:
        setup.change_session(
            session=session,
            effective_date=date(2026, 12, 14),
            start_time=time(18, 0),
            duration_minutes=30,
            practitioner=session.practitioner,
            room=other.room,
            capacity=2,
            actor=staff,
        )
    assert "Hall is taken on Mon 21 Dec 2026 at 18:00" in refused.value.message
    assert "Mon 28 Dec 2026" in refused.value.message
    assert Session.objects.get(pk=session.pk).start_time == time(17, 0)


def test_a_capacity_below_the_enrolled_on_a_coming_date_is_refused(staff):
    session = new_session(staff, capacity=3)
    for first in (date(2026, 12, 7), date(2026, 12, 7), date(2026, 12, 21)):
        SubscriptionFactory(session=session, first_date=first, end_date=date(2027, 1, 4))
    with pytest.raises(BusinessRuleError) as refused:
        setup.change_session(
            session=session,
            effective_date=TODAY,
            start_time=session.start_time,
            duration_minutes=30,
            practitioner=session.practitioner,
            room=session.room,
            capacity=2,
            actor=staff,
        )
    assert refused.value.field == "capacity"
    assert refused.value.message.startswith(
        "More clients than 2 are already enrolled on Mon 21 Dec 2026 (3), Mon 28 Dec 2026 (3):"
    )
    # the session holds one capacity for all its dates: a later date changes nothing
    with pytest.raises(BusinessRuleError, match="Mon 21 Dec 2026 \\(3\\), Mon 28 Dec 2026"):
        setup.change_session(
            session=session,
            effective_date=date(2027, 1, 4),
            start_time=session.start_time,
            duration_minutes=30,
            practitioner=session.practitioner,
            room=session.room,
            capacity=2,
            actor=staff,
        )
    setup.change_session(
        session=session,
        effective_date=date(2027, 1, 4),
        start_time=session.start_time,
        duration_minutes=30,
        practitioner=session.practitioner,
        room=session.room,
        capacity=4,
        actor=staff,
    )
    assert Session.objects.get(pk=session.pk).capacity == 4


def test_a_change_from_a_past_date_is_refused(staff):
    session = new_session(staff)
    with pytest.raises(BusinessRuleError, match="past dates keep what they were"):
        setup.change_session(
            session=session,
            effective_date=TODAY - timedelta(days=1),
            start_time=time(9, 0),
            duration_minutes=30,
            practitioner=session.practitioner,
            room=session.room,
            capacity=2,
            actor=staff,
        )


# --- sessions: end ------------------------------------------------------------------------
def test_ending_a_session_ends_its_subscriptions_and_removes_later_dates(staff):
    session = new_session(staff, capacity=3)
    parent = ClientFactory(first_name="Pat", last_name="Payer")
    child = SubscriptionFactory(
        session=session,
        relationship=RelationshipFactory(payer=parent, attendee=ClientFactory(first_name="Kit")),
    )
    adult = SubscriptionFactory(session=session, end_date=date(2027, 3, 1))
    later = SubscriptionFactory(session=session, first_date=date(2027, 1, 11))
    done = SubscriptionFactory(
        session=session, first_date=date(2026, 12, 7), end_date=date(2026, 12, 14)
    )
    booked = BookingFactory(session_date=session.dates.get(date=date(2027, 1, 4)))

    preview = setup.preview_end(session=session, last_date=date(2026, 12, 28), actor=staff)
    assert {e.subscription.pk for e in preview.subscriptions} == {child.pk, adult.pk, later.pk}
    assert Subscription.objects.get(pk=child.pk).end_date is None  # nothing written yet

    ending = setup.end_session(session=session, last_date=date(2026, 12, 28), actor=staff)
    ends = dict(Subscription.objects.values_list("pk", "end_date"))
    assert ends[child.pk] == ends[adult.pk] == date(2026, 12, 29)
    assert ends[later.pk] == date(2027, 1, 11)  # starts after the last date: never attends
    assert ends[done.pk] == date(2026, 12, 14)
    assert list(session.dates.filter(cancelled=False).values_list("date", flat=True)) == [
        date(2026, 12, 7),
        date(2026, 12, 14),
        date(2026, 12, 21),
        date(2026, 12, 28),
    ]
    kept = session.dates.get(date=date(2027, 1, 4))  # a booking is on it: cancelled
    assert kept.cancelled and kept.cancel_reason == "The session ended"
    assert session.dates.count() == 5
    assert Session.objects.get(pk=session.pk).last_date == date(2026, 12, 28)
    events = ClientEvent.objects.filter(kind=ClientEvent.Kind.SESSION_ENDED)
    assert set(events.values_list("client_id", flat=True)) == {
        child.client_id,
        adult.client_id,
        later.client_id,
        booked.client_id,
    }
    assert "paid by Pat Payer" in events.get(client=child.client).summary
    assert len(ending.removed) > 20

    # confirming again changes nothing more
    changes, events_before = SetupChange.objects.count(), events.count()
    again = setup.end_session(session=session, last_date=date(2026, 12, 28), actor=staff)
    assert not again.subscriptions and not again.removed
    assert SetupChange.objects.count() == changes and events.count() == events_before


def test_a_session_cannot_end_in_the_past(staff):
    session = new_session(staff)
    with pytest.raises(BusinessRuleError, match="cannot be in the past") as refused:
        setup.end_session(session=session, last_date=TODAY - timedelta(days=1), actor=staff)
    assert refused.value.field == "last_date"


def test_extending_an_ended_session_generates_only_dates_to_come(staff):
    session = new_session(staff, first_date=date(2026, 12, 7), last_date=date(2026, 12, 14))
    session.dates.filter(date=date(2026, 12, 14)).delete()  # say it was removed on purpose
    with time_machine.travel("2026-12-16 08:00 +00:00", tick=False):
        setup.end_session(session=session, last_date=date(2027, 1, 4), actor=staff)
    assert list(session.dates.values_list("date", flat=True)) == [
        date(2026, 12, 7),
        date(2026, 12, 21),
        date(2026, 12, 28),
        date(2027, 1, 4),
    ]

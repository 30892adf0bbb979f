"""Closures and single-date cancellations, through their services: every rule,
every refusal with its message, the preview, undo, the emails and the dates
generated later inside a closure."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.mail import build_message
from opus.models import OutboundEmail
from scheduling import closures
from scheduling.emails import closure_context
from scheduling.models import Booking, Closure, SessionDate, Subscription
from scheduling.services import extend_schedule, generate_session_dates
from tests.factories import SubscriptionFactory, UserFactory
from tests.support.closures import build_closure_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(staff):
    return build_closure_world()


def close(world, actor, *, key=None, **kwargs):
    params = {
        "scope": Closure.Scope.PRACTICE,
        "first_date": world.start,
        "last_date": world.end,
        "reason": "Christmas break",
        "request_key": key or uuid.uuid4(),
        "actor": actor,
    }
    params.update(kwargs)
    return closures.close_dates(**params)


def names(attendees):
    return [(a.client.first_name, a.payer.first_name, a.booked) for a in attendees]


# --- the preview --------------------------------------------------------------------------


def preview(world, actor, **kwargs):
    params = {
        "scope": Closure.Scope.PRACTICE,
        "first_date": world.start,
        "last_date": world.end,
        "reason": "Christmas break",
        "actor": actor,
    }
    params.update(kwargs)
    return closures.preview_closure(**params)


def test_the_practice_preview_lists_every_date_and_client_grouped_by_day(world, staff):
    affected = preview(world, staff)
    expected = sorted(world.dates(world.piano) + world.dates(world.guitar), key=lambda d: d.date)
    assert [item.session_date for item in affected.dates] == expected
    assert [day.day for day in affected.days] == [d.date for d in expected]
    first = affected.dates[0]
    assert first.session_date.session == world.piano
    # Olivia is absent by request on that date: not affected; Mia's one-off booking is
    assert names(first.attendees) == [
        ("Ava", "Ava", False),
        ("Mia", "Mia", True),
        ("Leo", "Oliver", False),
        ("Sam", "Oliver", False),
    ]
    assert "Olivia" in [a.client.first_name for a in affected.dates[2].attendees]
    assert {c.first_name for c in affected.clients} == {
        "Ava",
        "Mia",
        "Leo",
        "Sam",
        "Oliver",
        "Olivia",
    }
    assert not SessionDate.objects.filter(cancelled=True).exists()  # a preview changes nothing


def test_a_room_closure_previews_only_that_rooms_dates(world, staff):
    affected = preview(world, staff, scope=Closure.Scope.ROOM, room=world.guitar.room)
    assert [i.session_date for i in affected.dates] == world.dates(world.guitar)
    assert {c.first_name for c in affected.clients} == {"Ava"}


def test_a_practitioner_closure_previews_only_their_dates(world, staff):
    affected = preview(
        world, staff, scope=Closure.Scope.PRACTITIONER, practitioner=world.piano.practitioner
    )
    assert [i.session_date for i in affected.dates] == world.dates(world.piano)
    # the scope keeps only what it names: a room sent along is ignored
    same = preview(
        world,
        staff,
        scope=Closure.Scope.PRACTITIONER,
        practitioner=world.piano.practitioner,
        room=world.guitar.room,
    )
    assert [i.session_date for i in same.dates] == world.dates(world.piano)


def test_a_preview_runs_a_fixed_number_of_queries(world, staff, django_assert_num_queries):
    with django_assert_num_queries(4):
        preview(world, staff)
    for _ in range(5):  # more clients on every date
        SubscriptionFactory(session=world.piano, first_date=world.piano.first_date)
        SubscriptionFactory(session=world.guitar, first_date=world.guitar.first_date)
    with django_assert_num_queries(4):
        preview(world, staff, last_date=world.end + timedelta(weeks=4))


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"reason": "   "}, "reason", "Give a reason"),
        ({"reason": "x" * 201}, "reason", "under 200 characters"),
        ({"first_date": "yesterday"}, "first_date", "has passed"),
        ({"last_date": "before"}, "last_date", "is before the first date"),
        ({"last_date": "in two years"}, "last_date", "at most a year"),
        ({"scope": Closure.Scope.ROOM}, "room", "Choose the room"),
        ({"scope": Closure.Scope.PRACTITIONER}, "practitioner", "Choose the practitioner"),
        ({"scope": "galaxy"}, "scope", "Choose what to close"),
    ],
)
def test_a_closure_is_refused_with_a_message_by_its_field(world, staff, change, field, message):
    dates = {
        "yesterday": world.today - timedelta(days=1),
        "before": world.start - timedelta(days=1),
        "in two years": world.start + timedelta(days=800),
    }
    change = {k: dates.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    for call in (close, preview):
        with pytest.raises(BusinessRuleError) as error:
            call(world, staff, **change)
        assert message in error.value.message
        assert error.value.field == field
    assert not Closure.objects.exists()


@pytest.mark.parametrize("who", ["practitioner", "nobody"])
def test_only_staff_may_close_or_preview(world, who):
    actor = world.piano.practitioner if who == "practitioner" else None
    for call in (close, preview):
        with pytest.raises(PermissionDenied):
            call(world, actor)
    assert not Closure.objects.exists()
    assert not SessionDate.objects.filter(cancelled=True).exists()


# --- confirming ---------------------------------------------------------------------------------


def test_confirming_cancels_the_dates_and_touches_no_subscription_or_booking(world, staff):
    subscriptions = list(Subscription.objects.values().order_by("pk"))
    bookings = list(Booking.objects.values().order_by("pk"))
    closed = close(world, staff)
    closure = closed.closure
    assert closed.created and closure.state == Closure.State.ACTIVE
    assert closure.created_by == staff
    expected = {d.pk for d in world.dates(world.piano) + world.dates(world.guitar)}
    cancelled = SessionDate.objects.filter(cancelled=True)
    assert {d.pk for d in cancelled} == expected
    assert {(d.cancel_reason, d.closure_id) for d in cancelled} == {("Christmas break", closure.pk)}
    # dates outside the range are held
    assert SessionDate.objects.filter(date__gt=world.end, cancelled=False).exists()
    assert list(Subscription.objects.values().order_by("pk")) == subscriptions
    assert list(Booking.objects.values().order_by("pk")) == bookings  # still booked
    assert not OutboundEmail.objects.exists()  # nobody told unless asked


def test_every_affected_client_gets_a_line_of_history(world, staff):
    close(world, staff)
    events = {
        e.client.first_name: e
        for e in ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_CANCELLED)
    }
    assert set(events) == {"Ava", "Mia", "Leo", "Sam", "Oliver", "Olivia"}
    assert "4 session dates" in events["Ava"].summary
    assert "Christmas break" in events["Ava"].summary
    assert "for Sam Rivera" in events["Oliver"].summary
    assert "for Leo Rivera" in events["Oliver"].summary
    assert events["Ava"].actor == staff
    assert events["Ava"].staff_only  # two practitioners' sessions


def test_a_double_submit_makes_one_closure(world, staff):
    key = uuid.uuid4()
    first = close(world, staff, key=key)
    again = close(world, staff, key=key)
    assert first.created and not again.created
    assert again.closure == first.closure
    assert Closure.objects.count() == 1
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_CANCELLED).count() == 6


def test_a_date_already_cancelled_stays_with_its_own_cancellation(world, staff):
    first_piano = world.dates(world.piano)[0]
    closures.cancel_session_date(session_date=first_piano, reason="Tuner visit", actor=staff)
    closure = close(world, staff).closure
    first_piano.refresh_from_db()
    assert (first_piano.cancel_reason, first_piano.closure) == ("Tuner visit", None)
    assert closure.dates.count() == 3


def test_a_date_that_has_started_is_left_as_it_was(world, staff):
    first_piano = world.dates(world.piano)[0]
    with time_machine.travel(first_piano.starts_at + timedelta(minutes=5)):
        close(world, staff, first_date=first_piano.date)
    first_piano.refresh_from_db()
    assert not first_piano.cancelled


# --- the emails -----------------------------------------------------------------------------------


def test_with_notify_each_person_gets_one_email_listing_their_dates(world, staff):
    closed = close(world, staff, notify=True)
    rows = {row.to_address: row for row in OutboundEmail.objects.all()}
    assert closed.emails == len(rows) == 6  # Ava, Mia, Leo, Sam, Oliver, Olivia
    oliver = rows[world.oliver.email]
    assert oliver.template == "closure" and oliver.client == world.oliver
    # Oliver pays for Sam and Leo: one email, naming both on both Piano dates
    assert len(oliver.context["lines"]) == 4
    assert sum("(for Sam Rivera)" in line for line in oliver.context["lines"]) == 2
    ava = rows[world.ava.email]
    assert len(ava.context["lines"]) == 4  # her Piano and Guitar dates, for herself
    assert not any("(for " in line for line in ava.context["lines"])
    message = build_message("closure", to=oliver.to_address, context=closure_context(oliver))
    assert "Hello Oliver" in message.body
    assert "Christmas break" in message.subject
    assert "(for Leo Rivera)" in message.body


def test_a_client_without_an_email_address_is_skipped(world, staff):
    world.oliver.email = ""
    world.oliver.save()
    close(world, staff, notify=True)
    assert OutboundEmail.objects.count() == 5


def test_an_undone_closure_sends_nothing_left_in_the_outbox(world, staff):
    closure = close(world, staff, notify=True).closure
    closures.undo_closure(closure=closure, actor=staff)
    row = OutboundEmail.objects.first()
    assert closure_context(row) is None


# --- dates generated later ------------------------------------------------------------------


def _one_session_at_a_time(world, until):
    for session in (world.piano, world.guitar):
        generate_session_dates(session=session, until=until)


def _the_rolling_horizon(world, until):
    extend_schedule(until=until)  # every session at once, in batches


@pytest.mark.parametrize("generate", [_one_session_at_a_time, _the_rolling_horizon])
def test_dates_generated_inside_an_active_closure_come_out_cancelled(world, staff, generate):
    far = world.today + timedelta(weeks=10)
    closure = close(world, staff, first_date=far, last_date=far + timedelta(days=6)).closure
    room = close(
        world,
        staff,
        scope=Closure.Scope.ROOM,
        room=world.guitar.room,
        first_date=far + timedelta(weeks=1),
        last_date=far + timedelta(weeks=1, days=6),
        reason="Floor sanding",
    ).closure
    assert closure.dates.count() == 0 and room.dates.count() == 0  # not generated yet
    generate(world, world.today + timedelta(weeks=14))
    inside = SessionDate.objects.filter(date__gte=far, date__lte=far + timedelta(days=6))
    assert inside.count() == 2
    assert {(d.cancelled, d.cancel_reason, d.closure_id) for d in inside} == {
        (True, "Christmas break", closure.pk)
    }
    second = SessionDate.objects.filter(
        date__gte=far + timedelta(weeks=1), date__lte=far + timedelta(weeks=1, days=6)
    )
    assert {(d.session_id, d.cancelled, d.closure_id) for d in second} == {
        (world.piano.pk, False, None),
        (world.guitar.pk, True, room.pk),
    }
    assert not SessionDate.objects.filter(
        date__gt=far + timedelta(weeks=2), cancelled=True
    ).exists()


def test_dates_generated_inside_an_undone_closure_are_held(world, staff):
    far = world.today + timedelta(weeks=10)
    closure = close(world, staff, first_date=far, last_date=far + timedelta(days=6)).closure
    closures.undo_closure(closure=closure, actor=staff)
    generate_session_dates(session=world.piano, until=world.today + timedelta(weeks=14))
    assert not SessionDate.objects.filter(session=world.piano, date__gt=world.today).filter(
        cancelled=True
    )


# --- undo -----------------------------------------------------------------------------------


def test_undo_closure_reopens_its_dates_still_to_come_and_keeps_the_past_ones(world, staff):
    closure = close(world, staff).closure
    first_piano = world.dates(world.piano)[0]
    with time_machine.travel(first_piano.ends_at + timedelta(hours=1)):
        result = closures.undo_closure(closure=closure, actor=staff)
    assert result.done
    assert first_piano not in result.reopened and len(result.reopened) == 3
    first_piano.refresh_from_db()
    assert first_piano.cancelled and first_piano.closure == closure  # past: stays
    assert SessionDate.objects.filter(cancelled=True).count() == 1
    closure.refresh_from_db()
    assert closure.state == Closure.State.UNDONE and closure.undone_by == staff
    reopened = ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_REOPENED)
    assert {e.client.first_name for e in reopened} == {"Ava", "Leo", "Sam", "Oliver", "Olivia"}


def test_undoing_twice_does_nothing_more(world, staff):
    closure = close(world, staff).closure
    closures.undo_closure(closure=closure, actor=staff)
    events = ClientEvent.objects.count()
    again = closures.undo_closure(closure=closure, actor=staff)
    assert not again.done and again.reopened == []
    assert ClientEvent.objects.count() == events


def test_a_date_a_later_active_closure_also_covers_stays_cancelled(world, staff):
    """Decided: undoing a closure hands its dates that another active closure
    covers to that closure (its reason), and they stay cancelled."""
    practice = close(world, staff).closure
    studio = close(
        world, staff, scope=Closure.Scope.ROOM, room=world.piano.room, reason="Piano tuning"
    ).closure
    assert studio.dates.count() == 0  # already cancelled by the first
    result = closures.undo_closure(closure=practice, actor=staff)
    assert [sd for sd, _ in result.kept] == world.dates(world.piano)
    assert "Piano tuning also closes it" in result.kept[0][1]
    for sd in world.dates(world.piano):
        assert (sd.cancelled, sd.cancel_reason, sd.closure_id) == (True, "Piano tuning", studio.pk)
    assert not any(sd.cancelled for sd in world.dates(world.guitar))
    # undoing the second re-opens them in turn
    closures.undo_closure(closure=studio, actor=staff)
    assert not SessionDate.objects.filter(cancelled=True).exists()


def test_a_date_filled_beyond_capacity_while_cancelled_stays_cancelled(world, staff):
    closure = close(world, staff).closure
    second_guitar = world.dates(world.guitar)[1]
    for _ in range(6):  # the Guitar session holds 6: Ava plus 6
        SubscriptionFactory(session=world.guitar, first_date=second_guitar.date)
    result = closures.undo_closure(closure=closure, actor=staff)
    assert [sd for sd, _ in result.kept] == [second_guitar]
    assert "7 clients are enrolled for 6 places" in result.kept[0][1]
    with pytest.raises(BusinessRuleError, match="stays cancelled: 7 clients"):
        closures.reopen_session_date(session_date=second_guitar, actor=staff)


@pytest.mark.parametrize("who", ["practitioner", "nobody"])
def test_only_staff_may_undo(world, staff, who):
    closure = close(world, staff).closure
    actor = world.piano.practitioner if who == "practitioner" else None
    with pytest.raises(PermissionDenied):
        closures.undo_closure(closure=closure, actor=actor)
    with pytest.raises(PermissionDenied):
        closures.reopen_session_date(session_date=world.dates(world.piano)[0], actor=actor)
    with pytest.raises(PermissionDenied):
        closures.cancel_session_date(
            session_date=world.dates(world.piano)[1], reason="x", actor=actor
        )
    assert SessionDate.objects.filter(cancelled=True).count() == 4


# --- one date -------------------------------------------------------------------------------


def test_cancel_one_date_then_undo_it(world, staff):
    sd = world.dates(world.piano)[0]
    assert closures.cancel_session_date(session_date=sd, reason=" Tuner  visit ", actor=staff)
    assert not closures.cancel_session_date(session_date=sd, reason="Again", actor=staff)
    sd.refresh_from_db()
    assert (sd.cancelled, sd.cancel_reason, sd.closure) == (True, "Tuner visit", None)
    cancelled = ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_CANCELLED)
    assert {e.client.first_name for e in cancelled} == {"Ava", "Mia", "Leo", "Sam", "Oliver"}
    assert closures.reopen_session_date(session_date=sd, actor=staff)
    assert not closures.reopen_session_date(session_date=sd, actor=staff)  # a second click
    sd.refresh_from_db()
    assert (sd.cancelled, sd.cancel_reason) == (False, "")
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_REOPENED).count() == 5


def test_cancelling_one_date_needs_a_reason_and_a_date_to_come(world, staff):
    sd = world.dates(world.piano)[0]
    with pytest.raises(BusinessRuleError, match="Give a reason") as error:
        closures.cancel_session_date(session_date=sd, reason="  ", actor=staff)
    assert error.value.field == "reason"
    past = SessionDate.objects.filter(session=world.piano, date__lt=world.today).first()
    with pytest.raises(BusinessRuleError, match="has already started or passed"):
        closures.cancel_session_date(session_date=past, reason="Snow", actor=staff)
    assert not SessionDate.objects.filter(cancelled=True).exists()


def test_undo_cancellation_is_refused_for_a_past_date(world, staff):
    past = SessionDate.objects.filter(session=world.piano, date__lt=world.today).first()
    SessionDate.objects.filter(pk=past.pk).update(cancelled=True, cancel_reason="Snow")
    with pytest.raises(BusinessRuleError, match="can no longer be re-opened: it stays cancelled"):
        closures.reopen_session_date(session_date=past, actor=staff)
    past.refresh_from_db()
    assert past.cancelled


def test_one_date_of_a_closure_can_be_reopened_and_the_closure_then_leaves_it(world, staff):
    closure = close(world, staff).closure
    sd = world.dates(world.piano)[0]
    assert closures.reopen_session_date(session_date=sd, actor=staff)
    sd.refresh_from_db()
    assert (sd.cancelled, sd.closure) == (False, None)
    assert closure.dates.count() == 3
    closures.undo_closure(closure=closure, actor=staff)
    assert not SessionDate.objects.filter(cancelled=True).exists()


def test_a_date_another_active_closure_covers_cannot_be_reopened_alone(world, staff):
    sd = world.dates(world.piano)[0]
    closures.cancel_session_date(session_date=sd, reason="Tuner visit", actor=staff)
    close(world, staff)
    with pytest.raises(BusinessRuleError, match=r"“Christmas break”.*also covers this date"):
        closures.reopen_session_date(session_date=sd, actor=staff)
    sd.refresh_from_db()
    assert sd.cancelled


def test_the_system_may_close_and_names_nobody(world):
    closure = close(world, SYSTEM).closure
    assert closure.created_by is None


def test_a_staff_user_deactivated_is_refused(world):
    former = UserFactory(role="staff", is_active=False)
    with pytest.raises(PermissionDenied):
        close(world, former)


def test_closure_and_dates_rules_hold_in_the_database(world, staff):
    with pytest.raises(IntegrityError), transaction.atomic():
        Closure.objects.create(
            scope=Closure.Scope.ROOM,
            first_date=world.start,
            last_date=world.end,
            reason="x",
            request_key=uuid.uuid4(),
        )
    closure = close(world, staff).closure
    with pytest.raises(IntegrityError), transaction.atomic():
        SessionDate.objects.filter(closure=closure).update(cancelled=False, cancel_reason="")


def test_a_closure_that_has_ended_cannot_be_undone(world, staff):
    closure = close(world, staff).closure
    with (
        time_machine.travel(world.end + timedelta(days=2)),
        pytest.raises(BusinessRuleError, match="its dates have passed and stay cancelled"),
    ):
        closures.undo_closure(closure=closure, actor=staff)
    closure.refresh_from_db()
    assert closure.state == Closure.State.ACTIVE
    assert SessionDate.objects.filter(cancelled=True).count() == 4

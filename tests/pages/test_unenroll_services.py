"""'Unenroll from this date only' and its undo: the rules, the history, the locks."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from clients.models import Client, ClientEvent
from opus.lib.errors import BusinessRuleError
from scheduling.models import DateAbsence, SessionDate, Subscription
from scheduling.selectors import roster_for
from scheduling.services import undo_unenroll_from_date, unenroll_from_date
from tests.factories import (
    BookingFactory,
    SessionDateFactory,
    SubscriptionFactory,
    coming_date,
)

pytestmark = pytest.mark.django_db


def events(client, kind):
    return ClientEvent.objects.filter(client=client, kind=kind)


def test_unenrolling_skips_one_date_and_keeps_the_subscription(world, staff):
    before = Client.objects.get(pk=world.sam.pk).last_activity_at
    absence = unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert absence.created_by == staff
    assert DateAbsence.objects.filter(subscription=world.sam_sub, session_date=world.date).exists()
    subscription = Subscription.objects.get(pk=world.sam_sub.pk)
    assert subscription.end_date is None and subscription.first_date == world.sam_sub.first_date
    event = events(world.sam, ClientEvent.Kind.UNENROLLED_DATE).get()
    assert event.actor == staff
    assert "Piano, 30 min private" in event.summary and "only" in event.summary
    assert Client.objects.get(pk=world.sam.pk).last_activity_at > before
    roster = roster_for(world.date)
    assert [e.client for e in roster.absent] == [world.sam]
    assert world.sam not in [e.client for e in roster.attending]


def test_the_next_date_is_untouched(world, staff):
    later = coming_date(world.session, weeks=2)
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert world.sam in [e.client for e in roster_for(later).attending]


def test_unenrolling_twice_changes_nothing_more(world, staff):
    first = unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    second = unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert first.pk == second.pk
    assert DateAbsence.objects.count() == 1
    assert events(world.sam, ClientEvent.Kind.UNENROLLED_DATE).count() == 1


def test_the_sessions_practitioner_may_unenroll_another_may_not(world, therapist, other_therapist):
    with pytest.raises(PermissionDenied):
        unenroll_from_date(
            subscription=world.sam_sub, session_date=world.date, actor=other_therapist
        )
    assert not DateAbsence.objects.exists()
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=therapist)
    assert DateAbsence.objects.count() == 1


def test_a_cancelled_date_is_refused_with_a_reason(world, staff):
    SessionDate.objects.filter(pk=world.date.pk).update(
        cancelled=True, cancel_reason="Bank holiday"
    )
    with pytest.raises(BusinessRuleError, match="cancelled \\(Bank holiday\\)"):
        unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert not DateAbsence.objects.exists()
    assert not events(world.sam, ClientEvent.Kind.UNENROLLED_DATE).exists()


def test_a_past_date_is_refused(world, staff):
    past_day = world.date.date - timedelta(weeks=2)
    past = SessionDateFactory(session=world.session, date=past_day)
    assert past.is_past
    with pytest.raises(BusinessRuleError, match="already started or passed"):
        unenroll_from_date(subscription=world.sam_sub, session_date=past, actor=staff)
    assert not DateAbsence.objects.exists()


def test_a_date_the_subscription_does_not_cover_is_refused(world, staff):
    ended = SubscriptionFactory(
        session=world.session, end_date=world.date.date, first_date=world.session.first_date
    )
    with pytest.raises(BusinessRuleError, match="not enrolled in this session on"):
        unenroll_from_date(subscription=ended, session_date=world.date, actor=staff)
    assert not DateAbsence.objects.exists()


def test_a_subscription_of_another_session_is_refused(world, staff):
    elsewhere = SubscriptionFactory()
    with pytest.raises(BusinessRuleError, match="another session"):
        unenroll_from_date(subscription=elsewhere, session_date=world.date, actor=staff)


def test_a_booked_client_is_not_unenrolled_but_told_why(world, staff):
    """A one-off booking has no subscription: given the booked client's (ended)
    subscription, the refusal says that a booking is cancelled instead."""
    ended = SubscriptionFactory(
        session=world.session,
        first_date=world.session.first_date,
        end_date=world.session.first_date + timedelta(days=7),
    )
    BookingFactory(relationship=ended.relationship, session_date=world.date)
    with pytest.raises(BusinessRuleError, match="one-off booking is cancelled, not unenrolled"):
        unenroll_from_date(subscription=ended, session_date=world.date, actor=staff)


def test_undo_puts_the_client_back(world, staff):
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert undo_unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert not DateAbsence.objects.exists()
    assert world.sam in [e.client for e in roster_for(world.date).attending]
    event = events(world.sam, ClientEvent.Kind.REENROLLED_DATE).get()
    assert event.actor == staff and "undone" in event.summary


def test_undo_twice_does_nothing_the_second_time(world, staff):
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    undo_unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert not undo_unenroll_from_date(
        subscription=world.sam_sub, session_date=world.date, actor=staff
    )
    assert events(world.sam, ClientEvent.Kind.REENROLLED_DATE).count() == 1


def test_undo_is_refused_when_the_seat_was_taken(world, staff):
    world.session.capacity = 2
    world.session.save()
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    BookingFactory(session_date=world.date)  # takes Sam's freed seat
    with pytest.raises(BusinessRuleError, match="full on this date"):
        undo_unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert DateAbsence.objects.count() == 1


def test_undo_by_another_practitioner_is_refused(world, staff, other_therapist):
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    with pytest.raises(PermissionDenied):
        undo_unenroll_from_date(
            subscription=world.sam_sub, session_date=world.date, actor=other_therapist
        )
    assert DateAbsence.objects.count() == 1


def test_undo_on_a_date_that_has_passed_is_refused(world, staff):
    unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    started = timezone.now() - timedelta(minutes=5)
    SessionDate.objects.filter(pk=world.date.pk).update(
        starts_at=started, ends_at=started + timedelta(minutes=30)
    )
    with pytest.raises(BusinessRuleError, match="already started or passed"):
        undo_unenroll_from_date(subscription=world.sam_sub, session_date=world.date, actor=staff)
    assert DateAbsence.objects.count() == 1

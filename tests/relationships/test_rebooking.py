"""Cancel and rebook the coming sessions of the old relationship under the new one."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from frontdesk import relationship_flows as services
from frontdesk import selectors
from opus.lib.errors import BusinessRuleError
from scheduling.models import Booking, Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def migrated(therapist):
    """Sam's relationship, migrated; with a weekly subscription and two coming
    bookings still under the old one, and a past booking."""
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"),
        attendee=ClientFactory(first_name="Sam"),
        practitioner=therapist,
    )
    session = SessionFactory(practitioner=therapist, capacity=3)
    generate_session_dates(session=session, until=timezone.localdate() + timedelta(weeks=6))
    subscription = SubscriptionFactory(relationship=old, session=session)
    other = SessionFactory(practitioner=therapist, weekday=2, capacity=3)
    generate_session_dates(session=other, until=timezone.localdate() + timedelta(weeks=6))
    dates = list(other.dates.order_by("date"))
    past, *coming = [d for d in dates if d.starts_at < timezone.now()][-1:] + [
        d for d in dates if d.starts_at >= timezone.now()
    ][:2]
    bookings = [
        Booking.objects.create(
            client=old.attendee, session_date=d, relationship=old, price=Decimal(40)
        )
        for d in (past, *coming)
    ]
    PaymentMethodFactory(client=old.attendee)
    migration = services.start_migration(
        relationship=old, actor=therapist, requested_by="attendee", request_note="asked"
    )
    new = services.confirm_migration(migration=migration, actor=therapist).new_relationship
    old.refresh_from_db()
    return {
        "old": old,
        "new": new,
        "subscription": subscription,
        "past": bookings[0],
        "coming": bookings[1:],
    }


def test_the_coming_sessions_under_the_old_relationship_are_listed(migrated, therapist):
    coming = selectors.coming_under_old(migrated["new"], therapist)
    assert coming.old == migrated["old"]
    assert set(coming.bookings) == set(migrated["coming"])
    assert coming.subscriptions == [migrated["subscription"]]


def test_rebooking_moves_them_all_and_leaves_the_past_with_the_old_payer(migrated, therapist):
    new, old = migrated["new"], migrated["old"]
    result = services.rebook_coming_sessions(
        relationship=new,
        actor=therapist,
        booking_ids=[b.pk for b in migrated["coming"]],
        subscription_ids=[migrated["subscription"].pk],
    )
    assert result.moved == 3
    for booking in migrated["coming"]:
        booking.refresh_from_db()
        assert booking.status == "cancelled" and booking.rebooked_as.relationship == new
    migrated["past"].refresh_from_db()
    assert migrated["past"].status == "booked" and migrated["past"].relationship == old
    old_sub = Subscription.objects.get(pk=migrated["subscription"].pk)
    new_sub = Subscription.objects.get(relationship=new)
    assert old_sub.end_date == new_sub.first_date >= timezone.localdate()
    assert new_sub.price == old_sub.price and new_sub.end_date is None
    assert selectors.coming_under_old(new, therapist).count == 0


def test_a_chosen_few_can_be_moved(migrated, therapist):
    services.rebook_coming_sessions(
        relationship=migrated["new"],
        actor=therapist,
        booking_ids=[migrated["coming"][0].pk],
        subscription_ids=[],
    )
    assert selectors.coming_under_old(migrated["new"], therapist).count == 2


def test_rebooking_is_all_or_nothing(migrated, therapist):
    gone = migrated["coming"][1]
    Booking.objects.filter(pk=gone.pk).update(status="cancelled", cancelled_at=timezone.now())
    with pytest.raises(BusinessRuleError, match="nothing was changed"):
        services.rebook_coming_sessions(
            relationship=migrated["new"],
            actor=therapist,
            booking_ids=[b.pk for b in migrated["coming"]],
            subscription_ids=[migrated["subscription"].pk],
        )
    assert Booking.objects.filter(relationship=migrated["new"]).count() == 0
    assert Subscription.objects.get(pk=migrated["subscription"].pk).end_date is None


def test_nothing_is_charged_to_the_old_payer_afterwards(migrated, therapist):
    old_payer = migrated["old"].payer
    before = Invoice.objects.filter(payer=old_payer).count()
    services.rebook_coming_sessions(
        relationship=migrated["new"],
        actor=therapist,
        booking_ids=[b.pk for b in migrated["coming"]],
        subscription_ids=[migrated["subscription"].pk],
    )
    session_date = (
        migrated["coming"][0]
        .session_date.session.dates.filter(starts_at__gte=timezone.now())
        .order_by("date")
        .last()
    )
    services.book_session(relationship=migrated["new"], actor=therapist, session_date=session_date)
    assert Invoice.objects.filter(payer=old_payer).count() == before
    assert Invoice.objects.filter(payer=migrated["new"].attendee).count() == 1


def test_the_old_relationship_cannot_book_any_more(migrated, therapist):
    assert "ended" in selectors.booking_block(migrated["old"])
    with pytest.raises(BusinessRuleError, match="ended"):
        services.book_session(
            relationship=migrated["old"],
            actor=therapist,
            session_date=migrated["coming"][0].session_date,
        )

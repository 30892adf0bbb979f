"""Ending a relationship: a date and a reason; refused while sessions after it are
booked under it, unless they are moved (the rebooking) or ended too (issue 11)."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from clients.models import ClientEvent
from frontdesk import relationship_flows as services
from relationships.models import Relationship
from scheduling.models import Booking, Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(therapist):
    """Oliver pays for Sam: a weekly Piano subscription (dates past and coming) and
    two coming Guitar bookings. Sam also pays for themselves (another relationship)."""
    today = timezone.localdate()
    weekday = (today.weekday() + 2) % 7
    first = next_weekday(weekday, today - timedelta(weeks=3))
    piano = SessionFactory(
        service=ServiceFactory(name="Piano", price=Decimal(30)),
        practitioner=therapist,
        weekday=weekday,
        first_date=first,
    )
    guitar = SessionFactory(
        service=ServiceFactory(name="Guitar", price=Decimal(40)),
        practitioner=therapist,
        weekday=weekday,
        start_time=time(15, 0),
        first_date=first,
    )
    for session in (piano, guitar):
        generate_session_dates(session=session, until=today + timedelta(weeks=8))
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"), attendee=sam
    )
    own = RelationshipFactory(payer=sam, attendee=sam)
    subscription = SubscriptionFactory(relationship=relationship, session=piano, first_date=first)
    bookings = [
        Booking.objects.create(client=sam, session_date=d, relationship=relationship, price=40)
        for d in guitar.dates.filter(date__gt=today).order_by("date")[:2]
    ]
    return {
        "relationship": relationship,
        "own": own,
        "subscription": subscription,
        "bookings": bookings,
        "today": today,
    }


def end(world, actor, **kwargs):
    return services.end_relationship(
        relationship=world["relationship"],
        ended_on=kwargs.pop("ended_on", world["today"]),
        reason=kwargs.pop("reason", "Moved away"),
        actor=actor,
        **kwargs,
    )


def test_refused_while_sessions_are_booked_after_the_end_date_listing_them(world, staff):
    with pytest.raises(services.SessionsStillBooked) as refused:
        end(world, staff)
    assert refused.value.subscriptions == [world["subscription"]]
    assert refused.value.bookings == world["bookings"]
    assert "3 coming sessions are still booked" in refused.value.message
    world["relationship"].refresh_from_db()
    assert world["relationship"].is_active


def test_end_them_too_ends_the_subscription_the_day_after_and_cancels_the_bookings(world, staff):
    result = end(world, staff, coming=services.END_CANCEL)
    assert result.ended == 3
    relationship = Relationship.objects.get(pk=world["relationship"].pk)
    assert (relationship.status, relationship.ended_on) == ("ended", world["today"])
    assert relationship.end_reason == "Moved away"
    subscription = Subscription.objects.get(pk=world["subscription"].pk)
    assert subscription.end_date == world["today"] + timedelta(days=1)
    assert set(Booking.objects.values_list("status", flat=True)) == {"cancelled"}
    assert "Relationship ended: Moved away" in Booking.objects.first().cancel_reason
    for client in (relationship.attendee, relationship.payer):
        assert ClientEvent.objects.filter(
            client=client, kind="relationship", summary__contains="ended"
        ).exists()


def test_move_them_rebooks_the_coming_sessions_under_another_relationship(world, staff):
    result = end(world, staff, coming=services.END_MOVE, move_to=world["own"])
    assert result.moved == 3
    assert Booking.objects.filter(relationship=world["own"], status="booked").count() == 2
    assert Subscription.objects.filter(relationship=world["own"]).count() == 1
    assert not Booking.objects.filter(relationship=world["relationship"], status="booked").exists()
    assert Relationship.objects.get(pk=world["relationship"].pk).status == "ended"


def test_move_them_needs_another_active_relationship_of_the_attendee(world, staff):
    stranger = RelationshipFactory()
    for target in (None, stranger, world["relationship"]):
        with pytest.raises(services.BusinessRuleError) as refused:
            end(world, staff, coming=services.END_MOVE, move_to=target)
        assert refused.value.field == "move_to"
    assert Relationship.objects.get(pk=world["relationship"].pk).is_active


def test_the_end_date_is_neither_before_the_start_nor_in_the_future(world, staff):
    for day in (
        world["relationship"].started_on - timedelta(days=1),
        world["today"] + timedelta(1),
    ):
        with pytest.raises(services.BusinessRuleError) as refused:
            end(world, staff, ended_on=day, coming=services.END_CANCEL)
        assert refused.value.field == "ended_on"
    with pytest.raises(services.BusinessRuleError) as refused:
        end(world, staff, reason="  ", coming=services.END_CANCEL)
    assert refused.value.field == "reason"


def test_a_practitioner_may_not_end_a_relationship(world, therapist):
    with pytest.raises(PermissionDenied):
        end(world, therapist, coming=services.END_CANCEL)
    assert Relationship.objects.get(pk=world["relationship"].pk).is_active


def test_ending_twice_is_refused(world, staff):
    end(world, staff, coming=services.END_CANCEL)
    with pytest.raises(services.BusinessRuleError, match="already ended"):
        end(world, staff, coming=services.END_CANCEL)


# --- the page --------------------------------------------------------------------------------
def test_the_page_lists_what_is_still_booked_and_ends_it_too(world, staff_client, staff):
    url = reverse("relationships:end", args=[world["relationship"].pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and "End relationship" in page.content.decode()
    data = {"ended_on": f"{world['today']:%Y-%m-%d}", "reason": "Moved away"}
    refused = staff_client.post(url, data).content.decode()
    assert "Still booked after the end date" in refused and "Piano" in refused
    assert "End them too" in refused and "Move them to another relationship" in refused
    done = staff_client.post(url, {**data, "coming": "end"})
    assert done.status_code == 302
    assert Relationship.objects.get(pk=world["relationship"].pk).status == "ended"
    assert staff_client.get(url).status_code == 302  # ended: back to its page


def test_a_practitioner_gets_403_on_the_page(world, therapist_client):
    world["relationship"].practitioner = world["subscription"].session.practitioner
    world["relationship"].save()
    url = reverse("relationships:end", args=[world["relationship"].pk])
    assert therapist_client.get(url).status_code == 403
    assert therapist_client.post(url, {"coming": "end"}).status_code == 403


def test_the_page_runs_a_fixed_number_of_queries(
    world, staff_client, django_assert_max_num_queries
):
    url = reverse("relationships:end", args=[world["relationship"].pk])
    data = {"ended_on": f"{world['today']:%Y-%m-%d}", "reason": "Moved away"}
    with django_assert_max_num_queries(16):
        staff_client.get(url)
    with django_assert_max_num_queries(24):
        staff_client.post(url, data)

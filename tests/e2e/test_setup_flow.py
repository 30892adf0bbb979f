"""The practice's setup in the browser, by the labels a user reads (issue 11): add
a room, a service and a weekly session, and see it on the schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.models import Session, Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    PASSWORD,
    ClientFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_room_a_service_and_a_weekly_session_then_see_it_on_the_schedule(
    page, live_server, staff
):
    first = next_weekday(0, timezone.localdate() + timedelta(days=1))  # a coming Monday
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Setup").click()

    page.get_by_role("link", name="Rooms").click()
    page.get_by_role("link", name="Add room").click()
    page.get_by_label("Name").fill("Studio Blue")
    page.get_by_role("button", name="Save room").click()
    expect(page.get_by_role("status").first).to_contain_text("Room saved: Studio Blue.")

    page.get_by_role("link", name="Services").click()
    page.get_by_role("link", name="Add service").click()
    page.get_by_label("Name").fill("Cello, 45 min")
    page.get_by_label("Per session").check()
    page.get_by_label("Price").fill("42.50")
    page.get_by_role("button", name="Save service").click()
    expect(page.get_by_role("status").first).to_contain_text("Service saved: Cello, 45 min.")

    page.get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="Add session").click()
    page.get_by_label("Service").select_option(label="Cello, 45 min")
    page.get_by_label("First date").fill(f"{first:%Y-%m-%d}")
    page.get_by_label("Start time").fill("16:30")
    page.get_by_label("Duration (minutes)").fill("45")
    page.get_by_label("Practitioner").select_option(label=staff.display_name)
    page.get_by_label("Room").select_option(label="Studio Blue")
    page.get_by_label("Capacity").fill("3")
    page.get_by_role("button", name="Create the session").click()

    expect(page.get_by_role("status").first).to_contain_text("Its dates are on the schedule")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cello, 45 min, Monday 16:30")
    session = Session.objects.get()
    assert session.dates.count() >= 25

    page.goto(f"{live_server.url}/schedule/?date={first + timedelta(weeks=4):%Y-%m-%d}")
    slot = page.get_by_role("link").filter(has_text="Cello, 45 min")
    expect(slot.first).to_be_visible()
    expect(slot.first).to_contain_text("16:30")


def test_end_a_session_after_seeing_who_it_reaches(page, live_server, staff):
    first = next_weekday(0, timezone.localdate() + timedelta(days=1))
    session = SessionFactory(weekday=0, first_date=first, capacity=2)
    generate_session_dates(session=session, until=first + timedelta(weeks=10))
    payer = ClientFactory(first_name="Pat", last_name="Payer")
    kid = ClientFactory(first_name="Kit", last_name="Kid")
    SubscriptionFactory(
        session=session, relationship=RelationshipFactory(payer=payer, attendee=kid)
    )
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/setup/sessions/{session.pk}/")
    page.get_by_role("link", name="End the session").click()
    last = first + timedelta(weeks=2)
    page.get_by_label("Last date").fill(f"{last:%Y-%m-%d}")
    page.get_by_role("button", name="See who this reaches").click()
    expect(page.get_by_text("Kit Kid, paid by Pat Payer")).to_be_visible()
    page.get_by_role("button", name="Confirm: end the session").click()
    expect(page.get_by_role("status").first).to_contain_text("1 subscription(s) ended with it")
    assert Subscription.objects.get().end_date == last + timedelta(days=1)

"""Full later dates in the browser, by the labels a user reads: the transfer's
dates step and Create Session name them and offer to skip them (issue 9, item 3)."""

import re
from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from frontdesk.models import Transfer
from scheduling.models import DateAbsence, Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    PASSWORD,
    BookingFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionFactory,
    next_weekday,
    next_weekday_after,
)
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_transfer_with_a_full_later_date_accepted_skipped(
    page, live_server, staff, transfer_world
):
    world = transfer_world
    # "Update" moves from the subscription's next date (a Monday); the first date
    # offered is the Wednesday after it, so the full date is the Wednesday after that.
    full = next_weekday_after(world["next_monday"], 2) + timedelta(weeks=1)
    BookingFactory(session_date=world["wednesday"].dates.get(date=full))
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    expect(row).to_contain_text("1 place free")
    row.get_by_role("button", name=re.compile("^Choose")).click()
    page.get_by_role("button", name="Payment").click()

    expect(page.get_by_role("alert").first).to_contain_text(f"Full on {full:%a %-d %b %Y}")
    page.get_by_role("button", name="Accept with that date skipped").click()
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_visible()
    expect(page.locator("p", has_text="Skipped (full):")).to_contain_text(f"{full:%a %-d %b %Y}")
    page.get_by_role("button", name="Enroll and Pay Later").click()

    expect(page.get_by_role("status").first).to_contain_text("moved to")
    new = Transfer.objects.get().to_subscription
    assert list(
        DateAbsence.objects.filter(subscription=new).values_list("session_date__date", flat=True)
    ) == [full]


def test_create_session_with_a_full_later_date_skipped(page, live_server, staff, therapist):
    today = timezone.localdate()
    weekday = (today.weekday() + 1) % 7
    session = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        start_time=time(17, 0),
        capacity=1,
        first_date=next_weekday(weekday, today + timedelta(days=1)),
        service__name="Cello, 30 min",
    )
    generate_session_dates(session=session, until=today + timedelta(weeks=8))
    dates = list(session.dates.order_by("date").values_list("date", flat=True))
    BookingFactory(session_date=session.dates.get(date=dates[2]))
    relationship = RelationshipFactory(practitioner=therapist)
    PaymentMethodFactory(client=relationship.attendee)

    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/relationships/{relationship.pk}/")
    page.get_by_role("link", name="Create Session").click()
    page.get_by_label("Session").select_option(str(session.pk))
    page.get_by_label("Date", exact=True).fill(dates[0].isoformat())
    page.get_by_label("Every week from this date").check()
    page.get_by_role("button", name="Create Session", exact=True).click()
    expect(page.get_by_text(f"Full on {dates[2]:%a %-d %b %Y}")).to_be_visible()
    assert not Subscription.objects.filter(session=session).exists()
    page.get_by_role("button", name="Create Session with that date skipped").click()
    expect(page.get_by_role("status").first).to_contain_text("Session booked for")
    subscription = Subscription.objects.get(session=session)
    assert [a.session_date.date for a in subscription.absences.all()] == [dates[2]]

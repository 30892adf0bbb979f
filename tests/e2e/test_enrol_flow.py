"""Enrolment and withdrawal in the browser, by the labels a user reads: from a
session date's roster "Add a client", enrol, see them on the roster; then
"Withdraw" with the reason "Moved away", seeing what it leaves paid and unused."""

import re
from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from frontdesk.models import Withdrawal
from scheduling.models import Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    PASSWORD,
    ClientFactory,
    RelationshipFactory,
    SessionFactory,
    next_weekday,
    paid_invoice_for,
)
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_client_from_the_roster_then_withdraw_them(page, live_server, staff, therapist):
    today = timezone.localdate()
    weekday = (today.weekday() + 1) % 7
    session = SessionFactory(
        practitioner=therapist,
        weekday=weekday,
        start_time=time(17, 0),
        capacity=3,
        first_date=next_weekday(weekday, today - timedelta(weeks=3)),
        service__name="Violin, 30 min",
    )
    generate_session_dates(session=session, until=today + timedelta(weeks=10))
    coming = session.dates.filter(date__gt=today).order_by("date").first()
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    RelationshipFactory(payer=ava, practitioner=therapist)

    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/dates/{coming.pk}/")
    expect(page.get_by_text("Nobody is enrolled on this date.")).to_be_visible()
    page.get_by_role("link", name="Add a client").click()
    page.get_by_label("Find the client").fill("Ava")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Choose Ava Adams").click()
    expect(page.get_by_role("heading", name="Enrol Ava Adams")).to_be_visible()
    expect(page.get_by_label("Who pays")).to_have_value(str(ava.relationships_as_attendee.get().pk))
    expect(page.get_by_label("First date")).to_have_value(coming.date.isoformat())
    page.get_by_role("button", name="Enrol", exact=True).click()

    expect(page.get_by_role("status").first).to_contain_text("Ava Adams is enrolled")
    roster = page.locator(f"#roster-{coming.pk}")
    expect(roster.get_by_role("link", name="Ava Adams")).to_be_visible()

    subscription = Subscription.objects.get(client=ava)
    paid_invoice_for(subscription, 4, staff)  # four sessions paid for

    roster.locator("summary", has_text="Actions for Ava Adams").click()
    roster.get_by_role("link", name="Withdraw").click()
    expect(page.get_by_role("heading", name="Withdraw Ava Adams")).to_be_visible()
    expect(page.get_by_label("Last date attended")).to_have_value(coming.date.isoformat())
    preview = page.locator("#withdraw-preview")
    expect(preview).to_contain_text("£90.00 paid by Ava Adams will be left unused: 3 sessions")
    expect(preview).to_contain_text("to be refunded or credited by staff")
    page.get_by_label("Moved away").check()
    page.get_by_role("button", name="Withdraw", exact=True).click()

    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(r"Ava Adams is withdrawn from Violin, 30 min after .* £90\.00 paid by Ava")
    )
    assert Withdrawal.objects.get().reason == "moved_away"
    subscription.refresh_from_db()
    assert subscription.end_date == coming.date + timedelta(weeks=1)

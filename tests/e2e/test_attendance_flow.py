"""Attendance in the browser, by the labels a user reads: under a policy that charges
late cancellations, mark a client late-cancelled on a date's roster, see the row say
so, and see it on the client's profile."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.models import Attendance
from tests.factories import (
    PASSWORD,
    ClientFactory,
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_mark_a_late_cancellation_and_see_it_on_the_profile(page, live_server, staff):
    starts_at = timezone.localtime() - timedelta(hours=1)  # started an hour ago, whatever the day
    day = starts_at.date()
    session = SessionFactory(
        weekday=day.weekday(),
        start_time=starts_at.time().replace(microsecond=0),
        first_date=day - timedelta(weeks=2),
        service__name="Piano, 30 min private",
        service__charge_late_cancellations=True,
    )
    sd = SessionDateFactory(session=session, date=day, starts_at=starts_at)
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    SubscriptionFactory(relationship=RelationshipFactory(payer=sam), session=session)
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    SubscriptionFactory(relationship=RelationshipFactory(payer=ava), session=session)

    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/dates/{sd.pk}/")
    roster = page.locator("section.roster")
    expect(roster).to_contain_text("Cancellation policy: in time 24 h ahead")
    roster.get_by_role("button", name="Late-cancelled for Sam Rivera").click()
    row = page.locator("li.roster-row", has_text="Sam Rivera")
    expect(row.get_by_role("status")).to_have_text("Sam Rivera: late-cancelled, charged.")
    expect(row.get_by_role("button", name="Late-cancelled for Sam Rivera")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_role("button", name="All present").click()
    expect(page.get_by_role("status").first).to_contain_text("1 marked present.")

    page.locator("li.roster-row", has_text="Sam Rivera").get_by_role(
        "link", name="Sam Rivera"
    ).click()
    attendance = page.locator("section#attendance")
    expect(attendance).to_contain_text("0% present (0 of 1 marked)")
    expect(attendance).to_contain_text("Piano, 30 min private")
    expect(attendance).to_contain_text("Late-cancelled")
    expect(attendance).to_contain_text("Charged")
    assert Attendance.objects.get(client=sam).chargeable is True
    assert Attendance.objects.get(client=ava).mark == "present"

"""The third-party story of the help article, in the browser, on the demo practice."""

import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from devkit.models import DevMail
from relationships.models import Relationship
from scheduling.models import SessionDate
from scheduling.selectors import with_enrollment
from tests.support.billing import next_year
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DEMO_PASSWORD = "opus-demo-2026"


def wait_for(condition, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return None


@pytest.fixture
def demo(settings, live_server):
    settings.MAILERS = {"default": {"BACKEND": "devkit.mail.DevMailboxBackend"}}
    settings.OPUS_PUBLIC_URL = live_server.url
    call_command("seed_demo")


def test_the_friend_takes_over_paying_and_their_sessions_follow(
    page, browser, live_server, demo, celery_worker_on_redis, console_errors
):
    log_in(page, live_server, "maria", DEMO_PASSWORD)
    page.get_by_role("link", name="Relationships", exact=True).click()
    page.get_by_role("link", name="Sam Rivera").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Rivera")
    expect(page.get_by_text("Third party").first).to_be_visible()
    page.get_by_role("link", name="Migrate to first party relationship…").click()

    page.get_by_label("The attendee").check()
    page.get_by_label("How did they ask?").fill("Sam phoned on Monday; Oliver agreed.")
    page.get_by_role("button", name="Continue").click()
    # Sam has no phone number: the form asks for it, and only for it
    expect(page.get_by_label("Phone number")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_count(0)
    page.get_by_label("Phone number").fill("07700 900777")
    page.get_by_role("button", name="Confirm Migration").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Rivera")
    expect(page.locator("h1 .badge").first).to_have_text("First party")
    booking = page.locator("#booking-panel")
    expect(booking).to_contain_text("has not added a payment card yet")
    expect(booking.get_by_role("button", name="Create Session")).to_be_disabled()
    expect(page.get_by_role("button", name="Resend email")).to_be_visible()

    mail = wait_for(lambda: DevMail.objects.filter(to="sam.rivera@example.com").first())
    assert mail is not None, "the worker did not send the card email"
    link = re.search(r"https?://\S+/card/\S+/", mail.body_text).group(0)
    as_sam = browser.new_context().new_page()
    as_sam.goto(link)
    as_sam.get_by_label("Name on card").fill("Sam Rivera")
    as_sam.get_by_label("Card number").fill("4242 4242 4242 4242")
    as_sam.get_by_label("Expiry month").select_option("12")
    as_sam.get_by_label("Expiry year").select_option(str(next_year()))
    as_sam.get_by_label("Security code").fill("123")
    as_sam.get_by_role("button", name="Save card").click()
    expect(as_sam.get_by_text("Your Visa card ending 4242 is saved.")).to_be_visible()

    # back on the relationship page: the panel notices the card by itself
    expect(booking.get_by_role("link", name="Create Session")).to_be_visible(timeout=15000)

    # the coming sessions still under Oliver move to Sam in one step
    rebook = page.locator("#rebook")
    expect(rebook).to_contain_text("still charged to Oliver Grant")
    # Oliver paid for Sam's sessions to date and has an open invoice for the next four
    expect(rebook).to_contain_text("will be credited on Oliver Grant's open invoice")
    expect(rebook).to_contain_text("Sam Rivera will be invoiced")
    page.get_by_role("button", name="Cancel and rebook under this relationship").click()
    expect(page.get_by_role("status").first).to_contain_text("pays for them now")
    expect(page.locator("#rebook")).to_have_count(0)

    booking.get_by_role("link", name="Create Session").click()
    free = next(
        d
        for d in with_enrollment(
            SessionDate.objects.filter(
                session__practitioner__username="maria",
                cancelled=False,
                date__gt=timezone.localdate() + timedelta(days=1),
            )
            .select_related("session")
            .order_by("date")
        )
        if d.enrolled < d.session.capacity
    )
    page.get_by_label("Session").select_option(str(free.session_id))
    page.get_by_label("Date", exact=True).fill(free.date.isoformat())
    page.get_by_label("This date only").check()
    page.get_by_role("button", name="Create Session").click()
    expect(page.get_by_role("status").first).to_contain_text("Session booked for Sam Rivera")
    assert console_errors == []


def test_an_under_16_cannot_be_migrated_and_the_page_says_when(page, live_server, demo):
    log_in(page, live_server, "owner", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/relationships/?q=Lily")
    page.get_by_role("link", name="Lily Walsh").click()
    lily = Relationship.objects.get(attendee__first_name="Lily").attendee
    turns = lily.birthday_on(16)
    expect(
        page.get_by_text(f"Lily is under 16 and turns 16 on {turns.day} {turns:%B %Y}")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Migrate to first party relationship…")).to_be_disabled()

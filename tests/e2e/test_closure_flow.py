"""A closure in the browser, by the labels a user reads: close the practice for a
week ("Christmas break"), see the preview with the affected client, confirm, see
those dates cancelled on the schedule, and undo one date."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from opus.models import OutboundEmail
from scheduling.models import Closure, SessionDate
from tests.factories import PASSWORD
from tests.support.browser import log_in
from tests.support.closures import build_closure_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_close_the_practice_for_a_week_then_undo_one_date(page, live_server, staff):
    world = build_closure_world()
    last = world.start + timedelta(days=6)  # one week: one Piano and one Guitar date
    piano = SessionDate.objects.get(session=world.piano, date__gte=world.start, date__lte=last)

    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Closures").click()
    page.get_by_role("link", name="Add closure").click()
    page.get_by_label("The whole practice").check()
    page.get_by_label("First date").fill(world.start.isoformat())
    page.get_by_label("Last date").fill(last.isoformat())
    page.get_by_label("Reason").fill("Christmas break")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("section.closure-preview")
    expect(preview.get_by_role("heading", name="What this closure cancels")).to_be_visible()
    expect(preview).to_contain_text("2 session dates cancelled")
    expect(preview).to_contain_text("Sam Rivera")
    expect(preview).to_contain_text("paid for by Oliver Grant")
    expect(preview.get_by_role("heading", name=f"{piano.date:%A %-d %B %Y}")).to_be_visible()
    assert not SessionDate.objects.filter(cancelled=True).exists()

    page.get_by_label("Tell the affected clients and payers by email").check()
    page.get_by_role("button", name="Confirm closure").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Closed: Christmas break. 2 session dates cancelled"
    )
    expect(page.get_by_role("row").filter(has_text="Christmas break")).to_contain_text(
        "The whole practice"
    )
    assert Closure.objects.get().dates.count() == 2
    assert OutboundEmail.objects.filter(to_address=world.oliver.email).count() == 1

    page.goto(f"{live_server.url}/schedule/?date={piano.date:%Y-%m-%d}&view=week")
    slot = page.locator("a.slot", has_text="Piano")
    expect(slot).to_contain_text("Cancelled: Christmas break")
    slot.click()
    panel = page.locator("article.session-date")
    expect(panel).to_contain_text("Cancelled: Christmas break")
    panel.get_by_role("button", name="Undo cancellation").click()
    expect(page.locator("article.session-date")).to_contain_text("This date is held again.")
    expect(page.locator("a.slot", has_text="Piano")).not_to_contain_text(re.compile("Cancelled"))
    piano.refresh_from_db()
    assert not piano.cancelled and piano.closure is None
    guitar = SessionDate.objects.get(session=world.guitar, date__gte=world.start, date__lte=last)
    assert guitar.cancelled and guitar.cancel_reason == "Christmas break"

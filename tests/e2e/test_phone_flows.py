"""On a phone (390 x 844): the transfer and the migration end to end, each step
without sideways scrolling, reached through the menu button where the navigation
is needed."""

import re

import pytest
from playwright.sync_api import expect

from billing.models import Invoice
from frontdesk.models import Transfer
from relationships.models import Relationship
from tests.factories import PASSWORD, ClientFactory, RelationshipFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SIDEWAYS = "() => document.scrollingElement.scrollWidth - window.innerWidth"


def assert_no_sideways_scroll(page, where: str) -> None:
    extra = page.evaluate(SIDEWAYS)
    assert extra <= 0, f"{where}: the page scrolls sideways by {extra} px"


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    return page


def test_a_transfer_on_a_phone_from_the_schedule(phone, live_server, staff, transfer_world):
    page, monday = phone, transfer_world["next_monday"]
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={monday:%Y-%m-%d}")
    assert_no_sideways_scroll(page, "schedule")
    page.locator("a.slot", has_text="Piano, 30 min").filter(has_text="10:00").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Ava").first).to_be_visible()
    assert_no_sideways_scroll(page, "session date panel")
    dialog.locator("summary", has_text="Actions for Ava").click()
    dialog.get_by_role("button", name="Transfer to another session").click()

    expect(page.get_by_role("heading", name="Choose the new session")).to_be_visible()
    assert_no_sideways_scroll(page, "choose the new session")
    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    row.get_by_role("button", name=re.compile("^Choose")).click()
    expect(page.get_by_role("heading", name=re.compile("^New: Piano"))).to_be_visible()
    assert_no_sideways_scroll(page, "the new subscription")
    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_visible()
    assert_no_sideways_scroll(page, "payment")
    page.get_by_role("button", name="Enroll and Pay Later").click()

    expect(page.get_by_role("status").first).to_contain_text("moved to")
    assert_no_sideways_scroll(page, "done")
    assert Transfer.objects.count() == 1 and Invoice.objects.get().status == "open"


def test_a_migration_on_a_phone_through_the_menu(phone, live_server, staff):
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"),
        attendee=ClientFactory(first_name="Sam", last_name="Rivera", phone=""),
    )
    page = phone
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients").click()
    assert_no_sideways_scroll(page, "clients")
    page.get_by_role("link", name="Rivera, Sam").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Rivera")
    assert_no_sideways_scroll(page, "client profile")
    page.get_by_role("link", name=re.compile("^Relationships")).click()
    page.get_by_role("link", name="Third party relationship with Oliver Grant").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Rivera")
    assert_no_sideways_scroll(page, "relationship")
    page.get_by_role("link", name="Migrate to first party relationship…").click()

    assert_no_sideways_scroll(page, "migration: who asked")
    page.get_by_label("The attendee").check()
    page.get_by_label("How did they ask?").fill("Sam phoned on Monday.")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Phone number")).to_be_visible()
    assert_no_sideways_scroll(page, "migration: contact details")
    page.get_by_label("Phone number").fill("07700 900777")
    page.get_by_role("button", name="Confirm Migration").click()

    expect(page.locator("h1 .badge").first).to_have_text("First party")
    assert_no_sideways_scroll(page, "migrated")
    migrated = Relationship.objects.get(kind=Relationship.Kind.FIRST_PARTY)
    assert migrated.attendee_id == relationship.attendee_id

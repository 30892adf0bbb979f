"""Clicks counted: from the schedule to a finished transfer, and from the clients
list to "Confirm Migration" (typing into a field is not a click)."""

import re

import pytest
from playwright.sync_api import expect

from frontdesk.models import Transfer
from relationships.models import Relationship
from tests.factories import PASSWORD, ClientFactory, RelationshipFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Clicks:
    def __init__(self):
        self.count = 0

    def __call__(self, locator) -> None:
        locator.click()
        self.count += 1

    def check(self, locator) -> None:
        locator.check()
        self.count += 1


def test_from_the_schedule_to_a_finished_transfer_in_five_clicks(
    page, live_server, staff, transfer_world
):
    monday = transfer_world["next_monday"]
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={monday:%Y-%m-%d}")
    click = Clicks()

    click(page.locator("a.slot", has_text="Piano, 30 min").filter(has_text="10:00").first)
    click(page.get_by_role("dialog").get_by_role("button", name=re.compile("^Transfer Ava")))
    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    click(row.get_by_role("button", name=re.compile("^Choose")))
    click(page.get_by_role("button", name="Payment"))
    click(page.get_by_role("button", name="Enroll and Pay Later"))

    expect(page.get_by_role("status").first).to_contain_text("moved to")
    assert Transfer.objects.count() == 1
    print(f"\nclicks from the schedule to a finished transfer: {click.count}")
    assert click.count <= 5


def test_from_the_clients_list_to_confirm_migration_in_five_clicks(page, live_server, staff):
    RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"),
        attendee=ClientFactory(first_name="Sam", last_name="Rivera", phone="07700 900777"),
    )
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/")
    click = Clicks()

    click(page.get_by_role("link", name="Rivera, Sam"))
    click(page.get_by_role("link", name="Migrate to first party relationship…"))
    click.check(page.get_by_label("The attendee"))
    page.get_by_label("How did they ask?").fill("Sam phoned on Monday.")
    click(page.get_by_role("button", name="Continue"))
    click(page.get_by_role("button", name="Confirm Migration"))

    expect(page.locator("h1 .badge").first).to_have_text("First party")
    assert Relationship.objects.filter(kind=Relationship.Kind.FIRST_PARTY).count() == 1
    print(f"\nclicks from the clients list to Confirm Migration: {click.count}")
    assert click.count <= 5

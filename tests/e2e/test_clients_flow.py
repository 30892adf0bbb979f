"""Adding clients and who pays, in the browser, by the labels a user reads (issue 11):
a child whose parent pays (the parent created inline), the duplicate warning while
adding the same parent again, and archiving a client."""

import pytest
from playwright.sync_api import expect

from clients.models import Client
from relationships.models import Relationship
from tests.factories import PASSWORD, UserFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_child_whose_parent_pays_see_the_duplicate_and_archive(
    page, live_server, console_errors
):
    UserFactory(username="staff", role="staff")
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Clients", exact=True).first.click()
    page.get_by_role("link", name="Add client").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add client")

    page.get_by_label("First name", exact=True).fill("Lily")
    page.get_by_label("Last name", exact=True).fill("Adams")
    page.get_by_label("Date of birth").fill("2016-05-04")
    page.get_by_label("Someone else pays").check()
    page.get_by_label("New organiser's first name").fill("Helen")
    page.get_by_label("New organiser's last name").fill("Adams")
    page.get_by_label("New organiser's email address").fill("helen@example.com")
    page.get_by_role("button", name="Add client").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Lily Adams")
    expect(page.get_by_text("Helen Adams pays for their sessions")).to_be_visible()
    relationship = Relationship.objects.get()
    assert relationship.kind == "third_party" and relationship.payer.first_name == "Helen"

    # the same parent again: the warning shows while typing, before any submit
    page.get_by_role("link", name="← Clients").click()
    page.get_by_role("link", name="Add client").click()
    page.get_by_label("First name", exact=True).fill("Helen")
    page.get_by_label("Last name", exact=True).fill("Adams")
    page.get_by_label("Email address (optional)", exact=True).fill("HELEN@example.com")
    warning = page.locator("#duplicates")
    expect(warning).to_contain_text("Possible duplicate")
    expect(warning.get_by_role("link", name="Helen Adams")).to_be_visible()
    # submitting asks for the deliberate second click
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("button", name="Create anyway")).to_be_visible()
    assert Client.objects.count() == 2

    # archive Lily: she leaves the clients list
    page.get_by_role("link", name="← Clients").click()
    page.get_by_role("link", name="Adams, Lily").click()
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_text("Lily Adams is archived")).to_be_visible()
    page.get_by_role("link", name="← Clients").click()
    expect(page.get_by_role("link", name="Adams, Helen")).to_be_visible()
    expect(page.get_by_role("link", name="Adams, Lily")).to_have_count(0)
    assert console_errors == []

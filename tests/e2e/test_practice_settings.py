"""Issue 12: staff change the practice's address on "Practice settings" and see it
on an invoice, in a real browser, by the labels a user reads."""

import pytest
from playwright.sync_api import expect

from opus.models import PracticeChange
from tests.factories import PASSWORD, ClientFactory
from tests.support.billing import open_invoice
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_change_the_practices_address_and_see_it_on_an_invoice(
    page, live_server, staff, console_errors
):
    invoice = open_invoice(payer=ClientFactory(first_name="Oliver"), amount="60.00", staff=staff)
    log_in(page, live_server, "staff", PASSWORD)

    page.locator("summary", has_text="Sue Staff").click()  # the account menu
    page.get_by_role("link", name="Practice settings").click()
    expect(page.get_by_role("heading", name="Practice settings", level=1)).to_be_visible()
    page.get_by_label("Postal address").fill("12 Quay Street\nPortsmouth PO1 2AB")
    page.get_by_label("Payment instructions").fill("Sort code 12-34-56, account 12345678")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Practice settings saved.")).to_be_visible()
    history = page.locator(".practice-history")
    expect(history).to_contain_text("Sue Staff")
    expect(history).to_contain_text("Postal address")

    page.get_by_role("link", name="Invoices").click()
    page.get_by_role("link", name=invoice.display_number).click()
    details = page.locator(".invoice-practice-details")
    expect(details).to_contain_text("12 Quay Street")
    expect(details).to_contain_text("Portsmouth PO1 2AB")
    expect(page.get_by_text("Sort code 12-34-56, account 12345678")).to_be_visible()
    assert PracticeChange.objects.count() == 1
    assert console_errors == []


def test_a_mistake_is_shown_by_its_field_and_nothing_is_saved(
    page, live_server, staff, console_errors
):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/practice/")
    page.get_by_label("Contact phone").fill("ring the bell")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Enter a phone number of 7 to 15 digits")).to_be_visible()
    expect(page.get_by_label("Contact phone")).to_have_value("ring the bell")
    assert not PracticeChange.objects.exists()
    assert console_errors == []

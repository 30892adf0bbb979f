"""A transfer paid by a card that declines: the client is enrolled, staff are told
so plainly and land on the open invoice, and record the payment by hand there."""

import re

import pytest
from playwright.sync_api import expect

from billing.models import Invoice, PaymentAttempt
from frontdesk.models import Transfer
from tests.factories import PASSWORD
from tests.support.billing import save_card
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_declined_card_enrolls_and_the_payment_is_recorded_by_hand(
    page, live_server, staff, transfer_world, console_errors
):
    world = transfer_world
    save_card(world["relationship"].payer, number="4000000000009995")
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    row.get_by_role("button", name=re.compile("^Choose")).click()
    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_label("Payment")).to_have_value("card")
    page.get_by_role("button", name="Enroll and Pay Now").click()

    expect(page.get_by_role("status").first).to_contain_text(
        "The card ending 9995 was declined (insufficient funds): "
    )
    invoice = Invoice.objects.get()
    expect(page.get_by_role("status").first).to_contain_text(
        f"{invoice.display_number} is open for £{invoice.total:.2f}, due today. Record a "
        "payment by hand, charge the card again, or send the invoice."
    )
    expect(page.get_by_role("heading", name=f"Invoice {invoice.display_number}")).to_be_visible()
    assert Transfer.objects.count() == 1
    assert PaymentAttempt.objects.get().status == "declined"

    amount = page.get_by_label("Amount received")
    expect(amount).to_have_value(f"{invoice.total:.2f}")
    page.get_by_label("Paid by").select_option(label="Bank transfer")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator(".invoice-head .badge")).to_have_text("Paid")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert console_errors == []

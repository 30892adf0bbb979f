"""Front desk refunds part of a card payment out of the payer's account credit, in a
real browser, by the labels a user reads, and sees the invoice and the account
change; a transfer's leftover kept as account credit shows on the profile."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing import services
from billing.models import Account, Refund
from opus.lib.actors import SYSTEM
from tests.factories import PASSWORD, ClientFactory
from tests.support.billing import open_invoice, save_card
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_front_desk_refunds_part_of_a_card_payment_from_account_credit(
    page, live_server, staff, console_errors
):
    payer = ClientFactory(first_name="Olive", last_name="Payer")
    invoice = open_invoice(payer=payer, amount="60.00", staff=staff)
    card = save_card(payer)
    services.charge_card(invoice=invoice, payment_method=card, request_key="k", actor=SYSTEM)
    services.grant_account_credit(
        payer=payer, amount="20.00", currency="GBP", reason="Lesson moved", actor=SYSTEM
    )

    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.get_by_text("Refund…").click()
    page.get_by_label("Amount").fill("15.00")
    page.get_by_label("Paid back").select_option(label="To the card")
    page.get_by_label("Reason").fill("Heating broke, lesson cut short")
    page.get_by_label("Pay it out of the account credit").check()
    page.get_by_role("button", name="Refund", exact=True).click()

    expect(page.get_by_text("Refund of £15.00 to the card.")).to_be_visible()
    expect(page.get_by_text("Heating broke, lesson cut short")).to_be_visible()
    refund = Refund.objects.get()
    assert (refund.status, refund.amount, refund.method) == ("succeeded", Decimal("15.00"), "card")

    page.goto(f"{live_server.url}/clients/{payer.pk}/")
    panel = page.locator(".account-panel")
    expect(panel.get_by_text("£5.00").first).to_be_visible()
    expect(panel.get_by_text("Paid out by a refund on")).to_be_visible()
    assert Account.objects.get(payer=payer).balance == Decimal("5.00")
    assert console_errors == []


def test_front_desk_adds_account_credit_on_the_profile(page, live_server, staff):
    payer = ClientFactory(first_name="Gus", last_name="Goodwill")
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{payer.pk}/")
    page.get_by_text("Add account credit…").click()
    panel = page.locator(".account-panel")
    panel.get_by_label("Amount").fill("12.50")
    panel.get_by_label("Reason").fill("Goodwill for the missed lesson")
    panel.get_by_role("button", name="Add account credit").click()
    expect(page.get_by_text("£12.50 of account credit added for Gus Goodwill.")).to_be_visible()
    expect(page.locator(".account-balance")).to_contain_text("£12.50")

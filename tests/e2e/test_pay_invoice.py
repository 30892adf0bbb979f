"""An issued invoice is emailed with its pay link; the payer opens it in a browser
of their own (no account), pays by card, and the receipt arrives (Sent mail)."""

import time

import pytest
from playwright.sync_api import expect

from billing.models import Payment
from opus.models import OutboundEmail, User
from tests.factories import PASSWORD, ClientFactory, UserFactory
from tests.support.billing import next_year, open_invoice
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_payer_pays_an_emailed_invoice_and_gets_a_receipt(
    page, browser, live_server, settings, celery_worker_on_redis, console_errors
):
    settings.MAILERS = {"default": {"BACKEND": "devkit.mail.DevMailboxBackend"}}
    settings.DEV_MAILBOX_ENABLED = True
    settings.OPUS_PUBLIC_URL = live_server.url
    UserFactory(username="frontdesk", role=User.Role.STAFF)
    payer = ClientFactory(first_name="Nora", last_name="Quill", email="nora@example.com")
    invoice = open_invoice(payer=payer, amount="45.00")

    log_in(page, live_server, "frontdesk", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.get_by_role("button", name="Send to Nora").click()
    assert wait_for(
        lambda: OutboundEmail.objects.filter(template="invoice", status="sent").exists()
    )
    page.get_by_role("link", name="Sent mail", exact=True).click()
    page.get_by_role(
        "link", name=f"Invoice {invoice.display_number} from Harbour Lane Studio"
    ).click()
    expect(page.get_by_text("Pay this invoice by card (no account needed):")).to_be_visible()
    href = page.locator(".mail-body a[href*='/pay/']").first.get_attribute("href")
    assert href and href.startswith(f"{live_server.url}/pay/")

    as_payer = browser.new_context().new_page()  # no account, no session
    as_payer.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    as_payer.goto(href)
    expect(
        as_payer.get_by_role("heading", name=f"Invoice {invoice.display_number}")
    ).to_be_visible()
    expect(as_payer.get_by_text("Hello Nora.")).to_be_visible()
    as_payer.get_by_label("Name on card").fill("Nora Quill")
    as_payer.get_by_label("Card number").fill("4242 4242 4242 4242")
    as_payer.get_by_label("Expiry month").select_option("12")
    as_payer.get_by_label("Expiry year").select_option(str(next_year()))
    as_payer.get_by_label("Security code").fill("123")
    as_payer.get_by_role("button", name="Pay £45.00").click()
    expect(
        as_payer.get_by_role("heading", name=f"Invoice {invoice.display_number} is paid")
    ).to_be_visible()
    expect(as_payer.get_by_text("A receipt is on its way to you by email.")).to_be_visible()
    assert Payment.objects.filter(invoice=invoice).count() == 1

    assert wait_for(
        lambda: OutboundEmail.objects.filter(template="receipt", status="sent").exists()
    )
    page.get_by_role("link", name="Sent mail", exact=True).click()
    page.get_by_role(
        "link", name=f"Receipt: £45.00 paid on invoice {invoice.display_number}"
    ).click()
    expect(page.get_by_text("This invoice is paid in full.")).to_be_visible()
    assert console_errors == []

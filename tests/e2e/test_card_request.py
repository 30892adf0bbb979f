"""A staff user asks a client for a card; the worker emails the link; the client
adds a card through it; the card shows on the client's cards page."""

import time

import pytest
from playwright.sync_api import expect

from billing.models import PaymentCardRequest
from opus.models import User
from tests.factories import PASSWORD, ClientFactory, UserFactory
from tests.support.billing import next_year
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_client_adds_a_card_through_the_emailed_link(
    page, browser, live_server, settings, celery_worker_on_redis, console_errors
):
    settings.MAILERS = {"default": {"BACKEND": "devkit.mail.DevMailboxBackend"}}
    settings.DEV_MAILBOX_ENABLED = True
    settings.OPUS_PUBLIC_URL = live_server.url
    UserFactory(username="frontdesk", role=User.Role.STAFF)
    client = ClientFactory(first_name="Nora", last_name="Quill", email="nora@example.com")

    log_in(page, live_server, "frontdesk", PASSWORD)
    page.goto(f"{live_server.url}/billing/clients/{client.pk}/cards/")
    expect(page.get_by_text("No card on file.")).to_be_visible()
    page.get_by_label("Why the card is needed").fill("To pay for Nora's cello lessons from March.")
    page.get_by_role("button", name="Request a card").click()
    expect(page.get_by_role("button", name="Resend email")).to_be_visible()
    assert wait_for(lambda: PaymentCardRequest.objects.filter(sent_at__isnull=False).exists())

    page.get_by_role("link", name="Sent mail").click()
    page.get_by_role("link", name="Add a payment card for Harbour Lane Studio").click()
    expect(page.get_by_text("To pay for Nora's cello lessons from March.")).to_be_visible()
    href = page.locator(".mail-body a[href*='/card/']").first.get_attribute("href")
    assert href and href.startswith(f"{live_server.url}/card/")

    as_client = browser.new_context().new_page()  # no account, no session
    as_client.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    as_client.goto(href)
    expect(as_client.get_by_role("heading", name="Add a payment card")).to_be_visible()
    expect(as_client.get_by_text("Hello Nora.")).to_be_visible()
    as_client.get_by_label("Name on card").fill("Nora Quill")
    as_client.get_by_label("Card number").fill("4242 4242 4242 4242")
    as_client.get_by_label("Expiry month").select_option("12")
    as_client.get_by_label("Expiry year").select_option(str(next_year()))
    as_client.get_by_label("Security code").fill("123")
    as_client.get_by_role("button", name="Save card").click()
    expect(as_client.get_by_text("Your Visa card ending 4242 is saved.")).to_be_visible()
    as_client.goto(href)
    expect(as_client.get_by_role("heading", name="This link has already been used")).to_be_visible()
    gone = [e for e in console_errors if "status of 410" in e]
    assert len(gone) == 1  # the browser reports the 410 it was meant to get
    console_errors.remove(gone[0])

    page.goto(f"{live_server.url}/billing/clients/{client.pk}/cards/")
    panel = page.locator(".card-panel")
    expect(panel).to_contain_text("Visa ending 4242")
    expect(panel).to_contain_text("Card added")
    assert console_errors == []

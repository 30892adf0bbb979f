"""The monthly billing run in a browser, by the labels a user reads (issue 13): on
26 November, open Billing, see December's preview, Approve, watch it issue in the
background worker, find the invoice emailed in Sent mail with its pay link, pay it
as the client in a browser of their own, and find the receipt in Sent mail."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Invoice, Payment
from billing.services import runs
from opus.models import OutboundEmail
from scheduling.services import generate_session_dates
from tests.factories import (
    PASSWORD,
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)
from tests.support.billing import next_year
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# a built day, years ahead (the browser's cookies stay valid): the run bills December
ON = datetime(2031, 11, 26, 10, 0, tzinfo=UTC)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def on_the_26th():
    with time_machine.travel(ON, tick=True):
        yield


def test_preview_decembers_run_approve_it_and_the_client_pays_the_emailed_invoice(
    on_the_26th,
    page,
    browser,
    live_server,
    settings,
    staff,
    celery_worker_on_redis,
    console_errors,
):
    settings.MAILERS = {"default": {"BACKEND": "devkit.mail.DevMailboxBackend"}}
    settings.DEV_MAILBOX_ENABLED = True
    settings.OPUS_PUBLIC_URL = live_server.url
    today = timezone.localdate()
    month = runs.coming_period(today)
    assert f"{month:%B %Y}" == "December 2031"
    piano = SessionFactory(
        weekday=0,
        first_date=next_weekday(0, today - timedelta(weeks=4)),
        capacity=4,
        service=ServiceFactory(name="Piano"),
    )
    generate_session_dates(session=piano, until=runs.next_month(month) + timedelta(days=7))
    helen = ClientFactory(first_name="Helen", last_name="Walsh", email="helen@example.com")
    lily = ClientFactory(first_name="Lily", last_name="Walsh")
    SubscriptionFactory(
        session=piano,
        relationship=RelationshipFactory(payer=helen, attendee=lily),
        price=Decimal("30.00"),
    )

    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Billing", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    expect(page.get_by_role("heading", name="December 2031")).to_be_visible()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_role("row", name="Walsh")).to_contain_text("Piano for Lily Walsh")
    assert not Invoice.objects.exists()

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Issued")).to_be_visible(timeout=30000)
    expect(page.get_by_text("1 invoice issued")).to_be_visible()
    invoice = Invoice.objects.get()
    assert invoice.status == "open" and invoice.payer == helen
    total = f"£{invoice.total:,.2f}"
    assert invoice.total == Decimal("30.00") * 5  # the five Mondays of December 2031

    # the invoice emailed, with its pay link (Sent mail)
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

    # the client pays it in a browser of their own: no account, no session
    as_payer = browser.new_context().new_page()
    as_payer.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    as_payer.goto(href)
    expect(
        as_payer.get_by_role("heading", name=f"Invoice {invoice.display_number}")
    ).to_be_visible()
    expect(as_payer.get_by_text("Hello Helen.")).to_be_visible()
    as_payer.get_by_label("Name on card").fill("Helen Walsh")
    as_payer.get_by_label("Card number").fill("4242 4242 4242 4242")
    as_payer.get_by_label("Expiry month").select_option("12")
    as_payer.get_by_label("Expiry year").select_option(str(next_year()))
    as_payer.get_by_label("Security code").fill("123")
    as_payer.get_by_role("button", name=f"Pay {total}").click()
    expect(
        as_payer.get_by_role("heading", name=f"Invoice {invoice.display_number} is paid")
    ).to_be_visible()
    assert Payment.objects.filter(invoice=invoice).count() == 1

    # the receipt (Sent mail)
    assert wait_for(
        lambda: OutboundEmail.objects.filter(template="receipt", status="sent").exists()
    )
    page.get_by_role("link", name="Sent mail", exact=True).click()
    page.get_by_role(
        "link", name=f"Receipt: {total} paid on invoice {invoice.display_number}"
    ).click()
    expect(page.get_by_text("This invoice is paid in full.")).to_be_visible()
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert console_errors == []

"""The monthly billing run in a browser, by the labels a user reads (issue 13): open
Billing, see the coming month's preview, Approve, watch it issue in the background
worker, and find the invoices issued and emailed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Invoice
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
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preview_the_coming_run_approve_it_and_see_the_invoices_issued(
    page, live_server, staff, celery_worker_on_redis, console_errors
):
    today = timezone.localdate()
    month = runs.coming_period(today)
    piano = SessionFactory(
        weekday=0,
        first_date=next_weekday(0, today - timedelta(weeks=4)),
        capacity=4,
        service=ServiceFactory(name="Piano"),
    )
    generate_session_dates(session=piano, until=runs.next_month(month) + timedelta(days=7))
    helen = ClientFactory(first_name="Helen", last_name="Walsh")
    lily = ClientFactory(first_name="Lily", last_name="Walsh")
    SubscriptionFactory(
        session=piano,
        relationship=RelationshipFactory(payer=helen, attendee=lily),
        price=Decimal("30.00"),
    )

    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Billing", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    expect(page.get_by_role("heading", name=f"{month:%B %Y}")).to_be_visible()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.get_by_role("row", name="Walsh")).to_contain_text("Piano for Lily Walsh")
    assert not Invoice.objects.exists()

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Issued")).to_be_visible(timeout=15000)
    expect(page.get_by_text("1 invoice issued")).to_be_visible()
    invoice = Invoice.objects.get()
    assert invoice.status == "open" and invoice.payer == helen
    assert OutboundEmail.objects.filter(template="invoice", client=helen).count() == 1
    page.get_by_role("link", name="See the invoices").click()
    expect(page.get_by_role("link", name=invoice.display_number)).to_be_visible()
    assert console_errors == []

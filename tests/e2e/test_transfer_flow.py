"""Session transfer in the browser, from each of the three entry points, by the
labels a user reads (the help article's words)."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing import services as billing
from billing.models import Invoice
from frontdesk.models import Transfer
from opus.lib.actors import SYSTEM
from tests.factories import PASSWORD, RelationshipFactory, SubscriptionFactory
from tests.support.billing import save_card
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(staff, transfer_world):
    return transfer_world


def choose(page, service: str, weekday: str):
    row = page.get_by_role("row").filter(has_text=service).filter(has_text=weekday)
    row.get_by_role("button", name=re.compile("^Choose")).click()


def test_from_the_schedule_finishing_with_pay_later(page, live_server, world, console_errors):
    log_in(page, live_server, "staff", PASSWORD)
    monday = world["next_monday"]
    page.goto(f"{live_server.url}/schedule/?date={monday:%Y-%m-%d}")
    page.locator("a.slot", has_text="Piano, 30 min").filter(has_text="10:00").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator("summary", has_text="Actions for Ava").click()
    dialog.get_by_role("button", name="Transfer to another session").click()

    expect(page.get_by_role("heading", name="Transfer to another session")).to_be_visible()
    expect(page.get_by_text(f"from {monday:%A} {monday.day} {monday:%B %Y}")).to_be_visible()
    choose(page, "Piano, 30 min", "Wednesdays")
    expect(page.get_by_role("heading", name=re.compile("^New: Piano"))).to_be_visible()
    expect(page.get_by_label("The current subscription ends on")).to_have_value(
        f"{monday:%Y-%m-%d}"
    )
    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_visible()
    page.get_by_role("button", name="Enroll and Pay Later").click()

    expect(page.get_by_role("status").first).to_contain_text("moved to")
    expect(page.locator(".transfer-record").first).to_contain_text("Transferred")
    invoice = Invoice.objects.get()
    assert invoice.status == "open" and Transfer.objects.count() == 1
    expect(page.get_by_text(invoice.display_number).first).to_be_visible()
    assert console_errors == []


def test_from_the_session_view_with_a_discount_and_a_credit_paying_by_card(
    page, live_server, world, console_errors
):
    sub = world["subscription"]
    save_card(world["relationship"].payer)
    paid = billing.create_draft(
        actor=SYSTEM, payer=sub.relationship.payer, relationship=sub.relationship
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=paid,
        description="Term",
        unit_price=Decimal(30),
        quantity=Decimal(6),
        subscription=sub,
    )
    paid = billing.issue_invoice(actor=SYSTEM, invoice=paid)
    billing.record_payment(actor=SYSTEM, invoice=paid, amount=paid.total, method="cash")

    log_in(page, live_server, "staff", PASSWORD)
    day = world["monday"].dates.get(date=world["next_monday"])
    page.goto(f"{live_server.url}/schedule/dates/{day.pk}/")
    page.locator("summary", has_text="Actions for Ava").click()
    page.get_by_role("button", name="Transfer to another session").click()
    page.get_by_label("Service").select_option(label="Guitar group")
    expect(page.get_by_role("row").filter(has_text="Piano")).to_have_count(0)
    choose(page, "Guitar group", "Fridays")
    page.get_by_role("button", name="Payment").click()

    page.get_by_label("A percentage").check()
    page.get_by_label("Amount or percentage").fill("10")
    page.get_by_label("Reason").fill("Loyalty")
    page.get_by_role("button", name="Add a discount").click()
    expect(page.get_by_role("button", name="Remove discount: Loyalty")).to_be_visible()
    page.get_by_role("button", name="Add as a credit").click()
    expect(page.get_by_text("Credit:")).to_be_visible()
    expect(page.get_by_label("Payment")).to_have_value("card")
    page.get_by_role("button", name="Enroll and Pay Now").click()

    expect(page.get_by_role("status").first).to_contain_text("paid")
    invoice = Transfer.objects.get().invoice
    kinds = sorted(invoice.lines.values_list("kind", flat=True))
    assert kinds == ["charge", "credit", "discount"] and invoice.status == "paid"
    assert console_errors == []


def test_from_the_client_profile_finishing_with_close_now(page, live_server, world):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    choose(page, "Piano, 30 min", "Wednesdays")
    page.get_by_role("button", name="Payment").click()
    page.get_by_role("button", name="Enroll and Close Now").click()
    expect(page.get_by_role("alert").first).to_contain_text("Say why nothing more is expected")
    page.get_by_label("Why nothing more is expected").fill("Paid for the term already")
    page.get_by_role("button", name="Enroll and Close Now").click()
    expect(page.get_by_role("status").first).to_contain_text("closed")
    assert Invoice.objects.get().close_reason == "Paid for the term already"


def test_a_date_that_filled_up_meanwhile_is_refused_and_says_why(page, live_server, world):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    choose(page, "Piano, 30 min", "Wednesdays")
    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_role("button", name="Enroll and Pay Later")).to_be_enabled()
    # another front desk takes the last seat on that Wednesday meanwhile
    SubscriptionFactory(
        relationship=RelationshipFactory(),
        session=world["wednesday"],
        first_date=world["next_wednesday"],
    )
    page.reload()
    expect(page.get_by_role("alert").first).to_contain_text("is full")
    expect(page.get_by_role("button", name="Enroll and Pay Later")).to_be_disabled()
    page.get_by_role("link", name="Change the dates").click()
    expect(page.get_by_text("full").first).to_be_visible()
    assert not Transfer.objects.exists()

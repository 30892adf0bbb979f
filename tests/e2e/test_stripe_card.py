"""The pages that take a card with Stripe, in a browser, against localstripe and
its stand-in Stripe.js: the card is typed into Stripe's field (never Opus's) on the
card link (as the migration emails it) and on an invoice's pay link; a charge the
bank asks about is completed through the emailed link; and the transfer's "Enroll
and Pay Now" charges the payer's Stripe card."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from billing import services
from billing.models import Payment, PaymentAttempt, PaymentConfirmation, PaymentMethod
from billing.paylinks import ensure_pay_link
from billing.tokens import confirmation_token_for, pay_token_for, token_for
from frontdesk import relationship_flows
from frontdesk.models import Transfer
from opus.lib.actors import SYSTEM
from tests.factories import PASSWORD, ClientFactory, RelationshipFactory
from tests.support import localstripe
from tests.support.billing import next_year, open_invoice
from tests.support.browser import log_in
from tests.support.localstripe import card_on_file, stripe_server  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def with_stripe(settings, stripe_server):  # noqa: F811 (imported above)
    localstripe.configure(settings, stripe_server)


def type_card(page, number: str) -> None:
    """Into the stand-in Stripe.js's card field."""
    field = page.locator("#card-element")
    field.get_by_placeholder("number").fill(number)
    field.get_by_placeholder("exp_month").fill("12")
    field.get_by_placeholder("exp_year").fill(str(next_year() % 100))
    field.get_by_placeholder("cvc").fill("123")
    field.get_by_placeholder("postal_code").fill("N1 9GU")


def test_a_payer_adds_a_card_through_stripe_js_and_completes_a_bank_check_by_the_emailed_link(
    page, live_server, staff, console_errors
):
    payer = ClientFactory(first_name="Nora", email="nora@example.com")
    card_request = services.request_payment_card(client=payer, actor=SYSTEM, reason="Cello")

    page.goto(f"{live_server.url}/card/{token_for(card_request)}/")
    expect(page.get_by_role("heading", name="Add a payment card")).to_be_visible()
    expect(page.get_by_text("By saving this card you authorise")).to_be_visible()
    assert page.locator("input[name=number]").count() == 0  # no card field of Opus's own
    page.get_by_label("Name on card").fill("Nora Quill")
    type_card(page, "4000002760003184")  # the bank checks it when saved, and on every charge
    page.get_by_role("button", name="Save card").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_text("ending 3184 is saved")).to_be_visible()
    card = PaymentMethod.objects.get(client=payer)
    assert card.token.startswith("pm_") and card.consent_version

    invoice = open_invoice(amount="80.00", payer=payer)
    with pytest.raises(services.ChargeAwaitingConfirmation):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-1", actor=staff
        )
    attempt = PaymentAttempt.objects.get()
    confirmation = PaymentConfirmation.objects.get(attempt=attempt)
    page.goto(f"{live_server.url}/pay/confirm/{confirmation_token_for(confirmation)}/")
    expect(page.get_by_role("heading", name="Confirm your payment")).to_be_visible()
    page.get_by_role("button", name="Confirm payment").click()
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_role("heading", name="Thank you: your payment is confirmed")).to_be_visible()
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED
    assert Payment.objects.get(invoice=invoice).amount == invoice.total
    assert console_errors == []


def test_the_transfers_enroll_and_pay_now_charges_the_payers_stripe_card(
    page, live_server, staff, transfer_world, console_errors
):
    card = card_on_file(transfer_world["relationship"].payer)
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{transfer_world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    row.get_by_role("button", name=re.compile("^Choose")).click()
    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_label("Payment")).to_have_value("card")
    page.get_by_role("button", name="Enroll and Pay Now").click()

    expect(page.get_by_role("status").first).to_contain_text("paid")
    invoice = Transfer.objects.get().invoice
    assert invoice.status == "paid"
    payment = Payment.objects.get(invoice=invoice)
    assert payment.payment_method == card and payment.gateway_charge_id.startswith("ch_")
    attempt = PaymentAttempt.objects.get(invoice=invoice)
    assert [i.status for i in localstripe.intents_for(attempt.idempotency_key)] == ["succeeded"]
    assert console_errors == []


def test_the_migrations_card_link_takes_the_card_through_stripe_js_and_opens_booking(
    page, browser, live_server, therapist, console_errors
):
    attendee = ClientFactory(
        first_name="Sam",
        last_name="Rivera",
        email="sam@example.com",
        date_of_birth=date(1996, 9, 14),
    )
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"), attendee=attendee, practitioner=therapist
    )
    migration = relationship_flows.start_migration(
        relationship=old, actor=therapist, requested_by="attendee", request_note="Phoned"
    )
    new = relationship_flows.confirm_migration(
        migration=migration, actor=therapist
    ).new_relationship
    log_in(page, live_server, "therapist", PASSWORD)
    page.goto(f"{live_server.url}/relationships/{new.pk}/")
    booking = page.locator("#booking-panel")
    expect(booking).to_contain_text("has not added a payment card yet")

    as_sam = browser.new_context().new_page()
    sam_errors = []
    as_sam.on("console", lambda msg: sam_errors.append(msg.text) if msg.type == "error" else None)
    as_sam.goto(f"{live_server.url}/card/{token_for(new.card_requests.get())}/")
    expect(as_sam.get_by_text("By saving this card you authorise")).to_be_visible()
    as_sam.get_by_label("Name on card").fill("Sam Rivera")
    type_card(as_sam, "4242424242424242")
    as_sam.get_by_role("button", name="Save card").click()
    expect(as_sam.get_by_text("ending 4242 is saved")).to_be_visible()

    # back on the relationship page: the panel notices the card by itself
    expect(booking.get_by_role("link", name="Create Session")).to_be_visible(timeout=15000)
    card = PaymentMethod.objects.get(client=attendee)
    assert card.gateway == "stripe" and card.consent_version
    assert console_errors == [] and sam_errors == []


def test_an_invoice_is_paid_through_its_link_with_stripe_js_and_the_card_kept(
    page, live_server, console_errors
):
    invoice = open_invoice(amount="60.00", payer=ClientFactory(first_name="Ada"))
    page.goto(f"{live_server.url}/pay/{pay_token_for(ensure_pay_link(invoice))}/")
    expect(page.get_by_role("heading", name=f"Invoice {invoice.display_number}")).to_be_visible()
    assert page.locator("input[name=number]").count() == 0  # no card field of Opus's own
    page.get_by_label("Name on card").fill("Ada Payer")
    type_card(page, "4242424242424242")
    page.get_by_label("Save this card for my next invoices").check()
    expect(page.get_by_text("By saving this card you authorise")).to_be_visible()
    page.get_by_role("button", name="Pay £60.00").click()

    expect(
        page.get_by_role("heading", name=f"Invoice {invoice.display_number} is paid")
    ).to_be_visible()
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    card = PaymentMethod.objects.get(client=invoice.payer, removed_at__isnull=True)
    assert card.token.startswith("pm_") and card.consent_text
    assert console_errors == []

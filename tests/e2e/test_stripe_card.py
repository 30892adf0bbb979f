"""The card page and the payment confirmation page with Stripe, in a browser,
against localstripe and its stand-in Stripe.js: the card is typed into Stripe's
field (never Opus's), and a charge the bank asks about is completed through the
emailed link."""

import pytest
from playwright.sync_api import expect

from billing import services
from billing.models import Payment, PaymentAttempt, PaymentConfirmation, PaymentMethod
from billing.tokens import confirmation_token_for, token_for
from opus.lib.actors import SYSTEM
from tests.factories import ClientFactory
from tests.support import localstripe
from tests.support.billing import next_year, open_invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def stripe_server():
    server = localstripe.LocalStripe()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def with_stripe(settings, stripe_server):
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

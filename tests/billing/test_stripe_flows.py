"""The workflows that take money, end to end with OPUS_PAYMENT_GATEWAY=stripe
pointed at localstripe: the transfer's "Enroll and Pay Now", the migration's card
link, autopay, a refund by staff, and the invoice's public pay link. (The adapter's
own rules: test_stripe.py; the card page in a browser: tests/e2e/test_stripe_card.py.)"""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import (
    AutopayPlan,
    Invoice,
    InvoicePayLink,
    Payment,
    PaymentAttempt,
    PaymentConfirmation,
    PaymentMethod,
    Refund,
)
from billing.paylinks import ensure_pay_link
from billing.stripe_gateway import _metadata
from billing.stripe_gateway import client as stripe_client
from billing.tokens import confirmation_token_for, pay_token_for, token_for
from frontdesk import relationship_flows, transfers
from frontdesk import selectors as frontdesk_selectors
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from relationships.models import RelationshipMigration
from tests.factories import ClientFactory, RelationshipFactory
from tests.support import localstripe
from tests.support.billing import open_invoice
from tests.support.localstripe import (
    CHARGE_DECLINED,
    NEEDS_AUTHENTICATION,
    SUCCEEDS,
    browser_confirms,
    card_on_file,
    intents_for,
    stripe_server,  # noqa: F401 (the fixture)
)
from tests.support.transfer import draft_to

pytestmark = pytest.mark.django_db(transaction=True)

PAY_NOW = transfers.Finish(transfers.FINISH_PAY_NOW)


@pytest.fixture(autouse=True)
def with_stripe(settings, stripe_server):  # noqa: F811 (imported above)
    localstripe.configure(settings, stripe_server)


def succeeded_intents(attempt: PaymentAttempt) -> list:
    return [i for i in intents_for(attempt.idempotency_key) if i.status == "succeeded"]


def bank_check_done(attempt: PaymentAttempt, *, success: bool = True) -> None:
    """What Stripe.js does in the confirmation page when the payer answers their bank."""
    intent = stripe_client().v1.payment_intents.retrieve(attempt.gateway_reference)
    stripe_client().raw_request(
        "post",
        f"/v1/payment_intents/{intent.id}/_authenticate",
        client_secret=intent.client_secret,
        success="true" if success else "false",
    )


# --- the transfer: "Enroll and Pay Now" ----------------------------------------------------


def test_enroll_and_pay_now_charges_the_payers_stripe_card_once(staff, transfer_world):
    card = card_on_file(transfer_world["relationship"].payer)
    draft = draft_to(transfer_world, staff)

    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_NOW)

    assert outcome.charge_error is None
    assert outcome.invoice.status == Invoice.Status.PAID
    attempt = outcome.attempt
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED and attempt.payment_method == card
    payment = Payment.objects.get(invoice=outcome.invoice)
    assert payment.amount == outcome.invoice.total and payment.gateway_charge_id.startswith("ch_")
    (intent,) = succeeded_intents(attempt)
    assert intent.amount == int(outcome.invoice.total * 100) and intent.customer
    # the final step posted again: the transfer it made, Stripe not asked again
    again = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_NOW)
    assert again.replayed and again.invoice.pk == outcome.invoice.pk
    assert Payment.objects.count() == 1 and len(intents_for(attempt.idempotency_key)) == 1


def test_enroll_and_pay_now_with_a_card_its_bank_checks_awaits_the_payer_then_is_paid(
    client, staff, transfer_world
):
    payer = transfer_world["relationship"].payer
    payer.email = "mum@example.com"
    payer.save()
    card_on_file(payer, NEEDS_AUTHENTICATION)

    outcome = transfers.finish_transfer(
        draft=draft_to(transfer_world, staff), actor=staff, finish=PAY_NOW
    )

    # enrolled whatever the card said; the invoice awaits the payer's confirmation
    assert isinstance(outcome.charge_error, services.ChargeAwaitingConfirmation)
    assert outcome.transfer is not None and outcome.invoice.status == Invoice.Status.OPEN
    attempt = outcome.attempt
    assert attempt.status == PaymentAttempt.Status.ACTION
    assert OutboundEmail.objects.filter(
        template="payment_confirmation", to_address="mum@example.com"
    ).exists()
    confirmation = PaymentConfirmation.objects.get(attempt=attempt)
    url = reverse("billing:payment-confirm", args=[confirmation_token_for(confirmation)])
    bank_check_done(attempt)
    assert "your payment is confirmed" in client.post(url).content.decode()
    outcome.invoice.refresh_from_db()
    assert outcome.invoice.status == Invoice.Status.PAID
    assert len(succeeded_intents(attempt)) == 1 and Payment.objects.count() == 1


# --- the migration's card link ------------------------------------------------------------


def test_the_migrations_card_link_saves_a_stripe_card_and_opens_booking(client, therapist, staff):
    attendee = ClientFactory(
        first_name="Sam", email="sam@example.com", date_of_birth=date(1996, 9, 14)
    )
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"), attendee=attendee, practitioner=therapist
    )
    migration = relationship_flows.start_migration(
        relationship=old, actor=therapist, requested_by="attendee", request_note="Phoned"
    )
    result = relationship_flows.confirm_migration(migration=migration, actor=therapist)
    assert result.card_requested
    new = result.new_relationship
    assert "has not added a payment card yet" in frontdesk_selectors.booking_block(new)

    card_request = new.card_requests.get()
    url = reverse("billing:card-link", args=[token_for(card_request)])
    page = client.get(url)
    assert page.status_code == 200 and "/js.stripe.com/v3/" in page.content.decode()
    card_request.refresh_from_db()
    browser_confirms(card_request.setup_id, SUCCEEDS)
    saved = client.post(url, {"setup_intent": card_request.setup_id})

    assert saved.status_code == 200 and "ending 4242 is saved" in saved.content.decode()
    card = PaymentMethod.objects.get(client=attendee)
    assert card.gateway == "stripe" and card.token.startswith("pm_")
    assert frontdesk_selectors.booking_block(new) is None
    assert RelationshipMigration.objects.get().status == RelationshipMigration.Status.COMPLETED
    # from then on every charge goes to the attendee's card
    invoice = open_invoice(relationship=new, amount="40.00")
    payment = services.charge_card(
        invoice=invoice, payment_method=card, request_key="desk-1", actor=staff
    )
    assert payment.payment_method == card and invoice.payer_id == attendee.pk


# --- autopay -------------------------------------------------------------------------------


def test_autopay_charges_the_stripe_card_when_the_invoice_is_issued():
    payer = ClientFactory(email="ada@example.com")
    card_on_file(payer)
    invoice = open_invoice(payer=payer, amount="55.00")
    plan = AutopayPlan.objects.get(invoice=invoice)

    assert services.run_autopay(plan_id=plan.pk) == "paid"
    assert services.run_autopay(plan_id=plan.pk) == "skipped"  # run twice: once

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    attempt = PaymentAttempt.objects.get()
    assert attempt.request_key == f"autopay-{plan.pk}-1"
    (intent,) = succeeded_intents(attempt)
    assert intent.amount == 5500
    assert Payment.objects.get().gateway_charge_id.startswith("ch_")
    assert OutboundEmail.objects.filter(template="receipt").count() == 1


def test_autopay_declined_by_stripe_follows_the_ladder_with_a_new_key_each_try():
    payer = ClientFactory(email="ada@example.com")
    declining = card_on_file(payer, CHARGE_DECLINED)
    invoice = open_invoice(payer=payer, amount="55.00")
    plan = AutopayPlan.objects.get(invoice=invoice)

    assert services.run_autopay(plan_id=plan.pk) == "declined"
    plan.refresh_from_db()
    assert plan.attempts == 1 and plan.next_attempt_at is not None
    assert OutboundEmail.objects.filter(template="autopay_declined").count() == 1
    first = PaymentAttempt.objects.get()
    assert first.decline_code == "card_declined" and not succeeded_intents(first)

    # the payer replaces the card; the next step of the ladder charges the new one
    PaymentMethod.objects.filter(pk=declining.pk).update(removed_at=first.created_at)
    card_on_file(payer)
    AutopayPlan.objects.filter(pk=plan.pk).update(next_attempt_at=first.created_at)
    assert services.run_autopay(plan_id=plan.pk) == "paid"
    second = PaymentAttempt.objects.exclude(pk=first.pk).get()
    assert second.idempotency_key != first.idempotency_key
    assert len(succeeded_intents(second)) == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_autopay_on_a_card_its_bank_checks_waits_for_the_payer_without_retrying():
    payer = ClientFactory(email="ada@example.com")
    card_on_file(payer, NEEDS_AUTHENTICATION)
    invoice = open_invoice(payer=payer, amount="55.00")
    plan = AutopayPlan.objects.get(invoice=invoice)

    assert services.run_autopay(plan_id=plan.pk) == "awaiting"
    plan.refresh_from_db()
    assert plan.next_attempt_at is None  # no retry charges a payment awaiting its payer
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == PaymentAttempt.Status.ACTION
    assert OutboundEmail.objects.filter(template="payment_confirmation").count() == 1
    assert OutboundEmail.objects.filter(template="autopay_declined").count() == 0
    bank_check_done(attempt)
    settled = services.settle_from_processor(attempt=attempt)
    assert settled.status == PaymentAttempt.Status.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and Payment.objects.count() == 1


# --- a refund by staff ---------------------------------------------------------------------


def test_staff_refund_a_stripe_payment_to_the_card(staff):
    invoice = open_invoice(amount="30.00")
    card = card_on_file(invoice.payer)
    payment = services.charge_card(
        invoice=invoice, payment_method=card, request_key="desk-1", actor=staff
    )

    refund = services.refund_payment(
        payment=payment,
        amount=Decimal("12.50"),
        reason="Lesson cancelled by us",
        method=Refund.Method.CARD,
        actor=staff,
        request_key="refund-page-1",
    )

    assert refund.status == Refund.Status.SUCCEEDED and refund.gateway_refund_id.startswith("re_")
    at_stripe = stripe_client().v1.refunds.retrieve(refund.gateway_refund_id)
    assert at_stripe.amount == 1250 and at_stripe.status == "succeeded"
    payment.refresh_from_db()
    assert payment.refunded == Decimal("12.50")
    # the same page posted again: the refund it made, Stripe not asked again
    again = services.refund_payment(
        payment=payment,
        amount=Decimal("12.50"),
        reason="Lesson cancelled by us",
        method=Refund.Method.CARD,
        actor=staff,
        request_key="refund-page-1",
    )
    assert again.pk == refund.pk
    mine = [
        r
        for r in stripe_client().v1.refunds.list(params={"limit": 100}).auto_paging_iter()
        if _metadata(r).get("opus_key") == refund.idempotency_key
    ]
    assert len(mine) == 1
    # more than is left is refused before Stripe is asked
    with pytest.raises(BusinessRuleError, match="more than is left"):
        services.refund_payment(
            payment=payment,
            amount=Decimal("20.00"),
            reason="Too much",
            method=Refund.Method.CARD,
            actor=staff,
        )


# --- the invoice's public pay link ---------------------------------------------------------


def test_the_pay_link_takes_the_card_through_stripe_js_and_charges_it(client):
    invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), amount="60.00")
    url = reverse("billing:pay-link", args=[pay_token_for(ensure_pay_link(invoice))])

    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert 'name="number"' not in body and "/js.stripe.com/v3/" in body
    assert "127.0.0.1" in page["Content-Security-Policy"]
    setup_id = InvoicePayLink.objects.get(invoice=invoice).setup_id
    assert setup_id.startswith("seti_")
    request_key = body.split('name="request_key" value="')[1].split('"')[0]
    browser_confirms(setup_id, SUCCEEDS)

    paid = client.post(
        url, {"setup_intent": setup_id, "request_key": request_key, "save_card": "on"}
    )

    assert paid.status_code == 200 and "is paid" in paid.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert payment.gateway_charge_id.startswith("ch_")
    card = services.card_on_file(invoice.payer)
    assert card is not None and card.token.startswith("pm_") and card.consent_version
    again = client.post(
        url, {"setup_intent": setup_id, "request_key": request_key, "save_card": "on"}
    )
    assert "is paid" in again.content.decode() and Payment.objects.count() == 1


def test_the_pay_link_after_a_decline_takes_another_card_and_sends_a_bank_check_to_its_page(
    client,
):
    invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), amount="60.00")
    url = reverse("billing:pay-link", args=[pay_token_for(ensure_pay_link(invoice))])
    client.get(url)
    first = InvoicePayLink.objects.get(invoice=invoice).setup_id
    browser_confirms(first, CHARGE_DECLINED)

    declined = client.post(url, {"setup_intent": first, "request_key": "page-1"})

    assert "Your card was declined" in declined.content.decode()
    fresh = InvoicePayLink.objects.get(invoice=invoice).setup_id
    assert fresh.startswith("seti_") and fresh != first  # the next card, a new setup
    again = client.post(url, {"setup_intent": first, "request_key": "page-2"})
    assert "not confirmed" in again.content.decode()  # a used setup is refused
    browser_confirms(fresh, NEEDS_AUTHENTICATION)

    checked = client.post(url, {"setup_intent": fresh, "request_key": "page-3"})

    assert checked.status_code == 302 and "/pay/confirm/" in checked["Location"]
    attempt = PaymentAttempt.objects.get(request_key="page-3")
    assert attempt.status == PaymentAttempt.Status.ACTION
    confirm_page = client.get(checked["Location"])
    assert "Confirm payment" in confirm_page.content.decode()
    bank_check_done(attempt)
    assert "your payment is confirmed" in client.post(checked["Location"]).content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and Payment.objects.count() == 1

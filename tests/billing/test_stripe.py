"""The Stripe adapter against localstripe (a fake, stateful Stripe on a free port,
started once per session): saving a card by a SetupIntent, off-session charges
through the attempt discipline, the reconciliation, refunds, and the signed
webhook endpoint. What localstripe does not model (dispute events) comes from
recorded events below."""

import json
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import stripe
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing import services, stripe_gateway
from billing.gateway import CardDeclined, GatewayError, get_gateway
from billing.models import (
    GatewayEvent,
    Payment,
    PaymentAttempt,
    PaymentCardRequest,
    PaymentConfirmation,
    PaymentMethod,
    StripeCustomer,
)
from billing.services import gateway_events, payments
from billing.stripe_gateway import StripeGateway, _metadata, minor_units
from billing.stripe_gateway import client as client_stripe
from billing.tokens import confirmation_token_for, token_for
from opus.lib.actors import SYSTEM
from opus.models import OutboundEmail
from tests.factories import ClientFactory
from tests.support import localstripe
from tests.support.billing import next_year, open_invoice
from tests.support.localstripe import (
    CHARGE_DECLINED,
    NEEDS_AUTHENTICATION,
    SAVE_DECLINED,
    SUCCEEDS,
    browser_confirms,
    card_on_file,
    intents_for,
    stripe_server,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def stripe_settings(settings, stripe_server):  # noqa: F811 (imported above)
    localstripe.configure(settings, stripe_server)
    return settings


def test_the_card_link_page_mounts_stripe_js_and_saves_the_setup_intents_card(client):
    payer = ClientFactory(email="payer@example.com")
    card_request = services.request_payment_card(client=payer, actor=SYSTEM, reason="Lessons")
    url = reverse("billing:card-link", args=[token_for(card_request)])

    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    card_request.refresh_from_db()
    assert card_request.setup_id.startswith("seti_")
    assert 'name="number"' not in body  # no card field of Opus's own
    assert "/js.stripe.com/v3/" in body and "_secret_" in body
    policy = page["Content-Security-Policy"]
    assert "'nonce-" in policy and "/js.stripe.com" not in policy.split("script-src")[0]
    assert "script-src 'self' 'nonce-" in policy and "127.0.0.1" in policy
    # opening the page again uses the same setup and the same customer
    client.get(url)
    card_request.refresh_from_db()
    assert StripeCustomer.objects.filter(client=payer).count() == 1

    browser_confirms(card_request.setup_id, "4000056655665556")
    done = client.post(url, {"setup_intent": card_request.setup_id})
    assert done.status_code == 200
    card = PaymentMethod.objects.get(client=payer)
    assert (card.gateway, card.brand, card.last4) == ("stripe", "visa", "5556")
    assert (card.exp_month, card.exp_year) == (12, next_year())
    assert card.token.startswith("pm_")
    # what the payer agreed to, shown on the page, is kept with the card
    assert card.consent_text and card.consent_text in " ".join(body.split()).replace("&#x27;", "'")
    assert card.consent_version.startswith("v1-") and card.consented_at is not None
    card_request.refresh_from_db()
    assert card_request.used_at is not None


def test_a_setup_the_page_did_not_start_or_a_declined_card_saves_nothing(client):
    payer = ClientFactory(email="payer@example.com")
    card_request = services.request_payment_card(client=payer, actor=SYSTEM, reason="Lessons")
    url = reverse("billing:card-link", args=[token_for(card_request)])
    client.get(url)
    card_request.refresh_from_db()
    other = get_gateway().create_setup(reference="someone else")
    browser_confirms(other.id, SUCCEEDS)
    refused = client.post(url, {"setup_intent": other.id})
    assert refused.status_code == 400
    browser_confirms(card_request.setup_id, SAVE_DECLINED)
    refused = client.post(url, {"setup_intent": card_request.setup_id})
    assert refused.status_code == 400
    assert "not saved" in refused.content.decode() or "declined" in refused.content.decode()
    assert not PaymentMethod.objects.exists()
    # the declined setup is canceled at Stripe: the page starts a fresh one
    again = client.get(url)
    assert again.status_code == 200
    first = card_request.setup_id
    card_request.refresh_from_db()
    assert card_request.setup_id != first


def test_a_decline_then_a_success_on_the_same_invoice_new_key_one_charge(staff):
    invoice = open_invoice(amount="60.00")
    declining = card_on_file(invoice.payer, CHARGE_DECLINED)
    with pytest.raises(CardDeclined):
        services.charge_card(
            invoice=invoice, payment_method=declining, request_key="page-1", actor=staff
        )
    declined = PaymentAttempt.objects.get()
    assert declined.status == PaymentAttempt.Status.DECLINED
    assert declined.decline_code == "card_declined"

    PaymentMethod.objects.filter(pk=declining.pk).update(removed_at=timezone.now())
    good = card_on_file(invoice.payer, SUCCEEDS)
    payment = services.charge_card(
        invoice=invoice, payment_method=good, request_key="page-2", actor=staff
    )
    second = PaymentAttempt.objects.exclude(pk=declined.pk).get()
    assert second.idempotency_key != declined.idempotency_key
    assert payment.amount == Decimal("60.00") and payment.gateway_charge_id.startswith("ch_")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    succeeded = [i for i in intents_for(second.idempotency_key) if i.status == "succeeded"]
    assert len(succeeded) == 1 and succeeded[0].amount == minor_units(Decimal("60.00"), "GBP")
    assert [i.status for i in intents_for(declined.idempotency_key)] == ["requires_payment_method"]
    # the same page again answers with its payment, Stripe not asked again
    again = services.charge_card(
        invoice=invoice, payment_method=good, request_key="page-2", actor=staff
    )
    assert again.pk == payment.pk
    assert len(intents_for(second.idempotency_key)) == 1


def test_a_process_killed_between_the_call_and_the_commit_is_settled_one_charge_one_payment(
    staff, monkeypatch
):
    invoice = open_invoice(amount="45.00")
    card = card_on_file(invoice.payer)

    def killed(*args, **kwargs):
        raise SystemExit("the worker died after Stripe charged")

    with monkeypatch.context() as patch:
        patch.setattr(payments, "_record_outcome", killed)
        with pytest.raises(SystemExit):
            services.charge_card(
                invoice=invoice, payment_method=card, request_key="page-1", actor=staff
            )
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == PaymentAttempt.Status.PENDING and not Payment.objects.exists()
    assert services.reconcile_payment_attempts() == 0  # too recent to settle
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert services.reconcile_payment_attempts() == 1
        assert services.reconcile_payment_attempts() == 0
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED
    assert Payment.objects.get().amount == Decimal("45.00")
    assert len(intents_for(attempt.idempotency_key)) == 1


def test_the_reconciliation_fails_an_attempt_stripe_never_received(staff, monkeypatch):
    invoice = open_invoice(amount="45.00")
    card = card_on_file(invoice.payer)

    def unreachable(self, **kwargs):
        raise services.GatewayError("connection refused")

    monkeypatch.setattr(StripeGateway, "charge", unreachable)
    with pytest.raises(payments.ChargePending):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-1", actor=staff
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert services.reconcile_payment_attempts() == 1
    assert PaymentAttempt.objects.get().status == PaymentAttempt.Status.FAILED


def test_a_refund_through_stripe(staff):
    invoice = open_invoice(amount="30.00")
    card = card_on_file(invoice.payer)
    payment = services.charge_card(
        invoice=invoice, payment_method=card, request_key="page-1", actor=staff
    )
    gateway = get_gateway()
    result = gateway.refund(
        charge_id=payment.gateway_charge_id,
        amount=Decimal("10.00"),
        currency="GBP",
        idempotency_key="refund-1",
    )
    assert result.succeeded and result.refund_id.startswith("re_")
    assert result.amount == Decimal("10.00")
    assert gateway.retrieve_refund(idempotency_key="refund-1") == result
    assert gateway.retrieve_refund(idempotency_key="never-sent") is None


# --- the webhook endpoint ------------------------------------------------------------------


def event(kind: str, obj: dict, *, event_id: str, created: int | None = None) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }


def deliver(client, body: dict, **sign):
    payload, signature = localstripe.signed(body, **sign)
    return client.post(
        reverse("billing:stripe-webhook"),
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )


def test_a_forged_signature_is_refused_and_nothing_is_stored(client):
    body = event("payment_intent.succeeded", {"id": "pi_x"}, event_id="evt_forged")
    forged = deliver(client, body, secret="whsec_someone_else")
    assert forged.status_code == 400
    unsigned = client.post(
        reverse("billing:stripe-webhook"), data=b"{}", content_type="application/json"
    )
    assert unsigned.status_code == 400
    assert not GatewayEvent.objects.exists()


def test_a_webhook_delivered_twice_and_out_of_order_records_one_payment(client, staff, monkeypatch):
    invoice = open_invoice(amount="45.00")
    card = card_on_file(invoice.payer)
    with monkeypatch.context() as patch:
        patch.setattr(
            payments, "_record_outcome", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed"))
        )
        with pytest.raises(SystemExit):
            services.charge_card(
                invoice=invoice, payment_method=card, request_key="page-1", actor=staff
            )
    attempt = PaymentAttempt.objects.get()
    (intent,) = intents_for(attempt.idempotency_key)
    obj = {"id": intent.id, "object": "payment_intent", "metadata": _metadata(intent)}
    succeeded = event("payment_intent.succeeded", obj, event_id="evt_1", created=200)
    stale = event("payment_intent.requires_action", obj, event_id="evt_0", created=100)

    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    assert deliver(client, succeeded).status_code == 200
    assert deliver(client, succeeded).content == b"duplicate"
    assert deliver(client, stale).status_code == 200  # the older event arrives last
    assert GatewayEvent.objects.count() == 2
    assert gateway_events.process_pending_events() == 2
    assert gateway_events.process_pending_events() == 0
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid"


# A dispute as Stripe sends it (localstripe does not model disputes), trimmed.
RECORDED_DISPUTE = {
    "id": "du_1QdisputeRecorded",
    "object": "dispute",
    "amount": 4500,
    "charge": "CHARGE_ID",
    "created": 1764460800,
    "currency": "gbp",
    "livemode": False,
    "payment_intent": "pi_recorded",
    "reason": "fraudulent",
    "status": "needs_response",
}


def test_a_recorded_dispute_event_shows_on_the_invoice(client, staff, monkeypatch):
    invoice = open_invoice(amount="45.00")
    card = card_on_file(invoice.payer)
    payment = services.charge_card(
        invoice=invoice, payment_method=card, request_key="page-1", actor=staff
    )
    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    dispute = {**RECORDED_DISPUTE, "charge": payment.gateway_charge_id}
    body = event("charge.dispute.created", dispute, event_id="evt_dispute")
    assert deliver(client, body).status_code == 200
    assert deliver(client, body).status_code == 200
    assert gateway_events.process_pending_events() == 1
    payment.refresh_from_db()
    assert payment.disputed_at is not None and payment.dispute_reason == "fraudulent"
    client.force_login(staff)
    page = client.get(reverse("billing:invoice-detail", args=[invoice.pk]))
    assert "Disputed: fraudulent" in " ".join(page.content.decode().split())


def test_payment_method_detached_and_updated_events(client, monkeypatch):
    payer = ClientFactory(email="payer@example.com")
    card = card_on_file(payer)
    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    updated = {
        "id": card.token,
        "object": "payment_method",
        "card": {"exp_month": 3, "exp_year": next_year() + 1, "last4": card.last4},
    }
    deliver(client, event("payment_method.updated", updated, event_id="evt_upd"))
    deliver(client, event("payment_method.detached", {"id": card.token}, event_id="evt_det"))
    assert gateway_events.process_pending_events() == 2
    card.refresh_from_db()
    assert (card.exp_month, card.exp_year) == (3, next_year() + 1)
    assert card.removed_at is not None


def test_setup_intent_succeeded_saves_the_card_when_the_page_never_posted(client, monkeypatch):
    payer = ClientFactory(email="payer@example.com")
    card_request = services.request_payment_card(client=payer, actor=SYSTEM, reason="Lessons")
    setup = services.card_setup_for_link(card_request=card_request)
    browser_confirms(setup.id, SUCCEEDS)
    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    body = event("setup_intent.succeeded", {"id": setup.id}, event_id="evt_seti")
    deliver(client, body)
    deliver(client, body)
    gateway_events.process_pending_events()
    assert PaymentMethod.objects.get(client=payer).last4 == "4242"
    assert PaymentCardRequest.objects.get().used_at is not None


# --- strong customer authentication -------------------------------------------------------


def confirmation_link_of(attempt) -> str:
    confirmation = PaymentConfirmation.objects.get(attempt=attempt)
    return reverse("billing:payment-confirm", args=[confirmation_token_for(confirmation)])


def test_a_charge_the_bank_asks_about_awaits_the_payer_and_is_completed_through_the_link(
    client, staff, monkeypatch
):
    invoice = open_invoice(amount="80.00", payer=ClientFactory(email="payer@example.com"))
    card = card_on_file(invoice.payer, NEEDS_AUTHENTICATION)
    with pytest.raises(services.ChargeAwaitingConfirmation):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-1", actor=staff
        )
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == PaymentAttempt.Status.ACTION and attempt.settled_at is None
    assert attempt.gateway_reference.startswith("pi_")
    assert OutboundEmail.objects.filter(
        template="payment_confirmation", context__attempt_id=attempt.pk
    ).exists()
    # the same page again, or the reconciliation: still awaiting, Stripe not asked to charge
    with pytest.raises(services.ChargeAwaitingConfirmation):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-2", actor=staff
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert services.reconcile_payment_attempts() == 0
    client.force_login(staff)
    shown = client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "awaiting the payer's confirmation" in " ".join(shown.split())
    client.logout()

    url = confirmation_link_of(attempt)
    page = client.get(url)
    assert page.status_code == 200
    assert "Confirm payment" in page.content.decode() and "_secret_" in page.content.decode()
    assert "127.0.0.1" in page["Content-Security-Policy"]
    # posting before the bank's check changes nothing
    assert client.post(url).status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.ACTION

    # what Stripe.js does in the page when the payer completes the bank's check
    intent = client_stripe().v1.payment_intents.retrieve(attempt.gateway_reference)
    client_stripe().raw_request(
        "post",
        f"/v1/payment_intents/{intent.id}/_authenticate",
        client_secret=intent.client_secret,
        success="true",
    )
    done = client.post(url)
    assert done.status_code == 200
    assert "your payment is confirmed" in done.content.decode()
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.SUCCEEDED
    assert Payment.objects.get().amount == Decimal("80.00")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    # the webhook arriving after changes nothing
    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    obj = {"id": intent.id, "metadata": _metadata(intent)}
    deliver(client, event("payment_intent.succeeded", obj, event_id="evt_sca"))
    gateway_events.process_pending_events()
    assert Payment.objects.count() == 1
    assert client.get(url).status_code == 200  # says it is paid


def test_a_failed_authentication_arrives_by_webhook_as_a_decline(client, staff, monkeypatch):
    invoice = open_invoice(amount="80.00", payer=ClientFactory(email="payer@example.com"))
    card = card_on_file(invoice.payer, NEEDS_AUTHENTICATION)
    with pytest.raises(services.ChargeAwaitingConfirmation):
        services.charge_card(
            invoice=invoice, payment_method=card, request_key="page-1", actor=staff
        )
    attempt = PaymentAttempt.objects.get()
    intent = client_stripe().v1.payment_intents.retrieve(attempt.gateway_reference)
    client_stripe().raw_request(
        "post",
        f"/v1/payment_intents/{intent.id}/_authenticate",
        client_secret=intent.client_secret,
        success="false",
    )
    monkeypatch.setattr(gateway_events, "enqueue_event", lambda pk: None)
    obj = {"id": intent.id, "metadata": _metadata(intent)}
    deliver(client, event("payment_intent.payment_failed", obj, event_id="evt_sca_failed"))
    gateway_events.process_pending_events()
    attempt.refresh_from_db()
    assert attempt.status == PaymentAttempt.Status.DECLINED
    assert not Payment.objects.exists()
    assert client.get(confirmation_link_of(attempt)).status_code == 410


# --- expiring cards (any gateway; here the simulated one) -----------------------------------


@pytest.mark.parametrize("stripe_settings", [None], indirect=False)
def test_a_card_expiring_within_30_days_gets_one_link_to_replace_it(stripe_settings, settings):
    settings.OPUS_PAYMENT_GATEWAY = "simulated"
    payer = ClientFactory(email="payer@example.com")
    card = PaymentMethod.objects.create(
        client=payer,
        gateway="simulated",
        token="sim_tok_exp",
        brand="visa",
        last4="4242",
        exp_month=3,
        exp_year=2031,
    )
    with time_machine.travel("2031-02-28 09:00 +00:00", tick=False):  # ends 31 March: 31 days
        assert services.request_updates_for_expiring_cards() == 0
    with time_machine.travel("2031-03-01 09:00 +00:00", tick=False):  # 30 days
        assert services.request_updates_for_expiring_cards() == 1
        assert services.request_updates_for_expiring_cards() == 0
    card_request = PaymentCardRequest.objects.get(client=payer)
    assert "ending 4242 expires at the end of March 2031" in card_request.reason
    assert OutboundEmail.objects.filter(template="card_request").count() == 1
    card.refresh_from_db()
    assert card.expiry_notice_at is not None


@pytest.mark.parametrize("stripe_settings", [None], indirect=False)
def test_no_link_when_the_payer_has_a_card_that_works_beyond(stripe_settings, settings):
    payer = ClientFactory(email="payer@example.com")
    for token, year in (("sim_tok_a", 2031), ("sim_tok_b", 2033)):
        PaymentMethod.objects.create(
            client=payer,
            gateway="simulated",
            token=token,
            brand="visa",
            last4="4242",
            exp_month=3,
            exp_year=year,
        )
    with time_machine.travel("2031-03-10 09:00 +00:00", tick=False):
        assert services.request_updates_for_expiring_cards() == 0
    assert not PaymentCardRequest.objects.exists()


# --- idempotency replays: recorded answers (localstripe ignores the header) -----------------

RECORDED = json.loads((Path(__file__).parent / "recorded" / "stripe_idempotency.json").read_text())


class RecordedStripe(stripe.HTTPClient):
    """Answers Stripe's API from recordings, in order, and keeps what was sent."""

    name = "recorded"

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.sent.append((method, url, dict(headers or {}), post_data))
        answer = self.answers.pop(0)
        return json.dumps(answer["body"]), answer["status"], answer["headers"]


def test_a_retry_with_the_attempts_key_gets_stripes_replay_and_a_changed_request_is_refused(
    settings, monkeypatch
):
    recorded = RecordedStripe(
        [RECORDED["first"], RECORDED["replay"], RECORDED["reused_with_other_parameters"]]
    )
    monkeypatch.setattr(
        stripe_gateway, "client", lambda: stripe.StripeClient("sk_test_x", http_client=recorded)
    )
    gateway = StripeGateway()
    first = gateway.charge(
        token="pm_x", amount=Decimal("60.00"), currency="GBP", idempotency_key="KEY"
    )
    again = gateway.charge(
        token="pm_x", amount=Decimal("60.00"), currency="GBP", idempotency_key="KEY"
    )
    assert first == again
    assert first.succeeded and first.charge_id == "ch_3RecordedReplay"
    assert first.amount == Decimal("60.00")
    keys = [headers.get("Idempotency-Key") for _m, _u, headers, _d in recorded.sent]
    assert keys == ["KEY", "KEY"]
    with pytest.raises(GatewayError, match="idempotency"):
        gateway.charge(token="pm_x", amount=Decimal("61.00"), currency="GBP", idempotency_key="KEY")

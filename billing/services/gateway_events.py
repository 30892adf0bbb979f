"""The card processor's webhook events (Stripe): stored once by id when they
arrive, processed by the worker. Processing reads the current state where it can
(a PaymentIntent is retrieved again), so an event delivered twice, or after a
later one, changes nothing that the processor's present answer does not."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import stripe
from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import gateway as gateways
from billing.models import GatewayEvent, Payment, PaymentAttempt, PaymentMethod
from billing.selectors import invoice_practitioners
from billing.services.card_requests import add_card_from_setup
from billing.services.payments import _record_outcome
from billing.stripe_gateway import METADATA_KEY, StripeGateway, from_minor, intent_result
from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM
from opus.lib.money import format_money

logger = logging.getLogger(__name__)

HANDLED = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "setup_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "payment_method.detached",
}


def store_event(*, event: dict) -> tuple[GatewayEvent, bool]:
    """Keep a verified event once, by its id, and queue it for the worker.
    Returns the row and whether it is new (a duplicate is stored already)."""
    event_id = str(event.get("id") or "")[:100]
    try:
        with transaction.atomic():
            row = GatewayEvent.objects.create(
                event_id=event_id, type=str(event.get("type") or "")[:100], payload=event
            )
            pk = row.pk
            transaction.on_commit(lambda: enqueue_event(pk))
    except IntegrityError:
        return GatewayEvent.objects.get(event_id=event_id), False
    return row, True


PROCESS_TASK = "billing.tasks.process_gateway_event"


def enqueue_event(event_pk: int) -> None:
    """Hand the event to the worker; with the broker down, the periodic sweep
    (``process_pending_events``) finds it."""
    try:
        current_app.tasks[PROCESS_TASK].apply_async((event_pk,), retry=False)
    except Exception:
        logger.warning("broker unavailable; gateway event %s left for the sweep", event_pk)


def process_pending_events(*, limit: int = 200) -> int:
    """The sweep: every stored event not processed yet (the broker was down, or
    processing failed and is tried again)."""
    done = 0
    for pk in (
        GatewayEvent.objects.filter(processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    ):
        try:
            process_event(event_pk=pk)
        except gateways.GatewayError as error:
            logger.warning("gateway event %s not processed: %s", pk, error)
            continue
        done += 1
    return done


def process_event(*, event_pk: int) -> str:
    """Apply one stored event once (a second run finds it processed)."""
    with transaction.atomic():
        row = GatewayEvent.objects.select_for_update().get(pk=event_pk)
        if row.processed_at is not None:
            return row.outcome
    outcome = _apply(row.type, (row.payload.get("data") or {}).get("object") or {})
    GatewayEvent.objects.filter(pk=row.pk, processed_at__isnull=True).update(
        processed_at=timezone.now(), outcome=outcome[:300]
    )
    return outcome


def _apply(kind: str, obj: dict) -> str:
    if kind not in HANDLED:
        return "ignored"
    if kind.startswith("payment_intent."):
        return _payment_intent(obj)
    if kind == "setup_intent.succeeded":
        method = add_card_from_setup(setup_id=str(obj.get("id") or ""))
        return f"card {method.pk} saved" if method else "no live link for this setup"
    if kind == "charge.refunded":
        return _refunded(obj)
    if kind == "charge.dispute.created":
        return _disputed(obj)
    return _payment_method(kind, obj)


def _payment_intent(obj: dict) -> str:
    key = ((obj.get("metadata") or {}).get(METADATA_KEY)) or ""
    attempt = PaymentAttempt.objects.filter(idempotency_key=key).first() if key else None
    if attempt is None:
        return "no attempt for this payment"
    gateway = gateways.get_gateway()
    if not isinstance(gateway, StripeGateway):
        return "not the configured processor"
    intent = gateway.retrieve_intent(str(obj.get("id")))  # the present state, not the event's
    after = _record_outcome(
        attempt, intent_result(intent), actor=SYSTEM, note=" (the processor's notice)"
    )
    return f"attempt {after.pk} {after.status}"


def _payment_for_charge(charge_id: str) -> Payment | None:
    if not charge_id:
        return None
    return (
        Payment.objects.select_related("invoice__payer").filter(gateway_charge_id=charge_id).first()
    )


def _refunded(obj: dict) -> str:
    payment = _payment_for_charge(str(obj.get("id") or ""))
    if payment is None:
        payment = _payment_for_charge(str(obj.get("payment_intent") or ""))
    if payment is None:
        return "no payment for this charge"
    currency = str(obj.get("currency") or payment.currency).upper()
    refunded = from_minor(int(obj.get("amount_refunded") or 0), currency)
    invoice = payment.invoice
    record_event(
        client=invoice.payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=(
            f"The card processor refunded {format_money(refunded, currency)} of the card "
            f"payment on {invoice.display_number}"
        ),
        actor=SYSTEM,
        practitioners=invoice_practitioners(invoice),
    )
    return "refund noted"


def _disputed(obj: dict) -> str:
    payment = _payment_for_charge(str(obj.get("charge") or ""))
    if payment is None:
        payment = _payment_for_charge(str(obj.get("payment_intent") or ""))
    if payment is None:
        return "no payment for this charge"
    with transaction.atomic():
        updated = Payment.objects.filter(pk=payment.pk, disputed_at__isnull=True).update(
            disputed_at=datetime.fromtimestamp(int(obj.get("created") or 0), tz=UTC)
            if obj.get("created")
            else timezone.now(),
            dispute_reason=str(obj.get("reason") or "")[:100],
        )
        if updated:
            invoice = payment.invoice
            reason = str(obj.get("reason") or "no reason given").replace("_", " ")
            record_event(
                client=invoice.payer,
                kind=ClientEvent.Kind.PAYMENT,
                summary=(
                    f"The payer's bank disputes the card payment of "
                    f"{format_money(payment.amount, payment.currency)} on "
                    f"{invoice.display_number} ({reason})"
                ),
                actor=SYSTEM,
                practitioners=invoice_practitioners(invoice),
            )
    return "dispute noted" if updated else "dispute known already"


def _payment_method(kind: str, obj: dict) -> str:
    token = str(obj.get("id") or "")
    method = PaymentMethod.objects.select_related("client").filter(token=token).first()
    if method is None:
        return "no card for this payment method"
    if kind == "payment_method.detached":
        if method.removed_at is None:
            PaymentMethod.objects.filter(pk=method.pk, removed_at__isnull=True).update(
                removed_at=timezone.now()
            )
            record_event(
                client=method.client,
                kind=ClientEvent.Kind.CARD,
                summary=f"{method.brand.title()} ending {method.last4} removed at the processor",
                actor=SYSTEM,
            )
        return "card removed"
    card = obj.get("card") or {}
    try:
        exp_month, exp_year = int(card["exp_month"]), int(card["exp_year"])
    except (KeyError, TypeError, ValueError):
        return "no card details"
    if (exp_month, exp_year) != (method.exp_month, method.exp_year) and 1 <= exp_month <= 12:
        PaymentMethod.objects.filter(pk=method.pk).update(
            exp_month=exp_month,
            exp_year=exp_year,
            last4=str(card.get("last4") or method.last4)[:4],
        )
        record_event(
            client=method.client,
            kind=ClientEvent.Kind.CARD,
            summary=(
                f"{method.brand.title()} ending {method.last4}: new expiry "
                f"{exp_month:02d}/{exp_year} from the processor"
            ),
            actor=SYSTEM,
        )
        return "card updated"
    return "card unchanged"


def verify(*, payload: bytes, signature: str, secret: str) -> dict:
    """The event, if Stripe signed this payload with the endpoint's secret;
    raises ValueError otherwise."""
    if not secret:
        raise ValueError("no webhook secret configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise ValueError(str(error)) from error
    data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    if not data.get("id"):
        raise ValueError("event without id")
    return data

"""Payments: recorded by hand, or a card on file charged outside any transaction
(an attempt committed first, the answer recorded after, a reconciliation for
the attempts left pending)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing import gateway as gateways
from billing.gateway import CardDeclined, GatewayError
from billing.models import (
    AccountEntry,
    Invoice,
    Payment,
    PaymentAttempt,
    PaymentConfirmation,
    PaymentMethod,
)
from billing.permissions import require_billing_actor
from billing.plans import EXCESS_TO_CREDIT_LABEL, money
from billing.selectors import amount_paid, invoice_practitioners
from billing.services.accounts import grant_account_credit
from billing.services.followup import queue_receipt
from billing.services.invoices import lock_open, settle_if_paid
from billing.stripe_gateway import StripeGateway, intent_result
from billing.tokens import confirmation_token, hash_token, new_nonce
from clients.models import ClientEvent
from clients.services import record_event
from opus import practice as practices
from opus.lib.actors import SYSTEM, person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money
from opus.services import queue_email

logger = logging.getLogger(__name__)


MANUAL_METHODS = [m for m in Payment.Method.values if m != Payment.Method.CARD]


@transaction.atomic
def record_payment(
    *,
    invoice: Invoice,
    amount,
    method: str,
    reference: str = "",
    actor,
    received_at=None,
    excess_to_credit: bool = False,
) -> Payment:
    """A payment received by hand (cash, bank transfer, card terminal, other).
    Partial payments are fine. More than the balance is refused unless the user
    says to keep the excess as account credit (``excess_to_credit``: a typo of
    1000 for 100 is not taken silently): then the payment is recorded as received,
    the invoice is paid, and the excess goes to the payer's account (an
    overpayment credit, once per payment). ``payment.excess`` says how much."""
    require_billing_actor(actor)
    locked = lock_open(invoice, "payments are recorded")
    if method not in MANUAL_METHODS:
        raise BusinessRuleError(
            "Choose how the payment was made. To charge the card on file, use "
            "“Charge card on file”.",
            field="method",
        )
    amount = money(amount, locked.currency, field="amount", label="amount")
    if amount <= 0:
        raise BusinessRuleError("A payment is more than zero.", field="amount")
    balance = locked.total - amount_paid(locked)
    excess = max(amount - balance, Decimal(0))
    if excess and not excess_to_credit:
        raise BusinessRuleError(
            f"The payment is more than the balance ({format_money(balance, locked.currency)}). "
            f"To keep the {format_money(excess, locked.currency)} above it as account credit "
            f"for {locked.payer.full_name}'s next invoices, tick “{EXCESS_TO_CREDIT_LABEL}”.",
            field="amount",
        )
    payment = Payment.objects.create(
        invoice=locked,
        amount=amount,
        currency=locked.currency,
        method=method,
        reference=(reference or "").strip()[:200],
        recorded_by=person(actor),
        received_at=received_at or timezone.now(),
    )
    settle_if_paid(locked)
    queue_receipt(payment)
    record_event(
        client=locked.payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=(
            f"Payment of {format_money(amount, locked.currency)} "
            f"({payment.get_method_display().lower()}) on {locked.display_number}"
        ),
        actor=actor,
        practitioners=invoice_practitioners(locked),
    )
    if excess:
        _overpaid(payment, locked, excess, actor=actor)
    payment.excess = excess
    return payment


def _overpaid(payment: Payment, invoice: Invoice, excess: Decimal, *, actor) -> None:
    """The part of a payment above what was due goes to the payer's account."""
    grant_account_credit(
        payer=invoice.payer,
        amount=excess,
        currency=payment.currency,
        kind=AccountEntry.Kind.OVERPAYMENT,
        description=f"Paid above the balance of {invoice.display_number}",
        reason=f"{payment.get_method_display()} payment of "
        f"{format_money(payment.amount, payment.currency)} on {invoice.display_number}",
        source=f"overpayment:{payment.pk}",
        invoice=invoice,
        actor=actor,
    )


RECONCILE_AFTER = timedelta(minutes=5)


class ChargePending(BusinessRuleError):
    """The processor did not answer: the attempt stays pending, to be retried with
    the same key or settled by the reconciliation."""


class ChargeAwaitingConfirmation(BusinessRuleError):
    """The payer's bank asks them to confirm the charge (3-D Secure): they were
    emailed a link; the outcome arrives from the processor."""


CONFIRMATION_TTL = timedelta(days=7)
UNSETTLED = (PaymentAttempt.Status.PENDING, PaymentAttempt.Status.ACTION)


def _require_no_transaction() -> None:
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("a card is charged with no database transaction open")


def _card_name(card: PaymentMethod) -> str:
    return f"{card.brand.title()} ending {card.last4}"


@transaction.atomic
def start_card_attempt(
    *, invoice: Invoice, payment_method: PaymentMethod, request_key: str, actor
) -> PaymentAttempt:
    """Step 1: record the attempt to charge the balance of an open invoice to a card
    of its payer, in the caller's transaction (a transfer's) or its own, and return
    it. The same submission (``request_key``) finds its own attempt again, settled
    or not; while another attempt on the invoice is pending, that one is returned,
    to be retried: one charge at a time per invoice."""
    require_billing_actor(actor)
    key = (request_key or "").strip()
    if not key or len(key) > 100:
        raise BusinessRuleError("This charge has no valid key; reload the page.")
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    same = PaymentAttempt.objects.filter(request_key=key).first()
    if same is not None:
        if same.invoice_id != locked.pk:
            raise BusinessRuleError("This charge key belongs to another invoice; reload the page.")
        return same
    pending = locked.attempts.filter(status__in=UNSETTLED).order_by("pk").first()
    if pending is not None:
        return pending
    if locked.status != Invoice.Status.OPEN:
        raise BusinessRuleError(
            f"{locked.display_number} is {locked.get_status_display().lower()}: nothing to charge."
        )
    card = (
        PaymentMethod.objects.filter(pk=payment_method.pk, client_id=locked.payer_id)
        .usable()
        .first()
    )
    if card is None:
        raise BusinessRuleError(
            "That card is not a usable card of the payer: it may have expired or been removed."
        )
    amount = locked.total - amount_paid(locked)
    if amount <= 0:
        raise BusinessRuleError(f"Nothing is left to pay on {locked.display_number}.")
    return PaymentAttempt.objects.create(
        invoice=locked,
        payment_method=card,
        amount=amount,
        currency=locked.currency,
        idempotency_key=uuid.uuid4().hex,
        request_key=key,
        actor=person(actor),
    )


def run_card_attempt(*, attempt: PaymentAttempt, actor) -> Payment:
    """Steps 2 and 3. A settled attempt answers with its outcome (its payment, or
    its decline raised again); a pending one is sent to the processor with its own
    key, so a retry never charges twice, and the answer is recorded. Raises
    CardDeclined (recorded, committed), or ChargePending when the processor did
    not answer."""
    require_billing_actor(actor)
    attempt = PaymentAttempt.objects.select_related("invoice", "payment_method", "payment").get(
        pk=attempt.pk
    )
    if attempt.status == PaymentAttempt.Status.PENDING:
        _require_no_transaction()
        try:
            result = gateways.get_gateway().charge(
                token=attempt.payment_method.token,
                amount=attempt.amount,
                currency=attempt.currency,
                idempotency_key=attempt.idempotency_key,
                description=f"{practices.current().name} {attempt.invoice.display_number}",
            )
        except GatewayError as error:
            logger.warning("gateway error on payment attempt %s: %s", attempt.pk, error)
            raise ChargePending(
                "The card processor did not answer. Opus asks it again within minutes and "
                "records what happened; or try again now: the card will not be charged twice."
            ) from error
        attempt = _record_outcome(attempt, result, actor=actor)
    if attempt.status == PaymentAttempt.Status.SUCCEEDED:
        assert attempt.payment is not None  # a succeeded attempt has its payment
        return attempt.payment
    if attempt.status == PaymentAttempt.Status.ACTION:
        raise ChargeAwaitingConfirmation(
            f"{attempt.invoice.display_number} is awaiting the payer's confirmation: their "
            "bank asks them to confirm this payment, and Opus emailed them a link. The invoice "
            "is paid when they confirm."
        )
    if attempt.status == PaymentAttempt.Status.DECLINED:
        raise CardDeclined(
            f"{_card_name(attempt.payment_method)} was declined: "
            f"{attempt.decline_message or 'the bank refused the charge.'} "
            "Record a payment by hand, or ask the payer for another card.",
            code=attempt.decline_code,
        )
    raise BusinessRuleError(
        "This charge never reached the card processor: nothing was charged. "
        "Reload the page to try again."
    )


def charge_card(*, invoice: Invoice, payment_method: PaymentMethod, request_key: str, actor):
    """Charge the balance of an open invoice to a card of its payer, and return the
    payment. Call it with no transaction open. Submitting the same ``request_key``
    again (a double click) returns the first outcome; a new key is a new attempt
    with a new idempotency key (after a decline, trying again really asks again).
    A decline raises CardDeclined with a message for staff: the invoice is left as
    it was, and the payer's history notes the decline."""
    require_billing_actor(actor)
    _require_no_transaction()
    attempt = start_card_attempt(
        invoice=invoice, payment_method=payment_method, request_key=request_key, actor=actor
    )
    return run_card_attempt(attempt=attempt, actor=actor)


def _record_outcome(
    attempt: PaymentAttempt, result: gateways.ChargeResult | None, *, actor, note: str = ""
) -> PaymentAttempt:
    """Step 3, in a transaction of its own: what the processor did with the
    attempt's key (``None``: it never received it). Settling twice changes nothing;
    a charge the processor made is recorded even on an attempt already marked
    failed (its answer is the truth)."""
    with transaction.atomic(durable=True):
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("payer")
            .get(pk=attempt.invoice_id)
        )
        attempt = (
            PaymentAttempt.objects.select_for_update(of=("self",))
            .select_related("payment_method", "payment")
            .get(pk=attempt.pk)
        )
        card = attempt.payment_method
        now = timezone.now()
        amount = format_money(attempt.amount, attempt.currency)
        if result is None:
            if attempt.status != PaymentAttempt.Status.PENDING:
                return attempt
            attempt.status = PaymentAttempt.Status.FAILED
            summary = (
                f"Charge of {amount} to {_card_name(card)} on {invoice.display_number} never "
                "reached the card processor: nothing charged"
            )
        elif result.requires_action:
            if attempt.status != PaymentAttempt.Status.PENDING:
                return attempt
            attempt.status = PaymentAttempt.Status.ACTION
            attempt.gateway_reference = result.charge_id[:100]
            _ask_payer_to_confirm(attempt, invoice)
            summary = (
                f"The bank asks the payer to confirm the charge of {amount} to {_card_name(card)} "
                f"on {invoice.display_number}: emailed them a link"
            )
        elif result.succeeded:
            if attempt.status == PaymentAttempt.Status.SUCCEEDED:
                return attempt
            balance = invoice.total - amount_paid(invoice)
            balance = balance if invoice.status == Invoice.Status.OPEN else Decimal(0)
            attempt.payment = Payment.objects.create(
                invoice=invoice,
                amount=result.amount,
                currency=attempt.currency,
                method=Payment.Method.CARD,
                reference=_card_name(card),
                payment_method=card,
                gateway_charge_id=result.charge_id,
                idempotency_key=attempt.idempotency_key,
                recorded_by=attempt.actor,
                received_at=now,
            )
            attempt.status = PaymentAttempt.Status.SUCCEEDED
            attempt.decline_code = attempt.decline_message = ""
            if invoice.status == Invoice.Status.OPEN:
                settle_if_paid(invoice)
            queue_receipt(attempt.payment)
            if result.amount > balance:
                _overpaid(attempt.payment, invoice, result.amount - balance, actor=SYSTEM)
            summary = (
                f"{format_money(result.amount, attempt.currency)} charged to {_card_name(card)} "
                f"on {invoice.display_number}"
            )
            if result.amount > balance:  # settled meanwhile by other means
                extra = format_money(result.amount - balance, attempt.currency)
                summary += f"; {extra} more than was due: kept as account credit"
        else:
            if attempt.status not in (*UNSETTLED, PaymentAttempt.Status.FAILED):
                return attempt
            attempt.status = PaymentAttempt.Status.DECLINED
            attempt.decline_code = (result.decline_code or "card_declined")[:50]
            attempt.decline_message = (result.message or "")[:300]
            summary = (
                f"{_card_name(card)} declined ({attempt.decline_reason}) "
                f"on {invoice.display_number}"
            )
        attempt.settled_at = None if attempt.status in UNSETTLED else now
        attempt.save()
        if attempt.status in (PaymentAttempt.Status.SUCCEEDED, PaymentAttempt.Status.DECLINED):
            PaymentConfirmation.objects.filter(attempt=attempt, completed_at__isnull=True).update(
                completed_at=now
            )
        record_event(
            client=invoice.payer,
            kind=ClientEvent.Kind.PAYMENT,
            summary=summary + note,
            actor=actor,
            practitioners=invoice_practitioners(invoice),
        )
    return attempt


def _ask_payer_to_confirm(attempt: PaymentAttempt, invoice: Invoice) -> None:
    """Email the payer a link to confirm the charge with their bank."""
    nonce = new_nonce()
    PaymentConfirmation.objects.create(
        attempt=attempt,
        nonce=nonce,
        token_hash=hash_token(confirmation_token(nonce)),
        expires_at=timezone.now() + CONFIRMATION_TTL,
    )
    if invoice.payer.email:
        queue_email(
            template="payment_confirmation",
            to=invoice.payer.email,
            context={"attempt_id": attempt.pk},
            client=invoice.payer,
        )


def settle_from_processor(*, attempt: PaymentAttempt, note: str = "") -> PaymentAttempt:
    """Ask the processor what became of an attempt awaiting the payer's
    confirmation (after the confirmation page, or a webhook) and record it."""
    _require_no_transaction()
    gateway = gateways.get_gateway()
    result: gateways.ChargeResult | None
    if attempt.gateway_reference and isinstance(gateway, StripeGateway):
        result = intent_result(gateway.retrieve_intent(attempt.gateway_reference))
    else:
        result = gateway.retrieve_charge(idempotency_key=attempt.idempotency_key)
    if result is None:
        return attempt
    return _record_outcome(attempt, result, actor=attempt.actor or SYSTEM, note=note)


def reconcile_payment_attempts(*, older_than: timedelta = RECONCILE_AFTER) -> int:
    """Settle every attempt pending for longer than ``older_than`` (the processor
    did not answer, or the process died after asking) with what the processor did
    with its key: a charge becomes its one payment, a decline a declined attempt,
    a key it never received a failed attempt (nothing charged). Run by the worker
    every few minutes; safe to run twice, or beside a retry. Returns how many
    attempts it settled."""
    _require_no_transaction()
    gateway = gateways.get_gateway()
    stale = PaymentAttempt.objects.filter(
        status__in=UNSETTLED, created_at__lt=timezone.now() - older_than
    ).order_by("pk")
    settled = 0
    for attempt in stale[:200]:
        try:
            result = gateway.retrieve_charge(idempotency_key=attempt.idempotency_key)
        except GatewayError as error:
            logger.warning("gateway error reconciling payment attempt %s: %s", attempt.pk, error)
            continue
        after = _record_outcome(
            attempt, result, actor=attempt.actor or SYSTEM, note=" (settled by the reconciliation)"
        )
        settled += after.status != attempt.status
    return settled

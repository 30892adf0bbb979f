"""Refunds: money paid back on a payment, to the card through the processor or
recorded as paid back by hand (cash, bank transfer, other).

A card refund follows the charge's discipline (``billing.services.payments``):
(1) the refund is recorded, pending, and committed, reserving its amount on the
payment (``Payment.refunded``, which the database keeps within the payment's
amount: two refunds at once cannot give back more than was paid); (2) the
processor is asked with the refund's own idempotency key and no transaction
open; (3) its answer is recorded in a transaction of its own. A refusal or a
refund the processor never received frees the reservation (and gives back the
account credit it was paying out); trying again is a new refund with a new key.
``reconcile_refunds`` settles refunds left pending.

A refund ``from_account`` pays out the payer's account credit: it stands against
a payment of theirs (the money came in through it) and is also a use in the
account's ledger.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import gateway as gateways
from billing.gateway import GatewayError
from billing.models import AccountEntry, Invoice, Payment, Refund
from billing.permissions import require_billing_actor
from billing.plans import money
from billing.selectors import invoice_practitioners
from billing.services.accounts import _write_entry, lock_account
from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM, person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money

logger = logging.getLogger(__name__)

RECONCILE_AFTER = timedelta(minutes=5)
MANUAL_REFUND_METHODS = [m for m in Refund.Method.values if m != Refund.Method.CARD]


class RefundPending(BusinessRuleError):
    """The processor did not answer: the refund stays pending, to be retried with
    the same key or settled by the reconciliation."""


class RefundRefused(BusinessRuleError):
    """The processor refused the refund (recorded): trying again is a new refund."""


def _require_no_transaction() -> None:
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("a card is refunded with no database transaction open")


def refundable(payment: Payment):
    """What is left to refund of a payment."""
    return payment.amount - payment.refunded


@transaction.atomic
def start_refund(
    *,
    payment: Payment,
    amount,
    reason: str,
    method: str,
    actor,
    request_key: str = "",
    from_account: bool = False,
) -> Refund:
    """Step 1: record the refund and reserve its amount on the payment (and, from
    the account, take it off the payer's credit). By hand it is done here: paid
    back, recorded. To the card it stays pending until ``run_refund``. The same
    ``request_key`` (a double click) finds its refund again."""
    require_billing_actor(actor)
    key = (request_key or "").strip()[:100] or None
    if key:
        same = Refund.objects.filter(request_key=key).first()
        if same is not None:
            if same.payment_id != payment.pk:
                raise BusinessRuleError("This refund key belongs to another payment; reload.")
            return same
    invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError("Give a reason for the refund.", field="reason")
    if method not in Refund.Method.values:
        raise BusinessRuleError("Choose how the money is paid back.", field="method")
    if method == Refund.Method.CARD and not (
        locked.method == Payment.Method.CARD and locked.gateway_charge_id
    ):
        raise BusinessRuleError(
            "This payment was not made by card on file: record how it was paid back "
            "(cash, bank transfer or other).",
            field="method",
        )
    value = money(amount, locked.currency, field="amount", label="amount")
    if value <= 0:
        raise BusinessRuleError("A refund is more than zero.", field="amount")
    if locked.refunds.filter(status=Refund.Status.PENDING).exists():
        raise BusinessRuleError(
            "A refund of this payment is still waiting for the card processor's answer; "
            "try again in a few minutes."
        )
    left = refundable(locked)
    if value > left:
        raise BusinessRuleError(
            f"That is more than is left to refund of this payment "
            f"({format_money(left, locked.currency)}).",
            field="amount",
        )
    account = lock_account(invoice.payer_id, locked.currency) if from_account else None
    # the database keeps refunded <= amount even against a writer that skipped the check
    Payment.objects.filter(pk=locked.pk).update(refunded=F("refunded") + value)
    manual = method != Refund.Method.CARD
    now = timezone.now()
    refund = Refund.objects.create(
        payment=locked,
        amount=value,
        currency=locked.currency,
        method=method,
        reason=reason[:300],
        from_account=from_account,
        status=Refund.Status.SUCCEEDED if manual else Refund.Status.PENDING,
        settled_at=now if manual else None,
        idempotency_key=None if manual else uuid.uuid4().hex,
        request_key=key,
        actor=person(actor),
    )
    if account is not None:
        _write_entry(
            account,
            kind=AccountEntry.Kind.REFUNDED,
            amount=-value,
            description=f"Paid out by a refund on {invoice.display_number}",
            actor=actor,
            invoice=invoice,
            refund=refund,
            reason=reason[:300],
        )
    payment.refunded = locked.refunded + value
    if manual:
        _event(refund, invoice, f"({refund.get_method_display().lower()})", actor=actor)
    return refund


def _event(refund: Refund, invoice: Invoice, how: str, *, actor, note: str = "") -> None:
    record_event(
        client=invoice.payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=(
            f"Refund of {format_money(refund.amount, refund.currency)} {how} on "
            f"{invoice.display_number}"
            + (" from account credit" if refund.from_account else "")
            + f": {refund.reason}{note}"
        ),
        actor=actor,
        practitioners=invoice_practitioners(invoice),
    )


def run_refund(*, refund: Refund, actor) -> Refund:
    """Steps 2 and 3 for a card refund: a pending refund is sent with its own key
    (a retry never refunds twice) and the answer recorded. Raises
    BusinessRuleError on a refusal (recorded, committed), RefundPending when the
    processor did not answer."""
    require_billing_actor(actor)
    refund = Refund.objects.select_related("payment").get(pk=refund.pk)
    if refund.status == Refund.Status.PENDING:
        _require_no_transaction()
        try:
            result = gateways.get_gateway().refund(
                charge_id=refund.payment.gateway_charge_id,
                amount=refund.amount,
                currency=refund.currency,
                idempotency_key=refund.idempotency_key or "",
            )
        except GatewayError as error:
            logger.warning("gateway error on refund %s: %s", refund.pk, error)
            raise RefundPending(
                "The card processor did not answer. Opus asks it again within minutes and "
                "records what happened; the card will not be refunded twice."
            ) from error
        refund = _record_refund_outcome(refund, result, actor=actor)
    if refund.status in (Refund.Status.DECLINED, Refund.Status.FAILED):
        raise RefundRefused(
            "The card processor refused the refund: "
            f"{refund.message or 'nothing was refunded.'} Try again, or pay it back by hand."
        )
    return refund


def refund_payment(
    *,
    payment: Payment,
    amount,
    reason: str,
    method: str,
    actor,
    request_key: str = "",
    from_account: bool = False,
) -> Refund:
    """Refund a payment fully or in part: by hand (recorded at once) or to the card
    (call with no transaction open). Returns the refund."""
    require_billing_actor(actor)
    if method == Refund.Method.CARD:
        _require_no_transaction()
    refund = start_refund(
        payment=payment,
        amount=amount,
        reason=reason,
        method=method,
        actor=actor,
        request_key=request_key,
        from_account=from_account,
    )
    if refund.method == Refund.Method.CARD:
        return run_refund(refund=refund, actor=actor)
    return refund


def _record_refund_outcome(
    refund: Refund, result: gateways.RefundResult | None, *, actor, note: str = ""
) -> Refund:
    """Step 3, in a transaction of its own: ``None`` when the processor never
    received the key. Settling twice changes nothing; a refund the processor made
    is recorded even on one marked failed (its answer is the truth)."""
    with transaction.atomic(durable=True):
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("payer")
            .get(pk=refund.payment.invoice_id)
        )
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        account = lock_account(invoice.payer_id, refund.currency) if refund.from_account else None
        if result is not None and result.succeeded:
            if refund.status == Refund.Status.SUCCEEDED:
                return refund
            if refund.status != Refund.Status.PENDING:  # freed earlier: take it again
                Payment.objects.filter(pk=payment.pk).update(refunded=F("refunded") + refund.amount)
                if account is not None:
                    _write_entry(
                        account,
                        kind=AccountEntry.Kind.REFUNDED,
                        amount=-refund.amount,
                        description=f"Paid out by a refund on {invoice.display_number}",
                        actor=actor,
                        invoice=invoice,
                        refund=refund,
                        reason=refund.reason,
                    )
            refund.status = Refund.Status.SUCCEEDED
            refund.gateway_refund_id = result.refund_id[:100]
            refund.message = ""
            how = "to the card"
        else:
            if refund.status != Refund.Status.PENDING:
                return refund
            refund.status = Refund.Status.FAILED if result is None else Refund.Status.DECLINED
            refund.message = (
                "The card processor never received it." if result is None else result.message
            )[:300]
            Payment.objects.filter(pk=payment.pk).update(refunded=F("refunded") - refund.amount)
            if account is not None:
                _write_entry(
                    account,
                    kind=AccountEntry.Kind.REFUND_FAILED,
                    amount=refund.amount,
                    description=f"Refund on {invoice.display_number} not made: credit restored",
                    actor=actor,
                    invoice=invoice,
                    refund=refund,
                    reason=refund.reason,
                )
            how = "to the card refused" if result is not None else "to the card not made"
        refund.settled_at = timezone.now()
        refund.save()
        _event(refund, invoice, how, actor=actor, note=note)
    return refund


def reconcile_refunds(*, older_than: timedelta = RECONCILE_AFTER) -> int:
    """Settle every refund pending for longer than ``older_than`` with what the
    processor did with its key. Safe to run twice. Returns how many it settled."""
    _require_no_transaction()
    gateway = gateways.get_gateway()
    stale = (
        Refund.objects.select_related("payment")
        .filter(status=Refund.Status.PENDING, created_at__lt=timezone.now() - older_than)
        .order_by("pk")
    )
    settled = 0
    for refund in stale[:200]:
        try:
            result = gateway.retrieve_refund(idempotency_key=refund.idempotency_key or "")
        except GatewayError as error:
            logger.warning("gateway error reconciling refund %s: %s", refund.pk, error)
            continue
        after = _record_refund_outcome(
            refund, result, actor=refund.actor or SYSTEM, note=" (settled by the reconciliation)"
        )
        settled += after.status != Refund.Status.PENDING
    return settled


PAID_BACK_AS: dict[str, str] = {
    Payment.Method.CASH: Refund.Method.CASH,
    Payment.Method.BANK_TRANSFER: Refund.Method.BANK_TRANSFER,
}


@transaction.atomic
def refund_account_credit(
    *, payer, currency: str, amount, reason: str, payments, request_key: str, actor
) -> list[Refund]:
    """Pay out ``amount`` of the payer's account credit, in the caller's transaction,
    against ``payments`` of theirs (the money came in through them; newest first):
    a card payment is refunded to the card (recorded pending here; send it with
    ``run_refund`` once committed, or the reconciliation settles it), a payment by
    hand is recorded as paid back the same way (cash, bank transfer; other means:
    "other"). What the payments cannot take stays on the account. Returns the
    refunds; ``request_key`` makes them once (the same key again returns them)."""
    require_billing_actor(actor)
    key = (request_key or "").strip()[:80]
    if not key:
        raise BusinessRuleError("This refund has no valid key; reload the page.")
    earlier = list(Refund.objects.filter(request_key__startswith=f"{key}-").order_by("pk"))
    if earlier:
        return earlier
    left = money(amount, currency, field="amount", label="amount")
    refunds: list[Refund] = []
    candidates = sorted(
        (p for p in payments if p.currency == currency and p.invoice.payer_id == payer.pk),
        key=lambda p: (p.received_at, p.pk),
        reverse=True,
    )
    for payment in candidates:
        if left <= 0:
            break
        fresh = Payment.objects.get(pk=payment.pk)
        room = refundable(fresh)
        if room <= 0 or fresh.refunds.filter(status=Refund.Status.PENDING).exists():
            continue
        part = min(room, left)
        by_card = fresh.method == Payment.Method.CARD and bool(fresh.gateway_charge_id)
        refunds.append(
            start_refund(
                payment=fresh,
                amount=part,
                reason=reason,
                method=Refund.Method.CARD
                if by_card
                else PAID_BACK_AS.get(fresh.method, Refund.Method.OTHER),
                request_key=f"{key}-{len(refunds) + 1}",
                from_account=True,
                actor=actor,
            )
        )
        left -= part
    return refunds

"""Billing writes: invoices, payments, cards on file, card requests.

Invoices are built as drafts line by line; issuing numbers them without gaps
(a counter row locked in the issuing transaction) and freezes them: from then
on a correction is a void and a new invoice (or a credit on the next one); the
one change an issued invoice accepts is a credit appended while it is open
(``credit_open_invoice``). The database refuses anything else too (migrations
0004 and 0005's triggers).

Amounts are rounded once, by ``opus.lib.money.round_money``, when a line is
written; totals are sums of rounded amounts and need no second rounding.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from billing import gateway as gateways
from billing.emails import INVOICE
from billing.gateway import CardDeclined, CardDetails, CardError, GatewayError
from billing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSequence,
    Payment,
    PaymentAttempt,
    PaymentCardRequest,
    PaymentMethod,
)
from billing.permissions import can_request_card, require_billing_actor
from billing.plans import (
    InvoicePlan,
    invoice_totals,
    money,
    plan_subscription_invoice,
)
from billing.rebilling import (
    REBOOK_CREDIT_REASON,
    OldPayerMoney,
    TakenOver,
    sessions_per_unit,
    sessions_text,
)
from billing.selectors import amount_paid, balance_due, card_on_file, invoice_practitioners
from billing.signals import card_added
from billing.tokens import derive_token, hash_token, new_nonce
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM, person, require_actor
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money, round_money
from opus.models import OutboundEmail
from opus.services import queue_email

logger = logging.getLogger(__name__)

DEFAULT_DUE_DAYS = 14

MANUAL_METHODS = [m for m in Payment.Method.values if m != Payment.Method.CARD]

__all__ = [  # the API other apps call
    "add_card_from_link",
    "add_charge",
    "add_credit",
    "add_discount",
    "balance_due",
    "bill_attendee",
    "build_subscription_invoice",
    "card_on_file",
    "charge_card",
    "close_invoice",
    "create_draft",
    "credit_open_invoice",
    "invoice_totals",
    "issue_invoice",
    "reconcile_payment_attempts",
    "record_payment",
    "request_payment_card",
    "resend_payment_card_request",
    "run_card_attempt",
    "settle_old_payer",
    "start_card_attempt",
    "void_invoice",
]


# --- drafts ------------------------------------------------------------------------------------


def create_draft(*, payer, actor, relationship=None, currency: str | None = None) -> Invoice:
    """An empty draft invoice to the payer (of the relationship, when given)."""
    if relationship is not None and relationship.payer_id != payer.pk:
        raise BusinessRuleError("An invoice goes to the payer of the relationship.")
    require_billing_actor(actor)
    kwargs = {"currency": currency.upper()} if currency else {}
    return Invoice.objects.create(
        payer=payer, relationship=relationship, created_by=person(actor), **kwargs
    )


def _lock_draft(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Invoice.Status.DRAFT:
        raise BusinessRuleError(
            f"{locked.display_number} is issued and cannot be changed: "
            "void it and issue a new one, or credit the difference on the next invoice."
        )
    return locked


def _plan_of(locked: Invoice) -> InvoicePlan:
    return InvoicePlan(currency=locked.currency, lines=list(locked.lines.all()))


def _save_lines(invoice: Invoice, locked: Invoice, plan: InvoicePlan) -> None:
    """Writes the plan's unsaved lines onto the locked draft, and its total."""
    for line in plan.lines:
        if line.pk is None:
            line.invoice = locked
            line.save()
    locked.total = plan.totals["total"]
    locked.save(update_fields=["total"])
    invoice.total = locked.total


@transaction.atomic
def add_charge(*, invoice: Invoice, actor, **charge) -> InvoiceLine:
    """A charge on a draft (``InvoicePlan.charge`` says the rule)."""
    require_billing_actor(actor)
    locked = _lock_draft(invoice)
    plan = _plan_of(locked)
    line = plan.charge(**charge)
    _save_lines(invoice, locked, plan)
    return line


@transaction.atomic
def add_discount(*, invoice: Invoice, actor, reason: str, amount=None, percent=None) -> InvoiceLine:
    """A discount on a draft (``InvoicePlan.discount`` says the rule)."""
    require_billing_actor(actor)
    locked = _lock_draft(invoice)
    plan = _plan_of(locked)
    line = plan.discount(reason=reason, amount=amount, percent=percent)
    _save_lines(invoice, locked, plan)
    return line


@transaction.atomic
def add_credit(*, invoice: Invoice, actor, **credit) -> InvoiceLine:
    """A credit on a draft (``InvoicePlan.credit`` says the rule)."""
    require_billing_actor(actor)
    locked = _lock_draft(invoice)
    plan = _plan_of(locked)
    line = plan.credit(**credit)
    _save_lines(invoice, locked, plan)
    return line


@transaction.atomic
def save_plan(plan: InvoicePlan, *, relationship, actor) -> Invoice:
    """A draft invoice to the relationship's payer with exactly the plan's lines."""
    require_billing_actor(actor)
    invoice = create_draft(
        payer=relationship.payer, relationship=relationship, actor=actor, currency=plan.currency
    )
    _save_lines(invoice, invoice, plan)
    return invoice


def build_subscription_invoice(*, subscription, actor) -> Invoice:
    """A draft invoice to the subscription's payer for its first period
    (``billing.plans.plan_subscription_invoice`` says what it bills)."""
    require_billing_actor(actor)
    plan = plan_subscription_invoice(subscription)
    return save_plan(plan, relationship=subscription.relationship, actor=actor)


# --- issuing and the invoice's life ---------------------------------------------------------


def next_invoice_number(name: str = "invoice") -> int:
    """Take the next number. Call inside the issuing transaction: the counter row
    stays locked until it commits (a second issuer waits), and a rollback gives
    the number back, so numbers have no gaps and no duplicates."""
    InvoiceSequence.objects.get_or_create(name=name)
    sequence = InvoiceSequence.objects.select_for_update().get(name=name)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return sequence.last_number


def _set_status(invoice: Invoice, status: str) -> None:
    invoice.status = status
    invoice.status_changed_at = timezone.now()


@transaction.atomic
def issue_invoice(
    *,
    invoice: Invoice,
    due_on: date | None = None,
    issued_on: date | None = None,
    actor,
) -> Invoice:
    """Number the draft, fix its total and open it with a due date (or mark it paid
    when nothing is due). Locks the invoice, then the counter."""
    require_billing_actor(actor)
    locked = _lock_draft(invoice)
    lines = list(locked.lines.all())
    if not any(line.kind == InvoiceLine.Kind.CHARGE for line in lines):
        raise BusinessRuleError("Add what is billed before issuing the invoice.")
    issued_on = issued_on or timezone.localdate()
    due_on = due_on or issued_on + timedelta(days=DEFAULT_DUE_DAYS)
    if due_on < issued_on:
        raise BusinessRuleError("The due date is before the issue date.", field="due_on")
    locked.total = invoice_totals(lines)["total"]
    locked.number = next_invoice_number()
    locked.issued_on = issued_on
    locked.due_on = due_on
    _set_status(locked, Invoice.Status.OPEN if locked.total > 0 else Invoice.Status.PAID)
    locked.save()
    record_event(
        client=locked.payer,
        kind=ClientEvent.Kind.INVOICE,
        summary=(
            f"Invoice {locked.display_number} issued: "
            f"{format_money(locked.total, locked.currency)}, due {due_on:%-d %b %Y}"
        ),
        actor=actor,
        practitioners=invoice_practitioners(locked),
    )
    return locked


def _lock_open(invoice: Invoice, doing: str) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Invoice.Status.OPEN:
        raise BusinessRuleError(
            f"{locked.display_number} is {locked.get_status_display().lower()}: "
            f"{doing} only on an open invoice."
        )
    return locked


def _settle_if_paid(locked: Invoice) -> None:
    if amount_paid(locked) >= locked.total:
        _set_status(locked, Invoice.Status.PAID)
        locked.save(update_fields=["status", "status_changed_at"])


@transaction.atomic
def record_payment(
    *,
    invoice: Invoice,
    amount,
    method: str,
    reference: str = "",
    actor,
    received_at=None,
) -> Payment:
    """A payment received by hand (cash, bank transfer, card terminal, other).
    Partial payments are fine; more than the balance is refused."""
    require_billing_actor(actor)
    locked = _lock_open(invoice, "payments are recorded")
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
    if amount > balance:
        raise BusinessRuleError(
            f"The payment is more than the balance ({format_money(balance, locked.currency)}).",
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
    _settle_if_paid(locked)
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
    return payment


# --- charging a card on file ------------------------------------------------------------------
#
# A processor's charge is not rolled back with our transaction, so it is never
# asked inside one: (1) the attempt is recorded and committed, (2) the processor
# is asked with the attempt's own idempotency key, no transaction open, (3) its
# answer is recorded in a new transaction. A process that dies between (2) and
# (3) leaves the attempt pending; ``reconcile_payment_attempts`` asks the
# processor what became of it and records that: one charge, one payment.

RECONCILE_AFTER = timedelta(minutes=5)


class ChargePending(BusinessRuleError):
    """The processor did not answer: the attempt stays pending, to be retried with
    the same key or settled by the reconciliation."""


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
    pending = locked.attempts.filter(status=PaymentAttempt.Status.PENDING).first()
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
                description=f"{settings.OPUS_PRACTICE_NAME} {attempt.invoice.display_number}",
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
                _settle_if_paid(invoice)
            summary = (
                f"{format_money(result.amount, attempt.currency)} charged to {_card_name(card)} "
                f"on {invoice.display_number}"
            )
            if result.amount > balance:  # settled meanwhile by other means
                extra = format_money(result.amount - balance, attempt.currency)
                summary += f"; {extra} more than was due: refund it"
        else:
            if attempt.status not in (PaymentAttempt.Status.PENDING, PaymentAttempt.Status.FAILED):
                return attempt
            attempt.status = PaymentAttempt.Status.DECLINED
            attempt.decline_code = (result.decline_code or "card_declined")[:50]
            attempt.decline_message = (result.message or "")[:300]
            summary = (
                f"{_card_name(card)} declined ({attempt.decline_reason}) "
                f"on {invoice.display_number}"
            )
        attempt.settled_at = now
        attempt.save()
        record_event(
            client=invoice.payer,
            kind=ClientEvent.Kind.PAYMENT,
            summary=summary + note,
            actor=actor,
            practitioners=invoice_practitioners(invoice),
        )
    return attempt


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
        status=PaymentAttempt.Status.PENDING, created_at__lt=timezone.now() - older_than
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
        settled += after.status != PaymentAttempt.Status.PENDING
    return settled


@transaction.atomic
def credit_open_invoice(
    *,
    invoice: Invoice,
    amount,
    reason: str,
    description: str,
    subscription=None,
    booking=None,
    actor,
) -> InvoiceLine:
    """Money no longer owed on an open invoice (sessions moved to another payer):
    a credit line appended to it, never more than its balance. What was billed is
    not touched; the total drops by the amount. When nothing is left to pay the
    invoice is paid, as when a payment settles it (and as a zero total is issued)."""
    require_billing_actor(actor)
    locked = _lock_open(invoice, "a credit is added")
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleError("Give a reason for the credit.", field="reason")
    if not (description or "").strip():
        raise BusinessRuleError("Describe the credit.", field="description")
    value = money(amount, locked.currency, field="amount", label="credit")
    if value <= 0:
        raise BusinessRuleError("A credit is more than zero.", field="amount")
    balance = locked.total - amount_paid(locked)
    if value > balance:
        raise BusinessRuleError(
            f"The credit is larger than the balance of {locked.display_number} "
            f"({format_money(balance, locked.currency)}).",
            field="amount",
        )
    line = InvoiceLine.objects.create(
        invoice=locked,
        position=locked.lines.count(),
        kind=InvoiceLine.Kind.CREDIT,
        description=description.strip()[:300],
        unit_price=value,
        amount=value,
        reason=reason[:300],
        subscription=subscription,
        booking=booking,
    )
    locked.total = invoice_totals(locked.lines.all())["total"]
    locked.save(update_fields=["total"])
    invoice.total = locked.total
    _settle_if_paid(locked)
    invoice.status = locked.status
    record_event(
        client=locked.payer,
        kind=ClientEvent.Kind.INVOICE,
        summary=(
            f"Credit of {format_money(value, locked.currency)} on {locked.display_number}: "
            f"{line.description}" + (" (now paid)" if locked.status == Invoice.Status.PAID else "")
        ),
        actor=actor,
        practitioners=invoice_practitioners(locked),
    )
    return line


@transaction.atomic
def void_invoice(*, invoice: Invoice, reason: str, actor) -> Invoice:
    """Cancel an open invoice issued in error; its number stays, marked void."""
    require_billing_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleError("Give a reason for voiding the invoice.", field="reason")
    locked = _lock_open(invoice, "voiding is possible")
    if locked.payments.exists():
        raise BusinessRuleError(
            "Payments are recorded on this invoice, so it cannot be voided. Close it "
            "instead, or credit the difference on the next invoice."
        )
    _set_status(locked, Invoice.Status.VOID)
    locked.void_reason = reason[:300]
    locked.save(update_fields=["status", "void_reason", "status_changed_at"])
    record_event(
        client=locked.payer,
        kind=ClientEvent.Kind.INVOICE,
        summary=f"Invoice {locked.display_number} voided: {reason}",
        actor=actor,
        practitioners=invoice_practitioners(locked),
    )
    return locked


@transaction.atomic
def close_invoice(*, invoice: Invoice, reason: str, actor) -> Invoice:
    """Nothing more is expected on this invoice. A draft is numbered as it closes
    (for "Enroll and Close Now"); an open one keeps what was paid."""
    require_billing_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleError("Give a reason for closing the invoice.", field="reason")
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == Invoice.Status.DRAFT:
        locked.total = invoice_totals(locked.lines.all())["total"]
        locked.number = next_invoice_number()
        locked.issued_on = timezone.localdate()
    elif locked.status != Invoice.Status.OPEN:
        raise BusinessRuleError(
            f"{locked.display_number} is {locked.get_status_display().lower()}: "
            "only a draft or an open invoice can be closed."
        )
    _set_status(locked, Invoice.Status.CLOSED)
    locked.close_reason = reason[:300]
    locked.save()
    record_event(
        client=locked.payer,
        kind=ClientEvent.Kind.INVOICE,
        summary=f"Invoice {locked.display_number} closed: {reason}",
        actor=actor,
        practitioners=invoice_practitioners(locked),
    )
    return locked


# --- card requests ---------------------------------------------------------------------------


class CardLinkGone(BusinessRuleError):
    """The link was used, has expired or was replaced by a newer one."""

    def __init__(self, card_request: PaymentCardRequest, state: str):
        super().__init__(f"This link can no longer be used ({state}).")
        self.card_request = card_request
        self.state = state


def _check_can_request(actor, client) -> None:
    require_actor(actor)
    if not can_request_card(actor, client):
        raise PermissionDenied("Only staff and the client's practitioner can ask for a card.")


@transaction.atomic
def request_payment_card(*, client, actor, reason: str, relationship=None) -> PaymentCardRequest:
    """Email the client a single-use link to add a card; the link expires after
    OPUS_CARD_REQUEST_TTL, and replaces any earlier request of theirs. The email
    is an outbox row sent by the worker after this transaction commits."""

    _check_can_request(actor, client)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError(
            "Say why the card is needed: the email tells the client.", field="reason"
        )
    # One request at a time per client. NO KEY UPDATE: rows that merely point at
    # the client (a card being saved, a history row) are not held up by it.
    client = Client.objects.select_for_update(no_key=True).get(pk=client.pk)
    if not client.email:
        raise BusinessRuleError(
            f"{client.full_name} has no email address: add one to send the link."
        )
    if relationship is not None and client.pk not in (
        relationship.payer_id,
        relationship.attendee_id,
    ):
        raise BusinessRuleError("That relationship is not this client's.")
    now = timezone.now()
    PaymentCardRequest.objects.filter(
        client=client, used_at__isnull=True, superseded_at__isnull=True
    ).update(superseded_at=now)
    nonce = new_nonce()
    card_request = PaymentCardRequest.objects.create(
        client=client,
        relationship=relationship,
        reason=reason[:300],
        nonce=nonce,
        token_hash=hash_token(derive_token(nonce)),
        created_by=person(actor),
        expires_at=now + settings.OPUS_CARD_REQUEST_TTL,
    )
    queue_email(
        template="card_request",
        to=client.email,
        context={"card_request_id": card_request.pk},
        client=client,
    )
    record_event(
        client=client,
        kind=ClientEvent.Kind.CARD,
        summary=f"Link to add a card requested: {reason}",
        actor=actor,
    )
    return card_request


@transaction.atomic
def resend_payment_card_request(*, card_request: PaymentCardRequest, actor) -> PaymentCardRequest:
    """Send the link of a live request again (the same link), or, when it has
    expired or its email could not be delivered to an old address, a fresh
    request. Pressing twice queues one email."""

    _check_can_request(actor, card_request.client)
    Client.objects.select_for_update(no_key=True).get(pk=card_request.client_id)
    card_request = PaymentCardRequest.objects.select_for_update().get(pk=card_request.pk)
    now = timezone.now()
    state = card_request.state_at(now)
    if state == PaymentCardRequest.State.USED:
        raise BusinessRuleError("The client already added a card through this link.")
    if state == PaymentCardRequest.State.SUPERSEDED:
        raise BusinessRuleError("A newer request replaced this one: resend that one instead.")
    if state == PaymentCardRequest.State.EXPIRED:
        return request_payment_card(
            client=card_request.client,
            actor=actor,
            reason=card_request.reason,
            relationship=card_request.relationship,
        )
    client = card_request.client
    if not client.email:
        raise BusinessRuleError(f"{client.full_name} has no email address: add one first.")
    already_queued = OutboundEmail.objects.filter(
        template="card_request",
        status=OutboundEmail.Status.PENDING,
        context__card_request_id=card_request.pk,
    ).exists()
    if not already_queued:
        card_request.email_failed_at = None
        card_request.save(update_fields=["email_failed_at"])
        queue_email(
            template="card_request",
            to=client.email,
            context={"card_request_id": card_request.pk},
            client=client,
        )
        record_event(
            client=client,
            kind=ClientEvent.Kind.CARD,
            summary="Link to add a card sent again",
            actor=actor,
        )
    return card_request


@sensitive_variables("card", "token")
def add_card_from_link(*, token: str, card: CardDetails) -> PaymentMethod:
    """The client adds a card through their link: saved at the gateway, kept as a
    PaymentMethod, and the link used up, all at once. The request row is locked,
    so concurrent submissions store one card; the others find the link used."""
    with transaction.atomic():
        card_request = (
            PaymentCardRequest.objects.select_for_update(of=("self",))
            .select_related("client")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if card_request is None:
            raise BusinessRuleError("This link is not valid.")
        now = timezone.now()
        if not card_request.is_live_at(now):
            raise CardLinkGone(card_request, card_request.state_at(now))
        gateway = gateways.get_gateway()
        setup = gateway.create_setup(reference=f"card-request-{card_request.pk}")
        saved = gateway.confirm_setup(setup=setup, card=card)  # CardError: nothing saved
        try:
            with transaction.atomic():
                method = PaymentMethod.objects.create(
                    client_id=card_request.client_id,
                    gateway=saved.gateway,
                    token=saved.token,
                    brand=saved.brand,
                    last4=saved.last4,
                    exp_month=saved.exp_month,
                    exp_year=saved.exp_year,
                )
        except IntegrityError as error:  # a token the gateway gave twice
            raise GatewayError("duplicate token") from error
        card_request.used_at = timezone.now()
        card_request.payment_method = method
        card_request.save(update_fields=["used_at", "payment_method"])
        record_event(
            actor=SYSTEM,
            client=card_request.client,
            kind=ClientEvent.Kind.CARD,
            summary=(f"{saved.brand.title()} ending {saved.last4} added through the emailed link"),
        )
        card_added.send(sender=PaymentCardRequest, client=card_request.client)
    return method


__all__ += ["CardDeclined", "CardError", "CardLinkGone", "ChargePending"]


def send_invoice(*, invoice: Invoice, actor) -> bool:
    """Email an open invoice to its payer through the outbox (after commit).
    False when the payer has no email address to send it to."""

    require_billing_actor(actor)
    if invoice.status != Invoice.Status.OPEN:
        raise BusinessRuleError("Only an open invoice is sent to the payer.")
    if not invoice.payer.email:
        return False
    queue_email(
        template=INVOICE,
        to=invoice.payer.email,
        client=invoice.payer,
        context={"invoice_id": invoice.pk},
    )
    return True


# --- sessions moved to another payer (``billing.rebilling`` works out the money) ---------------
def settle_old_payer(money: OldPayerMoney, *, actor) -> None:
    """Apply what ``old_payer_money`` worked out. The credits are Opus's (as a
    booking's invoice is): a practitioner may rebook, changing invoices is
    staff's; the history says who rebooked (``actor``)."""
    require_actor(actor)
    payer = money.payer
    if payer is None:  # the old relationship billed nothing
        return

    for item in money.invoices:
        for credit in item.credits:
            line = {
                "invoice": item.invoice,
                "amount": credit.amount,
                "reason": REBOOK_CREDIT_REASON,
                "description": credit.description,
                "subscription": credit.share.subscription,
                "booking": credit.share.booking,
            }
            if item.is_draft:  # not issued: the credit simply goes on it
                add_credit(**line, actor=SYSTEM)
            else:
                credit_open_invoice(**line, actor=SYSTEM)
        if item.is_draft and item.credits:
            record_event(
                client=payer,
                kind=ClientEvent.Kind.INVOICE,
                summary=(
                    f"Credit of {format_money(item.credited, item.invoice.currency)} on "
                    f"{item.invoice.display_number} (not issued yet) for sessions rebooked "
                    "under the attendee's own account"
                ),
                actor=actor,
                practitioners=invoice_practitioners(item.invoice),
            )
        if item.refund:
            record_event(
                client=payer,
                kind=ClientEvent.Kind.PAYMENT,
                summary=(
                    f"{format_money(item.refund, item.invoice.currency)} paid by "
                    f"{payer.full_name} on {item.invoice.display_number} for moved "
                    "sessions is to be refunded (rebooked under the attendee's own account)"
                ),
                actor=actor,
                practitioners=invoice_practitioners(item.invoice),
            )


def bill_attendee(money: OldPayerMoney, *, relationship, subscriptions, bookings, actor) -> None:
    """One invoice per currency to the new payer for what the old payer was relieved
    of, each line linked to the rebooked subscription or booking. Issued by the
    system, as "Create Session" issues a booking's invoice."""
    require_billing_actor(actor)
    old_payer = money.payer
    if old_payer is None:  # nothing was billed to take over
        return
    by_currency: dict[str, list[TakenOver]] = {}
    for item in money.taken_over():
        by_currency.setdefault(item.currency, []).append(item)
    for currency, items in by_currency.items():
        invoice = create_draft(
            payer=relationship.payer, relationship=relationship, actor=actor, currency=currency
        )
        for item in items:
            for quantity, unit_price in _lines_for(item):
                add_charge(
                    invoice=invoice,
                    actor=actor,
                    description=_taken_over_description(item, old_payer),
                    quantity=quantity,
                    unit_price=unit_price,
                    subscription=subscriptions.get(getattr(item.subscription, "pk", None)),
                    booking=bookings.get(getattr(item.booking, "pk", None)),
                )
        issue_invoice(invoice=invoice, actor=actor)


def _lines_for(item: TakenOver) -> list[tuple[Decimal, Decimal]]:
    """(quantity, unit price) of the lines that bill exactly ``item.amount`` in the
    units the service bills by (sessions, or months for a monthly service), so that
    a later transfer counts the sessions paid for right: one line when a unit price
    in the currency's minor unit comes out exact, else the last unit apart at
    what remains (2 x 21.67 cannot make 43.33: 1 x 21.67 and 1 x 21.66 do). Only
    a part of a month that two decimals cannot write (2 sessions of a service of 3
    a month) is billed as one unit of the whole amount."""

    if item.subscription is not None:
        service = item.subscription.session.service
    else:
        assert item.booking is not None  # a share is a subscription's or a booking's
        service = item.booking.session_date.session.service
    units = item.sessions / sessions_per_unit(service)
    if units <= 0 or units != units.quantize(Decimal("0.01")):
        return [(Decimal(1), item.amount)]
    unit_price = round_money(item.amount / units, item.currency)
    if round_money(unit_price * units, item.currency) == item.amount:
        return [(units, unit_price)]
    if units > 1:
        rest = units - 1
        last = item.amount - round_money(unit_price * rest, item.currency)
        if last >= 0:
            return [(rest, unit_price), (Decimal(1), last)]
    return [(Decimal(1), item.amount)]


def _taken_over_description(item: TakenOver, old_payer: Client) -> str:
    if item.subscription is not None:
        what = (
            f"{item.subscription.session.service.name}: {sessions_text(item.sessions)} "
            f"from {item.subscription.next_date:%-d %b %Y}"
        )
    else:
        assert item.booking is not None
        session_date = item.booking.session_date
        what = f"{session_date.session.service.name}, {session_date.date:%a %-d %b %Y}"
    return (
        f"{what} (until now billed to {old_payer.full_name} on {item.from_invoice.display_number})"
    )

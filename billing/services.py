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

import calendar
import logging
import uuid
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from billing import gateway as gateways
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
from billing.selectors import amount_paid, balance_due, card_on_file, invoice_practitioners
from billing.tokens import derive_token, hash_token, new_nonce
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.errors import BusinessRuleError
from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS, format_money, round_money

logger = logging.getLogger(__name__)

DEFAULT_DUE_DAYS = 14
MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES) - 1
MANUAL_METHODS = [m for m in Payment.Method.values if m != Payment.Method.CARD]

__all__ = [  # the API other apps call
    "add_card_from_link",
    "add_charge",
    "add_credit",
    "add_discount",
    "balance_due",
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
    "start_card_attempt",
    "void_invoice",
]


# --- amounts -----------------------------------------------------------------------------------


def _money(value, currency: str, *, field: str, label: str) -> Decimal:
    """A user-supplied amount as Decimal at the currency's precision, in range."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as error:
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field) from error
    if not number.is_finite():
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field)
    if abs(number) > MAX_AMOUNT:
        raise BusinessRuleError(f"The {label} is too large.", field=field)
    return round_money(number, currency)


def _at_most_two_places(value, *, field: str, label: str, low, high) -> Decimal:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as error:
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field) from error
    if not number.is_finite():
        raise BusinessRuleError(f"Enter the {label} as a number.", field=field)
    if not low < number <= high:
        raise BusinessRuleError(f"The {label} is more than {low} and at most {high}.", field=field)
    if number != number.quantize(Decimal("0.01")):
        raise BusinessRuleError(f"The {label} has at most two decimal places.", field=field)
    return number


def invoice_totals(lines, currency: str | None = None) -> dict[str, Decimal]:
    """Charges, discounts, credits and the total of a set of lines. The services
    never let discounts and credits exceed the charges, so the total is exactly
    charges - discounts - credits; it is clamped at zero only as a last guard."""
    sums = {kind: Decimal(0) for kind in InvoiceLine.Kind.values}
    for line in lines:
        sums[line.kind] += line.amount
    raw = sums["charge"] - sums["discount"] - sums["credit"]
    return {
        "charges": sums["charge"],
        "discounts": sums["discount"],
        "credits": sums["credit"],
        "total": max(raw, Decimal(0)),
    }


# --- drafts ------------------------------------------------------------------------------------


def create_draft(*, payer, relationship=None, actor=None, currency: str | None = None) -> Invoice:
    """An empty draft invoice to the payer (of the relationship, when given)."""
    if relationship is not None and relationship.payer_id != payer.pk:
        raise BusinessRuleError("An invoice goes to the payer of the relationship.")
    kwargs = {"currency": currency.upper()} if currency else {}
    return Invoice.objects.create(
        payer=payer, relationship=relationship, created_by=actor, **kwargs
    )


def _lock_draft(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Invoice.Status.DRAFT:
        raise BusinessRuleError(
            f"{locked.display_number} is issued and cannot be changed: "
            "void it and issue a new one, or credit the difference on the next invoice."
        )
    return locked


def _add_line(invoice: Invoice, locked: Invoice, **fields) -> InvoiceLine:
    lines = list(locked.lines.all())
    line = InvoiceLine.objects.create(invoice=locked, position=len(lines), **fields)
    locked.total = invoice_totals([*lines, line])["total"]
    locked.save(update_fields=["total"])
    invoice.total = locked.total
    return line


@transaction.atomic
def add_charge(
    *,
    invoice: Invoice,
    description: str,
    unit_price,
    quantity=Decimal(1),
    subscription=None,
    booking=None,
) -> InvoiceLine:
    """What is billed: ``quantity`` x ``unit_price``, rounded once."""
    locked = _lock_draft(invoice)
    if not description.strip():
        raise BusinessRuleError("Describe what is billed.", field="description")
    quantity = _at_most_two_places(
        quantity, field="quantity", label="quantity", low=Decimal(0), high=Decimal(99999)
    )
    unit = _money(unit_price, locked.currency, field="unit_price", label="price")
    if unit < 0:
        raise BusinessRuleError("A price is not negative.", field="unit_price")
    amount = round_money(unit * quantity, locked.currency)
    if amount > MAX_AMOUNT:
        raise BusinessRuleError("The amount is too large.", field="quantity")
    return _add_line(
        invoice,
        locked,
        kind=InvoiceLine.Kind.CHARGE,
        description=description.strip()[:300],
        quantity=quantity,
        unit_price=unit,
        amount=amount,
        subscription=subscription,
        booking=booking,
    )


@transaction.atomic
def add_discount(*, invoice: Invoice, reason: str, amount=None, percent=None) -> InvoiceLine:
    """A price cut: an amount, or a percentage of the charges, with a reason.
    Never more than what is left to pay."""
    locked = _lock_draft(invoice)
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleError("Give a reason for the discount.", field="reason")
    if (amount in (None, "")) == (percent in (None, "")):
        raise BusinessRuleError("Enter either an amount or a percentage.", field="amount")
    lines = list(locked.lines.all())
    totals = invoice_totals(lines)
    if percent not in (None, ""):
        percent = _at_most_two_places(
            percent, field="percent", label="percentage", low=Decimal(0), high=Decimal(100)
        )
        value = round_money(totals["charges"] * percent / Decimal(100), locked.currency)
        description = f"Discount {percent.normalize():f}%"
        if value <= 0:
            raise BusinessRuleError("There is nothing to take a percentage of.", field="percent")
    else:
        percent = None
        value = _money(amount, locked.currency, field="amount", label="discount")
        description = "Discount"
        if value <= 0:
            raise BusinessRuleError("A discount is more than zero.", field="amount")
    if value > totals["total"]:
        raise BusinessRuleError(
            "The discount is larger than what is left to pay "
            f"({format_money(totals['total'], locked.currency)}).",
            field="percent" if percent is not None else "amount",
        )
    return _add_line(
        invoice,
        locked,
        kind=InvoiceLine.Kind.DISCOUNT,
        description=description,
        unit_price=value,
        amount=value,
        percent=percent,
        reason=reason[:300],
    )


@transaction.atomic
def add_credit(
    *, invoice: Invoice, amount, reason: str, description: str = "", subscription=None, booking=None
) -> InvoiceLine:
    """Money owed back to the payer and set against this invoice (for example the
    unused value of a subscription left in a transfer). Never more than what is
    left to pay: the total does not go below zero."""
    locked = _lock_draft(invoice)
    reason = (reason or "").strip()
    if not reason:
        raise BusinessRuleError("Give a reason for the credit.", field="reason")
    value = _money(amount, locked.currency, field="amount", label="credit")
    if value <= 0:
        raise BusinessRuleError("A credit is more than zero.", field="amount")
    left = invoice_totals(locked.lines.all())["total"]
    if value > left:
        raise BusinessRuleError(
            "The credit is larger than what is left to pay "
            f"({format_money(left, locked.currency)}).",
            field="amount",
        )
    return _add_line(
        invoice,
        locked,
        kind=InvoiceLine.Kind.CREDIT,
        description=(description or "Credit").strip()[:300],
        unit_price=value,
        amount=value,
        reason=reason[:300],
        subscription=subscription,
        booking=booking,
    )


def _first_month_dates(subscription) -> list[date]:
    """The subscription's session dates from its first date to the end of that
    calendar month (and before its end date or the session's last date), less
    the dates cancelled for everyone and those it skips (its DateAbsences)."""
    from scheduling.models import SessionDate

    session = subscription.session
    first = subscription.first_date
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    if subscription.end_date is not None:
        last = min(last, subscription.end_date - timedelta(days=1))
    if session.last_date is not None:
        last = min(last, session.last_date)
    first = first + timedelta(days=(session.weekday - first.weekday()) % 7)
    days = []
    while first <= last:
        days.append(first)
        first += timedelta(days=7)
    dates = SessionDate.objects.filter(session=session, date__in=days)
    left_out = set(
        (
            dates.filter(cancelled=True) | dates.filter(absences__subscription=subscription)
        ).values_list("date", flat=True)
    )
    return [d for d in days if d not in left_out]


@transaction.atomic
def build_subscription_invoice(*, subscription, actor) -> Invoice:
    """A draft invoice to the subscription's payer for its first period.

    - monthly service: one month at the subscription's price ("N sessions a month");
    - per-session service: the sessions of the first calendar month, from the
      first date to the month's end, cancelled dates left out, at the
      subscription's price each (a music school bills the rest of the month;
      the next months are the regular billing's business).
    """
    from scheduling.models import Service

    require_billing_actor(actor)
    relationship = subscription.relationship
    service = subscription.session.service
    invoice = create_draft(
        payer=relationship.payer,
        relationship=relationship,
        actor=actor,
        currency=subscription.currency,
    )
    if service.billing_basis == Service.BillingBasis.MONTHLY:
        add_charge(
            invoice=invoice,
            description=(
                f"{service.name}: one month from {subscription.first_date:%-d %b %Y} "
                f"({service.sessions_per_month} sessions a month)"
            ),
            unit_price=subscription.price,
            subscription=subscription,
        )
    else:
        days = _first_month_dates(subscription)
        if not days:
            raise BusinessRuleError(
                "Every session date left in the first month is cancelled or skipped: "
                "nothing to bill."
            )
        span = (
            f"{days[0]:%-d %b %Y}"
            if len(days) == 1
            else f"{days[0]:%-d %b} to {days[-1]:%-d %b %Y}"
        )
        add_charge(
            invoice=invoice,
            description=(
                f"{service.name}: {len(days)} session{'s' if len(days) != 1 else ''}, {span}"
            ),
            unit_price=subscription.price,
            quantity=Decimal(len(days)),
            subscription=subscription,
        )
    invoice.refresh_from_db()
    return invoice


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
    actor=None,
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
    actor=None,
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
    amount = _money(amount, locked.currency, field="amount", label="amount")
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
        recorded_by=actor,
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
        actor=actor,
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
            attempt, result, actor=attempt.actor, note=" (settled by the reconciliation)"
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
    actor=None,
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
    value = _money(amount, locked.currency, field="amount", label="credit")
    if value <= 0:
        raise BusinessRuleError("A credit is more than zero.", field="amount")
    balance = locked.total - amount_paid(locked)
    if value > balance:
        raise BusinessRuleError(
            f"The credit is larger than the balance of {locked.display_number} "
            f"({format_money(balance, locked.currency)}).",
            field="amount",
        )
    line = _add_line(
        invoice,
        locked,
        kind=InvoiceLine.Kind.CREDIT,
        description=description.strip()[:300],
        unit_price=value,
        amount=value,
        reason=reason[:300],
        subscription=subscription,
        booking=booking,
    )
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
def void_invoice(*, invoice: Invoice, reason: str, actor=None) -> Invoice:
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
def close_invoice(*, invoice: Invoice, reason: str, actor=None) -> Invoice:
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
    if actor is not None and not can_request_card(actor, client):
        raise PermissionDenied("Only staff and the client's practitioner can ask for a card.")


@transaction.atomic
def request_payment_card(*, client, actor, reason: str, relationship=None) -> PaymentCardRequest:
    """Email the client a single-use link to add a card; the link expires after
    OPUS_CARD_REQUEST_TTL, and replaces any earlier request of theirs. The email
    is an outbox row sent by the worker after this transaction commits."""
    from opus.services import queue_email

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
        created_by=actor,
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
    from opus.models import OutboundEmail
    from opus.services import queue_email

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
            client=card_request.client,
            kind=ClientEvent.Kind.CARD,
            summary=(f"{saved.brand.title()} ending {saved.last4} added through the emailed link"),
        )
        from relationships.services import mark_card_added

        mark_card_added(client=card_request.client)
    return method


__all__ += ["CardDeclined", "CardError", "CardLinkGone", "ChargePending"]


def send_invoice(*, invoice: Invoice, actor) -> bool:
    """Email an open invoice to its payer through the outbox (after commit).
    False when the payer has no email address to send it to."""
    from billing.emails import INVOICE
    from opus.services import queue_email

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

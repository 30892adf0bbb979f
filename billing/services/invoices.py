"""Invoices: drafts made from plans (``billing.plans``), issuing with gapless
numbers, credits on open invoices, voiding, closing and sending."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from billing.emails import INVOICE
from billing.models import (
    ChargedDate,
    Invoice,
    InvoiceLine,
    InvoiceSequence,
)
from billing.paylinks import ensure_pay_link
from billing.permissions import require_billing_actor
from billing.plans import (
    InvoicePlan,
    invoice_totals,
    money,
    plan_subscription_invoice,
)
from billing.selectors import amount_paid, invoice_practitioners
from billing.services import followup
from clients.models import ClientEvent
from clients.services import record_event
from opus import practice as practices
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money
from opus.services import queue_email


def default_due_on(issued_on: date) -> date:
    """The due date an invoice issued on ``issued_on`` gets unless told otherwise:
    the practice's "invoice due after (days)"."""
    return issued_on + timedelta(days=practices.current().invoice_due_days)


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
    charged: list[ChargedDate] = []
    for line in plan.lines:
        if line.pk is None:
            line.invoice = locked
            line.save()
            charged += [
                ChargedDate(
                    line=line,
                    subscription_id=line.subscription_id,
                    booking_id=line.booking_id,
                    session_date=session_date,
                    date=session_date.date,
                )
                for session_date in getattr(line, "covers", ())
            ]
    # a date already charged (a transfer's first month, the run from another
    # worker) breaks charged_date_once_per_*: the whole draft is refused
    ChargedDate.objects.bulk_create(charged)
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
    due_on = due_on or default_due_on(issued_on)
    if due_on < issued_on:
        raise BusinessRuleError("The due date is before the issue date.", field="due_on")
    locked.total = invoice_totals(lines)["total"]
    locked.number = next_invoice_number()
    locked.issued_on = issued_on
    locked.due_on = due_on
    _set_status(locked, Invoice.Status.OPEN if locked.total > 0 else Invoice.Status.PAID)
    locked.save()
    followup.after_issue(locked)  # the pay link; autopay charges it after commit
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


def lock_open(invoice: Invoice, doing: str) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Invoice.Status.OPEN:
        raise BusinessRuleError(
            f"{locked.display_number} is {locked.get_status_display().lower()}: "
            f"{doing} only on an open invoice."
        )
    return locked


def settle_if_paid(locked: Invoice) -> None:
    if amount_paid(locked) >= locked.total:
        _set_status(locked, Invoice.Status.PAID)
        locked.save(update_fields=["status", "status_changed_at"])


# --- charging a card on file ------------------------------------------------------------------
#
# A processor's charge is not rolled back with our transaction, so it is never
# asked inside one: (1) the attempt is recorded and committed, (2) the processor
# is asked with the attempt's own idempotency key, no transaction open, (3) its
# answer is recorded in a new transaction. A process that dies between (2) and
# (3) leaves the attempt pending; ``reconcile_payment_attempts`` asks the
# processor what became of it and records that: one charge, one payment.


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
    locked = lock_open(invoice, "a credit is added")
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
    settle_if_paid(locked)
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
    locked = lock_open(invoice, "voiding is possible")
    if locked.payments.exists():
        raise BusinessRuleError(
            "Payments are recorded on this invoice, so it cannot be voided. Close it "
            "instead, or credit the difference on the next invoice."
        )
    _set_status(locked, Invoice.Status.VOID)
    locked.void_reason = reason[:300]
    locked.save(update_fields=["status", "void_reason", "status_changed_at"])
    # a void invoice billed nothing: its dates may be billed again
    ChargedDate.objects.filter(line__invoice=locked, live=True).update(live=False)
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


def send_invoice(*, invoice: Invoice, actor) -> bool:
    """Email an open invoice to its payer through the outbox (after commit).
    False when the payer has no email address to send it to."""

    require_billing_actor(actor)
    if invoice.status != Invoice.Status.OPEN:
        raise BusinessRuleError("Only an open invoice is sent to the payer.")
    if not invoice.payer.email:
        return False
    ensure_pay_link(invoice)
    queue_email(
        template=INVOICE,
        to=invoice.payer.email,
        client=invoice.payer,
        context={"invoice_id": invoice.pk},
    )
    return True

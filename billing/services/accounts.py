"""The payer's account: an append-only ledger of credits and their uses.

A credit (a transfer's unused value, a rebooking's "already paid", an
overpayment, a goodwill credit) raises the payer's balance; a use (a credit line
on an invoice, a refund paying it out) lowers it. Every entry is written under a
lock of the payer's ``Account`` row for that currency: the row carries the
running balance, which its CheckConstraint keeps at zero or more whatever two
writers computed, and each entry records the balance after it and its position
(gapless per account). Lock order everywhere: invoices (by id), then payments,
then the account.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from billing.models import Account, AccountEntry, Invoice, InvoiceLine
from billing.permissions import require_billing_actor
from billing.plans import invoice_totals, money
from billing.selectors import amount_paid, invoice_practitioners
from billing.services.invoices import add_credit, credit_open_invoice
from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money

ACCOUNT_CREDIT_REASON = "Account credit"
ACCOUNT_CREDIT_DESCRIPTION = "Account credit applied"
GRANTED_KINDS = [
    AccountEntry.Kind.TRANSFER,
    AccountEntry.Kind.REBOOKING,
    AccountEntry.Kind.OVERPAYMENT,
    AccountEntry.Kind.GOODWILL,
]


def lock_account(payer_id: int, currency: str) -> Account:
    """The payer's account in ``currency``, created at zero when it has none, and
    locked for the rest of the transaction."""
    Account.objects.get_or_create(payer_id=payer_id, currency=currency)
    return Account.objects.select_for_update().get(payer_id=payer_id, currency=currency)


def _write_entry(account: Account, *, kind: str, amount: Decimal, description: str, actor, **links):
    """Append one entry to a locked account and move its balance. A use larger than
    the balance is refused here with a message, and by the database anyway."""
    balance = account.balance + amount
    if balance < 0:
        raise BusinessRuleError(
            f"The account has only {format_money(account.balance, account.currency)} of credit.",
            field="amount",
        )
    account.balance = balance
    account.entry_count += 1
    account.save(update_fields=["balance", "entry_count"])
    return AccountEntry.objects.create(
        account=account,
        position=account.entry_count,
        kind=kind,
        amount=amount,
        balance_after=balance,
        description=description[:300],
        created_by=person(actor),
        **links,
    )


@transaction.atomic
def grant_account_credit(
    *,
    payer,
    amount,
    currency: str,
    reason: str,
    actor,
    kind: str = AccountEntry.Kind.GOODWILL,
    description: str = "",
    source: str = "",
    invoice: Invoice | None = None,
) -> AccountEntry:
    """Credit the payer's account. ``reason`` is required (for a goodwill credit it
    is the person's own words). ``source`` names what the credit came from outside
    billing (``"transfer:12"``): the same source credits once, and asking again
    returns the first entry."""
    require_billing_actor(actor)
    if kind not in GRANTED_KINDS:
        raise BusinessRuleError("That is not a kind of credit.")
    source = (source or "").strip()[:100]
    if source:
        earlier = AccountEntry.objects.filter(source=source).first()
        if earlier is not None:
            return earlier
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError("Give a reason for the credit.", field="reason")
    currency = (currency or "").upper()
    value = money(amount, currency, field="amount", label="credit")
    if value <= 0:
        raise BusinessRuleError("A credit is more than zero.", field="amount")
    account = lock_account(payer.pk, currency)
    entry = _write_entry(
        account,
        kind=kind,
        amount=value,
        description=description or AccountEntry.Kind(kind).label,
        actor=actor,
        reason=reason[:300],
        source=source,
        invoice=invoice,
    )
    record_event(
        client=payer,
        kind=ClientEvent.Kind.PAYMENT,
        summary=(
            f"Account credit of {format_money(value, currency)} ({entry.get_kind_display()}"
            + (f", {invoice.display_number}" if invoice is not None else "")
            + f"): {reason}; balance {format_money(entry.balance_after, currency)}"
        ),
        actor=actor,
        practitioners=invoice_practitioners(invoice) if invoice is not None else (),
    )
    return entry


def _room(invoice: Invoice, lines) -> Decimal:
    """What a credit line may take off: a draft's total, an open invoice's balance."""
    total = invoice_totals(lines)["total"]
    if invoice.status == Invoice.Status.DRAFT:
        return total
    return total - amount_paid(invoice)


@transaction.atomic
def apply_account_credit(*, invoice: Invoice, actor, amount=None) -> AccountEntry | None:
    """Set the payer's account credit against a draft or open invoice: a credit line
    on it and a use in the ledger, together. ``amount`` defaults to as much as
    possible; it is never more than the balance nor than what is left to pay (an
    open invoice brought to zero is paid). None when there is nothing to apply."""
    require_billing_actor(actor)
    locked = Invoice.objects.select_for_update().select_related("payer").get(pk=invoice.pk)
    if locked.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN):
        raise BusinessRuleError(
            f"{locked.display_number} is {locked.get_status_display().lower()}: account "
            "credit is applied only to a draft or an open invoice."
        )
    account = lock_account(locked.payer_id, locked.currency)
    room = _room(locked, list(locked.lines.all()))
    if amount in (None, ""):
        value = min(account.balance, room)
        if value <= 0:
            return None
    else:
        value = money(amount, locked.currency, field="amount", label="amount")
        if value <= 0:
            raise BusinessRuleError("Apply more than zero.", field="amount")
        if value > account.balance:
            raise BusinessRuleError(
                f"The account has only {format_money(account.balance, account.currency)} "
                "of credit.",
                field="amount",
            )
        if value > room:
            raise BusinessRuleError(
                f"That is more than is left to pay on {locked.display_number} "
                f"({format_money(room, locked.currency)}).",
                field="amount",
            )
    credit = add_credit if locked.status == Invoice.Status.DRAFT else credit_open_invoice
    line = credit(
        invoice=locked,
        amount=value,
        reason=ACCOUNT_CREDIT_REASON,
        description=ACCOUNT_CREDIT_DESCRIPTION,
        actor=actor,
    )
    locked.refresh_from_db(fields=["total", "status"])
    invoice.total, invoice.status = locked.total, locked.status
    if locked.status == Invoice.Status.DRAFT:  # an open invoice's credit writes its own
        record_event(
            client=locked.payer,
            kind=ClientEvent.Kind.INVOICE,
            summary=(
                f"Account credit of {format_money(value, locked.currency)} applied to "
                f"{locked.display_number} (not issued yet)"
            ),
            actor=actor,
            practitioners=invoice_practitioners(locked),
        )
    return _write_entry(
        account,
        kind=AccountEntry.Kind.APPLIED,
        amount=-value,
        description=f"Applied to {locked.display_number}",
        actor=actor,
        invoice=locked,
        invoice_line=line,
    )


@transaction.atomic
def apply_credits_oldest_first(*, payer, invoices, actor) -> list[AccountEntry]:
    """For the billing run: set the payer's account credit against their draft
    invoices, the oldest first (by creation, then id), each taking as much as it
    can, in one currency's account at a time. Batched: a fixed number of queries
    whatever the number of invoices (locks, lines, one insert of the credit lines,
    one update of the totals, one insert of the entries, one history row per
    currency). Returns the entries written."""
    require_billing_actor(actor)
    ids = sorted({invoice.pk for invoice in invoices})
    if not ids:
        return []
    drafts = list(
        Invoice.objects.select_for_update().filter(pk__in=ids).order_by("created_at", "pk")
    )
    if any(d.payer_id != payer.pk or d.status != Invoice.Status.DRAFT for d in drafts):
        raise BusinessRuleError("Account credit is applied by the run only to the payer's drafts.")
    lines: dict[int, list] = {d.pk: [] for d in drafts}
    for line in InvoiceLine.objects.filter(invoice_id__in=ids):
        lines[line.invoice_id].append(line)
    written: list[AccountEntry] = []
    for currency in sorted({d.currency for d in drafts}):
        account = lock_account(payer.pk, currency)
        balance = account.balance
        plan = []
        for draft in (d for d in drafts if d.currency == currency):
            if balance <= 0:
                break
            value = min(balance, invoice_totals(lines[draft.pk])["total"])
            if value <= 0:
                continue
            balance -= value
            line = InvoiceLine(
                invoice=draft,
                position=len(lines[draft.pk]),
                kind=InvoiceLine.Kind.CREDIT,
                description=ACCOUNT_CREDIT_DESCRIPTION,
                unit_price=value,
                amount=value,
                reason=ACCOUNT_CREDIT_REASON,
            )
            lines[draft.pk].append(line)
            draft.total = invoice_totals(lines[draft.pk])["total"]
            plan.append((draft, line, value))
        if not plan:
            continue
        InvoiceLine.objects.bulk_create([line for _, line, _ in plan])
        Invoice.objects.bulk_update([draft for draft, _, _ in plan], ["total"])
        entries = []
        running = account.balance
        for i, (draft, line, value) in enumerate(plan, start=1):
            running -= value
            entries.append(
                AccountEntry(
                    account=account,
                    position=account.entry_count + i,
                    kind=AccountEntry.Kind.APPLIED,
                    amount=-value,
                    balance_after=running,
                    description=f"Applied to {draft.display_number}",
                    invoice=draft,
                    invoice_line=line,
                    created_by=person(actor),
                )
            )
        account.balance = running
        account.entry_count += len(entries)
        account.save(update_fields=["balance", "entry_count"])
        written += AccountEntry.objects.bulk_create(entries)
        used = sum((value for _, _, value in plan), Decimal(0))
        record_event(
            client=payer,
            kind=ClientEvent.Kind.INVOICE,
            summary=(
                f"Account credit of {format_money(used, currency)} applied to "
                + ", ".join(draft.display_number for draft, _, _ in plan)
                + f"; balance {format_money(running, currency)}"
            ),
            actor=actor,
        )
    for invoice in invoices:  # the caller's objects follow
        for draft in drafts:
            if draft.pk == invoice.pk:
                invoice.total = draft.total
    return written

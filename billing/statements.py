"""A payer's statement over a date range: the opening balance, every invoice,
payment, account credit and refund in the range, and the closing balance, one
section per currency.

The balance is what the payer owes the practice less the account credit they
hold (below zero: the practice owes them). Each row moves it by ``charge``
(up) less ``credit`` (down):

- an issued invoice charges its total *before* account credit was set against
  it (the credit already lowered the balance when it was granted: using it on an
  invoice moves it, it does not lower the balance twice);
- a payment is a credit; a voided invoice is a credit of what it charged; a
  closed invoice's unpaid rest is a credit ("nothing more is expected");
- account credit granted (a transfer's unused value, a rebooking, an
  overpayment, goodwill) is a credit; credit set aside for an invoice not issued
  yet is a charge (it left the account, and no invoice charges it yet);
- a refund paying out account credit is a charge (money went back to the payer);
  a refund of an invoice's payment is both a charge and a credit: money went
  back, and it was taken off what the payer owed on that invoice (Opus keeps the
  invoice's payments as they were: a refund does not reopen it). A refund counts
  while pending (its amount is reserved) and once made; a refused one never.

So the closing balance on or after today equals the ledger: what the payer's
open invoices still expect, less their account credit (``ledger_balance``); the
property tests hold the two together. Four queries whatever the history's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import Account, AccountEntry, Invoice, InvoiceLine, Payment, Refund
from billing.selectors import with_balance
from clients.models import Client

MONEY = DecimalField(max_digits=14, decimal_places=3)
ZERO = Decimal(0)
GRANTED = ("transfer", "rebooking", "overpayment", "goodwill")


@dataclass
class StatementRow:
    day: date
    description: str
    charge: Decimal = ZERO
    credit: Decimal = ZERO
    invoice: Invoice | None = None
    balance: Decimal = ZERO
    order: tuple = ()


@dataclass
class CurrencyStatement:
    currency: str
    opening: Decimal = ZERO
    rows: list[StatementRow] = field(default_factory=list)
    closing: Decimal = ZERO

    @property
    def charges(self) -> Decimal:
        return sum((row.charge for row in self.rows), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((row.credit for row in self.rows), ZERO)

    @property
    def in_credit(self) -> Decimal:
        """What the practice owes the payer at the end (a closing balance below zero)."""
        return max(-self.closing, ZERO)


@dataclass
class Statement:
    payer: Client
    start: date
    end: date
    sections: list[CurrencyStatement]


def _day(moment: datetime) -> date:
    return timezone.localdate(moment)


def _at(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _invoices(payer_id: int):
    account_lines = (
        InvoiceLine.objects.filter(invoice_id=OuterRef("pk"), account_entry__isnull=False)
        .order_by()
        .values("invoice_id")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    return with_balance(
        Invoice.objects.filter(payer_id=payer_id).exclude(status=Invoice.Status.DRAFT)
    ).annotate(account_credit=Coalesce(Subquery(account_lines, output_field=MONEY), Value(ZERO)))


def statement_rows(payer_id: int) -> dict[str, list[StatementRow]]:
    """Every row of the payer's history, per currency, in order (four queries)."""
    rows: dict[str, list[StatementRow]] = {}

    def add(currency: str, row: StatementRow) -> None:
        rows.setdefault(currency, []).append(row)

    for invoice in _invoices(payer_id).order_by():
        gross = invoice.total + invoice.account_credit
        note = ""
        if invoice.account_credit:
            note = " (account credit applied)"
        add(
            invoice.currency,
            StatementRow(
                day=invoice.issued_on,
                description=f"Invoice {invoice.display_number}{note}",
                charge=gross,
                invoice=invoice,
                order=(_at(invoice.issued_on), 0, invoice.pk),
            ),
        )
        changed = invoice.status_changed_at or _at(invoice.issued_on)
        if invoice.status == Invoice.Status.VOID:
            add(
                invoice.currency,
                StatementRow(
                    day=_day(changed),
                    description=f"Invoice {invoice.display_number} voided: {invoice.void_reason}",
                    credit=gross,
                    invoice=invoice,
                    order=(changed, 1, invoice.pk),
                ),
            )
        elif invoice.status == Invoice.Status.CLOSED:
            rest = invoice.total - invoice.paid_amount
            if rest > 0:
                add(
                    invoice.currency,
                    StatementRow(
                        day=_day(changed),
                        description=(
                            f"Invoice {invoice.display_number} closed, nothing more expected: "
                            f"{invoice.close_reason}"
                        ),
                        credit=rest,
                        invoice=invoice,
                        order=(changed, 1, invoice.pk),
                    ),
                )
    payments = Payment.objects.filter(invoice__payer_id=payer_id).select_related("invoice")
    for payment in payments.order_by():
        add(
            payment.currency,
            StatementRow(
                day=_day(payment.received_at),
                description=(
                    f"Payment on {payment.invoice.display_number} "
                    f"({payment.get_method_display().lower()})"
                ),
                credit=payment.amount,
                invoice=payment.invoice,
                order=(payment.received_at, 2, payment.pk),
            ),
        )
    refunds = Refund.objects.filter(
        payment__invoice__payer_id=payer_id,
        status__in=[Refund.Status.PENDING, Refund.Status.SUCCEEDED],
    ).select_related("payment__invoice")
    for refund in refunds.order_by():
        invoice = refund.payment.invoice
        how = refund.get_method_display().lower()
        pending = " (waiting for the card processor)" if refund.status == "pending" else ""
        if refund.from_account:
            row = StatementRow(
                day=_day(refund.created_at),
                description=f"Account credit paid back ({how}){pending}: {refund.reason}",
                charge=refund.amount,
                invoice=invoice,
            )
        else:
            row = StatementRow(
                day=_day(refund.created_at),
                description=(
                    f"Refund of a payment on {invoice.display_number} ({how}), taken off the "
                    f"invoice{pending}: {refund.reason}"
                ),
                charge=refund.amount,
                credit=refund.amount,
                invoice=invoice,
            )
        row.order = (refund.created_at, 3, refund.pk)
        add(refund.currency, row)
    entries = AccountEntry.objects.filter(account__payer_id=payer_id).filter(
        Q(kind__in=GRANTED) | Q(kind=AccountEntry.Kind.APPLIED, invoice__status="draft")
    )
    for entry in entries.select_related("account", "invoice").order_by():
        if entry.kind == AccountEntry.Kind.APPLIED:
            assert entry.invoice is not None  # the database holds: an application names its invoice
            row = StatementRow(
                day=_day(entry.created_at),
                description=(
                    f"Account credit set aside for {entry.invoice.display_number} (not issued yet)"
                ),
                charge=-entry.amount,
                invoice=entry.invoice,
            )
        else:
            reason = f": {entry.reason}" if entry.reason else ""
            row = StatementRow(
                day=_day(entry.created_at),
                description=f"Account credit: {entry.get_kind_display().lower()}{reason}",
                credit=entry.amount,
                invoice=entry.invoice,
            )
        row.order = (entry.created_at, 4, entry.pk)
        add(entry.account.currency, row)
    for currency_rows in rows.values():
        currency_rows.sort(key=lambda row: row.order)
    return rows


def statement_for(*, payer, start: date, end: date) -> Statement:
    """The payer's statement from ``start`` to ``end`` (both included)."""
    sections = []
    for currency, rows in sorted(statement_rows(payer.pk).items()):
        section = CurrencyStatement(currency=currency)
        balance = ZERO
        for row in rows:
            balance += row.charge - row.credit
            row.balance = balance
            if row.day < start:
                section.opening = balance
            elif row.day <= end:
                section.rows.append(row)
        section.closing = section.opening + section.charges - section.credits
        if section.rows or section.opening:
            sections.append(section)
    return Statement(payer=payer, start=start, end=end, sections=sections)


def ledger_balance(payer, currency: str) -> Decimal:
    """The ledger's view: what the payer's open invoices still expect (total less
    payments), less their account credit, in ``currency``."""
    open_balance = (
        with_balance(Invoice.objects.filter(payer_id=payer.pk, currency=currency)).aggregate(
            s=Sum("balance")
        )["s"]
        or ZERO
    )
    account = Account.objects.filter(payer_id=payer.pk, currency=currency).first()
    return open_balance - (account.balance if account else ZERO)

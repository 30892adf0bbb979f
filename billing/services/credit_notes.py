"""Voiding an open invoice that has payments: what was paid becomes the payer's
account credit (the default) or is refunded, the user choosing, and a credit note
documents it, numbered per year from a gapless series of its own (``CN-2026-0001``).

All in one transaction: the invoice is locked open, voided, the credit note
numbered (the series' counter row stays locked until commit, so a rollback gives
the number back) and either a credit written to the payer's account or a refund
recorded on each payment (by hand as the payment came; to the card pending). Card
refunds are sent to the processor once committed (``run_refund``: never with a
transaction open); one the processor refuses or does not answer is shown on the
payment, to be tried again there. A second submit finds the invoice void and
does nothing more: the credit note is one per invoice (the database holds it).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import AccountEntry, CreditNote, Invoice, Payment, Refund
from billing.permissions import require_billing_actor
from billing.services.accounts import _write_entry, lock_account
from billing.services.invoices import _mark_void, lock_open, next_invoice_number, void_invoice
from billing.services.refunds import (
    PAID_BACK_AS,
    RefundPending,
    RefundRefused,
    refundable,
    run_refund,
    start_refund,
)
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError

CREDIT = CreditNote.Disposition.CREDIT
REFUND = CreditNote.Disposition.REFUND


def next_credit_note_number(year: int) -> int:
    """The next number of ``year``'s series; call inside the voiding transaction."""
    return next_invoice_number(f"credit-note-{year}")


def _refund_method(payment: Payment) -> str:
    if payment.method == Payment.Method.CARD and payment.gateway_charge_id:
        return Refund.Method.CARD
    return PAID_BACK_AS.get(payment.method, Refund.Method.OTHER)


@transaction.atomic
def _void_and_document(*, invoice: Invoice, reason: str, disposition: str, actor):
    locked = lock_open(invoice, "voiding is possible")
    payments = list(Payment.objects.select_for_update().filter(invoice=locked).order_by("pk"))
    if not payments:
        return void_invoice(invoice=locked, reason=reason, actor=actor), None, []
    if any(p.refunds.filter(status=Refund.Status.PENDING).exists() for p in payments):
        raise BusinessRuleError(
            "A refund of a payment on this invoice is still waiting for the card processor's "
            "answer; try again in a few minutes."
        )
    paid = sum((refundable(p) for p in payments), Decimal(0))
    _mark_void(locked, reason=reason, actor=actor)
    if paid <= 0:  # everything paid was refunded already: nothing to document
        return locked, None, []
    year = timezone.localdate().year
    note = CreditNote.objects.create(
        year=year,
        number=next_credit_note_number(year),
        invoice=locked,
        amount=paid,
        currency=locked.currency,
        disposition=disposition,
        reason=reason[:300],
        created_by=person(actor),
    )
    refunds: list[Refund] = []
    if disposition == CREDIT:
        _write_entry(
            lock_account(locked.payer_id, locked.currency),
            kind=AccountEntry.Kind.VOIDED,
            amount=paid,
            description=f"Paid on {locked.display_number}, voided ({note.display_number})",
            actor=actor,
            invoice=locked,
            reason=reason[:300],
        )
    else:
        for payment in payments:
            room = refundable(payment)
            if room > 0:
                refunds.append(
                    start_refund(
                        payment=payment,
                        amount=room,
                        reason=f"{locked.display_number} voided ({note.display_number}): {reason}",
                        method=_refund_method(payment),
                        request_key=f"credit-note-{note.pk}-{payment.pk}",
                        actor=actor,
                    )
                )
    return locked, note, refunds


def void_with_credit_note(
    *, invoice: Invoice, reason: str, actor, disposition: str = CREDIT
) -> tuple[Invoice, CreditNote | None, list[str]]:
    """Void an open invoice; what was paid on it (less what was refunded) becomes
    account credit or is refunded (``disposition``), documented by a credit note.
    Call with no transaction open (a card refund is sent after commit). Returns the
    void invoice, its credit note (None when nothing was paid) and the problems of
    card refunds the processor refused or did not answer (recorded on the payment)."""
    require_billing_actor(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise BusinessRuleError("Give a reason for voiding the invoice.", field="reason")
    if disposition not in CreditNote.Disposition.values:
        raise BusinessRuleError(
            "Choose what becomes of what was paid: account credit or a refund.",
            field="disposition",
        )
    locked, note, refunds = _void_and_document(
        invoice=invoice, reason=reason, disposition=disposition, actor=actor
    )
    problems: list[str] = []
    for refund in refunds:
        if refund.status == Refund.Status.PENDING:
            try:
                run_refund(refund=refund, actor=actor)
            except (RefundPending, RefundRefused) as error:
                problems.append(error.message)
    return locked, note, problems

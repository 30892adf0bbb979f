"""What follows an invoice's issue and its payments, called from the issuing and
paying services in their transactions: the invoice's pay link, its autopay plan,
receipts, and the invoice's own history. (The work done later, charging and
retrying: ``billing.services.collection``.)"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from billing.emails import AUTOPAY_DECLINED, RECEIPT
from billing.models import AutopayPlan, Invoice, InvoiceEvent, Payment
from billing.paylinks import new_pay_link
from billing.selectors import card_on_file
from opus import practice as practices
from opus.services import queue_email

logger = logging.getLogger(__name__)

AUTOPAY_TASK = "billing.tasks.run_autopay"
# a claimed attempt whose worker died is tried again (same request key: same attempt)
AUTOPAY_LEASE = timedelta(minutes=30)


def invoice_event(invoice: Invoice, kind: str, summary: str, *, at=None) -> InvoiceEvent:
    return InvoiceEvent.objects.create(
        invoice=invoice, kind=kind, summary=summary[:300], at=at or timezone.now()
    )


def autopay_applies(invoice: Invoice) -> bool:
    """Autopay charges this invoice: the practice has autopay on, the payer too,
    and they have a usable card on file."""
    return bool(
        practices.current().autopay_enabled
        and invoice.payer.autopay
        and card_on_file(invoice.payer) is not None
    )


def enqueue_autopay(plan_id: int) -> None:
    """Hand the plan to the worker; a broker that is down loses nothing (the
    periodic ``run_due_autopay`` finds the plan due)."""
    try:
        current_app.tasks[AUTOPAY_TASK].apply_async((plan_id,), retry=False)
    except Exception:
        logger.warning("broker unavailable; autopay plan %s left for the sweep", plan_id)


def after_issue(invoice: Invoice) -> None:
    """Called by ``issue_invoice`` in its transaction on the locked invoice: the pay
    link, and, for an open invoice whose payer has autopay, the plan charged
    after commit."""
    new_pay_link(invoice)
    if invoice.status != Invoice.Status.OPEN or not autopay_applies(invoice):
        return
    practice = practices.current()
    plan = AutopayPlan.objects.create(
        invoice=invoice,
        next_attempt_at=timezone.now(),
        ladder=",".join(str(day) for day in practice.autopay_ladder),
    )
    transaction.on_commit(lambda: enqueue_autopay(plan.pk))


def queue_receipt(payment: Payment) -> None:
    """Email the payer a receipt for ``payment``: called once, in the transaction
    that records the payment."""
    invoice = payment.invoice
    payer = invoice.payer
    if not payer.email:
        invoice_event(
            invoice,
            InvoiceEvent.Kind.RECEIPT,
            "No receipt emailed: the payer has no email address",
        )
        return
    queue_email(template=RECEIPT, to=payer.email, client=payer, context={"payment_id": payment.pk})


def queue_decline_notice(plan: AutopayPlan, *, next_attempt_at) -> None:
    """The "pay or update your card" email after an autopay decline."""
    payer = plan.invoice.payer
    if payer.email:
        queue_email(
            template=AUTOPAY_DECLINED,
            to=payer.email,
            client=payer,
            context={
                "invoice_id": plan.invoice_id,
                "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
            },
        )

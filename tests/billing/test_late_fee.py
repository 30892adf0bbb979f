"""The optional late fee: off by default; set, it is billed once per open invoice
without autopay still unpaid its days after the due date, on an invoice of its
own (issued, emailed), by the reminder task, and shown in the invoice's history.
Dates are built, never today's."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from billing import services, tasks
from billing.models import AutopayPlan, Invoice, InvoiceEvent, LateFee
from opus import practice as practices
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from tests.factories import ClientFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

ISSUED = date(2027, 2, 20)
DUE = date(2027, 3, 6)


def issue(**kwargs):
    with time_machine.travel(ISSUED, tick=False):
        invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), **kwargs)
    Invoice.objects.filter(pk=invoice.pk).update(due_on=DUE)
    invoice.refresh_from_db()
    return invoice


def set_late_fee(staff, amount="10.00", days=7):
    data = {name: getattr(practices.saved(), name) for name in practices.FIELDS}
    data.update(late_fee=amount, late_fee_days=days)
    practices.update_practice(data=data, actor=staff)
    practices.forget()


def sweep(day: date) -> int:
    with time_machine.travel(day, tick=False):
        return tasks.send_due_reminders()


def fee_invoices():
    return list(Invoice.objects.filter(late_fee_for__isnull=False))


def test_off_by_default_nothing_is_billed():
    assert practices.current().late_fee is None
    issue()
    assert services.add_due_late_fees(today=DUE + timedelta(days=60)) == 0
    assert not LateFee.objects.exists()


def test_billed_once_after_its_days_on_an_invoice_of_its_own_and_shown_in_history(staff):
    set_late_fee(staff, "10.00", days=7)
    invoice = issue()
    sweep(DUE + timedelta(days=6))
    assert not LateFee.objects.exists()
    sweep(DUE + timedelta(days=7))
    (fee,) = fee_invoices()
    assert (fee.status, fee.payer_id, fee.total) == ("open", invoice.payer_id, Decimal("10.00"))
    assert fee.issued_on == DUE + timedelta(days=7)
    (line,) = fee.lines.all()
    assert line.description == (
        f"Late fee: {invoice.display_number} unpaid 7 days after its due date (6 Mar 2027)"
    )
    assert OutboundEmail.objects.filter(template="invoice", context={"invoice_id": fee.pk}).exists()
    history = list(
        InvoiceEvent.objects.filter(invoice=invoice, kind="late_fee").values_list(
            "summary", flat=True
        )
    )
    assert history == [
        f"Late fee of £10.00 billed on {fee.display_number} (unpaid 7 days after 6 Mar 2027)"
    ]
    # later sweeps bill nothing more, and the fee invoice never gets a fee of its own
    sweep(DUE + timedelta(days=8))
    sweep(DUE + timedelta(days=60))
    assert LateFee.objects.count() == 1 and len(fee_invoices()) == 1


def test_the_invoices_page_shows_the_fee_in_its_history(staff, staff_client):
    set_late_fee(staff)
    invoice = issue()
    sweep(DUE + timedelta(days=10))
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Late fee of £10.00 billed on" in page


def test_a_paid_voided_or_autopaid_invoice_gets_no_fee(staff):
    set_late_fee(staff)
    paid = issue()
    services.record_payment(invoice=paid, amount=paid.total, method="cash", actor=staff)
    voided = issue()
    services.void_invoice(invoice=voided, reason="Billed by mistake", actor=staff)
    autopaid = issue()
    AutopayPlan.objects.create(invoice=autopaid, next_attempt_at=timezone.now(), ladder="3,7")
    assert sweep(DUE + timedelta(days=30)) == 0
    assert not LateFee.objects.exists()


def test_the_database_holds_one_fee_per_invoice(staff):
    set_late_fee(staff)
    invoice = issue()
    sweep(DUE + timedelta(days=10))
    other = issue()
    with pytest.raises(IntegrityError), transaction.atomic():
        LateFee.objects.create(
            invoice=invoice, fee_invoice=other, amount=Decimal(1), added_at=other.created_at
        )
    assert services.add_late_fee(invoice_id=invoice.pk, today=DUE + timedelta(days=11)) is None


def test_the_setting_refuses_a_fee_of_zero_and_days_out_of_range(staff):
    data = {name: getattr(practices.saved(), name) for name in practices.FIELDS}
    with pytest.raises(BusinessRuleError) as refused:
        practices.update_practice(data={**data, "late_fee": "0"}, actor=staff)
    assert refused.value.field == "late_fee"
    with pytest.raises(BusinessRuleError) as refused:
        practices.update_practice(data={**data, "late_fee": "5", "late_fee_days": 0}, actor=staff)
    assert refused.value.field == "late_fee_days"
    practices.update_practice(data={**data, "late_fee": "", "late_fee_days": 14}, actor=staff)
    assert practices.saved().late_fee is None

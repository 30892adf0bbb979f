"""Reminders of open invoices without autopay: each step of the practice's days
(relative to the due date) once, stopped by payment, void and close, shown in the
invoice's history. Dates are built, never today's."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from billing import services
from billing.models import AutopayPlan, InvoiceEvent, InvoiceReminder
from opus import practice as practices
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from tests.factories import ClientFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

ISSUED = date(2027, 2, 20)
DUE = date(2027, 3, 6)  # 14 days later


def issue(**kwargs):
    with time_machine.travel(ISSUED, tick=False):
        invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), **kwargs)
    invoice.due_on = DUE
    return invoice


def reminders():
    return list(OutboundEmail.objects.filter(template="invoice_reminder").order_by("pk"))


def sweep(day: date) -> int:
    with time_machine.travel(day, tick=False):
        return services.send_due_reminders(today=day)


def test_each_step_is_sent_once_before_and_after_the_due_date_and_shown_in_history():
    invoice = issue()
    assert invoice.due_on == DUE
    assert sweep(DUE - timedelta(days=4)) == 0
    assert sweep(DUE - timedelta(days=3)) == 1
    assert sweep(DUE - timedelta(days=2)) == 0  # the same step: once
    assert sweep(DUE + timedelta(days=7)) == 1
    assert sweep(DUE + timedelta(days=14)) == 1
    assert sweep(DUE + timedelta(days=20)) == 0
    assert list(InvoiceReminder.objects.values_list("step", flat=True)) == [-3, 7, 14]
    rows = reminders()
    assert len(rows) == 3
    first = build_message(
        rows[0].template, to="x", context=EMAIL_KINDS[rows[0].template].context(rows[0])
    )
    assert "is due on Saturday 6 March 2027" in first.body and "/pay/" in first.body
    last = build_message(
        rows[2].template, to="x", context=EMAIL_KINDS[rows[2].template].context(rows[2])
    )
    assert "Overdue" in last.subject
    events = list(
        InvoiceEvent.objects.filter(invoice=invoice, kind=InvoiceEvent.Kind.REMINDER).values_list(
            "summary", flat=True
        )
    )
    assert events == [
        "Reminder emailed (due in 3 days)",
        "Reminder emailed (7 days overdue)",
        "Reminder emailed (14 days overdue)",
    ]


def test_an_invoice_found_late_gets_one_reminder_not_a_burst():
    issue()
    assert sweep(DUE + timedelta(days=15)) == 1
    assert list(InvoiceReminder.objects.values_list("step", flat=True)) == [14]
    assert sweep(DUE + timedelta(days=16)) == 0


def test_payment_void_and_close_stop_reminders(staff):
    paid, voided, closed = issue(), issue(), issue()
    sweep(DUE - timedelta(days=3))
    assert len(reminders()) == 3
    services.record_payment(invoice=paid, amount="100.00", method="cash", actor=staff)
    services.void_invoice(invoice=voided, reason="Error", actor=staff)
    services.close_invoice(invoice=closed, reason="Waived", actor=staff)
    assert sweep(DUE + timedelta(days=7)) == 0
    # a reminder queued before the payment is not sent after it
    row = reminders()[0]
    assert EMAIL_KINDS[row.template].context(row) is None


def test_invoices_with_autopay_get_no_reminders():
    invoice = issue()
    retrying = AutopayPlan.objects.create(
        invoice=invoice, ladder="3,7", next_attempt_at=timezone.now()
    )
    chased = issue()
    AutopayPlan.objects.create(invoice=chased, ladder="3,7", follow_up_at=timezone.now())
    assert sweep(DUE + timedelta(days=7)) == 0
    assert retrying.invoice.reminders.count() == 0


def test_no_reminders_when_the_practice_has_no_reminder_days():
    issue()
    practice = practices.from_settings()
    practice.reminder_days = ""
    practices.forget(assume=practice)
    assert sweep(DUE + timedelta(days=7)) == 0


def test_an_invoice_whose_payer_turned_autopay_off_is_reminded(staff):
    invoice = issue()
    AutopayPlan.objects.create(invoice=invoice, ladder="3,7", next_attempt_at=None)
    assert sweep(DUE + timedelta(days=7)) == 1

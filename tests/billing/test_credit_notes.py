"""Voiding an open invoice that has payments: what was paid (less what was
refunded) becomes account credit or is refunded, the user choosing, and a credit
note with its own gapless number series documents it; void stays atomic and a
double submit makes one credit note."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import selectors, services
from billing.models import AccountEntry, CreditNote, InvoiceSequence, Payment, Refund
from billing.services import credit_notes
from billing.statements import ledger_balance, statement_for
from devkit.models import SimulatedGatewayRefund
from opus.lib.errors import BusinessRuleError
from tests.support.billing import open_invoice, save_card
from tests.support.threads import run_together

NOON = timezone.make_aware(datetime(2026, 6, 15, 12, 0))


def paid_in_part(staff, amount="100.00", paid="40.00", method="cash"):
    invoice = open_invoice(amount=amount)
    services.record_payment(invoice=invoice, amount=paid, method=method, actor=staff)
    return invoice


def void(invoice, staff, disposition="credit", reason="Issued to the wrong family"):
    return services.void_with_credit_note(
        invoice=invoice, reason=reason, disposition=disposition, actor=staff
    )


@pytest.mark.django_db
@time_machine.travel(NOON, tick=False)
def test_what_was_paid_becomes_account_credit_documented_by_a_credit_note(staff):
    invoice = paid_in_part(staff)
    payment = invoice.payments.get()
    services.refund_payment(
        payment=payment, amount="5.00", reason="Book returned", method="cash", actor=staff
    )
    voided, note, problems = void(invoice, staff)
    assert (voided.status, problems) == ("void", [])
    assert note.display_number == "CN-2026-0001"
    assert (note.amount, note.disposition, note.invoice_id) == (
        Decimal("35.00"),
        "credit",
        invoice.pk,
    )
    entry = AccountEntry.objects.get(kind="voided")
    assert (entry.amount, entry.invoice_id) == (Decimal("35.00"), invoice.pk)
    assert note.display_number in entry.description
    assert selectors.account_balance(invoice.payer, invoice.currency) == Decimal("35.00")
    assert Refund.objects.count() == 1  # the earlier one only
    # the statement and the ledger agree: the practice owes the payer the credit
    day = timezone.localdate()
    statement = statement_for(payer=invoice.payer, start=day, end=day)
    assert statement.sections[0].closing == ledger_balance(invoice.payer, invoice.currency)
    assert statement.sections[0].closing == Decimal("-35.00")


@pytest.mark.django_db
@time_machine.travel(NOON, tick=False)
def test_refunding_pays_back_each_payment_as_it_came(staff):
    invoice = paid_in_part(staff, paid="40.00", method="cash")
    services.record_payment(invoice=invoice, amount="25.00", method="bank_transfer", actor=staff)
    services.record_payment(invoice=invoice, amount="5.00", method="card_terminal", actor=staff)
    _, note, problems = void(invoice, staff, disposition="refund")
    assert (note.amount, note.disposition, problems) == (Decimal("70.00"), "refund", [])
    refunds = {r.payment.method: (r.method, r.amount, r.status) for r in Refund.objects.all()}
    assert refunds == {
        "cash": ("cash", Decimal("40.00"), "succeeded"),
        "bank_transfer": ("bank_transfer", Decimal("25.00"), "succeeded"),
        "card_terminal": ("other", Decimal("5.00"), "succeeded"),
    }
    assert all(note.display_number in r.reason for r in Refund.objects.all())
    assert not AccountEntry.objects.exists()
    assert all(p.refunded == p.amount for p in Payment.objects.all())
    day = timezone.localdate()
    statement = statement_for(payer=invoice.payer, start=day, end=day)
    assert statement.sections[0].closing == ledger_balance(invoice.payer, invoice.currency) == 0


@pytest.mark.django_db(transaction=True)
def test_a_card_payment_is_refunded_to_the_card_after_commit(staff):
    invoice = paid_in_part(staff, paid="10.00")
    charged = open_invoice(payer=invoice.payer, amount="30.00")
    card = save_card(invoice.payer)
    charge = services.charge_card(
        invoice=charged, payment_method=card, request_key="pay-1", actor=staff
    )
    # a card payment of part of the invoice, against the processor's charge
    Payment.objects.create(
        invoice=invoice,
        amount=Decimal("30.00"),
        currency=invoice.currency,
        method="card",
        payment_method=card,
        gateway_charge_id=charge.gateway_charge_id,
        received_at=timezone.now(),
    )
    _, note, problems = void(invoice, staff, disposition="refund")
    assert (note.amount, problems) == (Decimal("40.00"), [])
    to_card = Refund.objects.get(method="card")
    assert (to_card.status, to_card.amount) == ("succeeded", Decimal("30.00"))
    assert to_card.gateway_refund_id.startswith("re_sim_")
    assert SimulatedGatewayRefund.objects.count() == 1
    assert Refund.objects.get(method="cash").amount == Decimal("10.00")


@pytest.mark.django_db
def test_two_voids_take_consecutive_numbers_and_a_new_year_starts_again(staff):
    with time_machine.travel(NOON, tick=False):
        first = void(paid_in_part(staff), staff)[1]
        plain = void(open_invoice(), staff)  # nothing paid: no credit note
        second = void(paid_in_part(staff), staff, disposition="refund")[1]
    with time_machine.travel(NOON.replace(year=2027), tick=False):
        third = void(paid_in_part(staff), staff)[1]
    assert plain[1] is None and plain[0].status == "void"
    assert [n.display_number for n in (first, second, third)] == [
        "CN-2026-0001",
        "CN-2026-0002",
        "CN-2027-0001",
    ]


@pytest.mark.django_db
@time_machine.travel(NOON, tick=False)
def test_a_void_that_fails_gives_its_number_back(staff, monkeypatch):
    invoice = paid_in_part(staff)

    def broken(*args, **kwargs):
        raise IntegrityError("the ledger refused")

    monkeypatch.setattr(credit_notes, "_write_entry", broken)
    with pytest.raises(IntegrityError):
        void(invoice, staff)
    invoice.refresh_from_db()
    assert invoice.status == "open" and not CreditNote.objects.exists()
    monkeypatch.undo()
    assert void(invoice, staff)[1].display_number == "CN-2026-0001"


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_makes_one_credit_note_and_one_credit(staff):
    invoice = paid_in_part(staff)
    results = run_together([lambda: void(invoice, staff), lambda: void(invoice, staff)])
    assert sum(isinstance(r, tuple) for r in results) == 1
    refused = [r for r in results if isinstance(r, BusinessRuleError)]
    assert len(refused) == 1 and "is void" in refused[0].message
    assert CreditNote.objects.count() == 1 and AccountEntry.objects.count() == 1
    assert selectors.account_balance(invoice.payer, invoice.currency) == Decimal("40.00")
    year = CreditNote.objects.get().year
    assert InvoiceSequence.objects.get(name=f"credit-note-{year}").last_number == 1


@pytest.mark.django_db
def test_void_asks_a_reason_a_choice_and_billing_staff(staff, therapist):
    invoice = paid_in_part(staff)
    with pytest.raises(BusinessRuleError, match="reason"):
        void(invoice, staff, reason="  ")
    with pytest.raises(BusinessRuleError, match="account credit or a refund"):
        void(invoice, staff, disposition="keep")
    with pytest.raises(PermissionDenied):
        void(invoice, therapist)
    # the plain void still refuses an invoice with payments, pointing at the choice
    with pytest.raises(BusinessRuleError, match="account credit or a refund"):
        services.void_invoice(invoice=invoice, reason="Error", actor=staff)
    invoice.refresh_from_db()
    assert invoice.status == "open" and not CreditNote.objects.exists()


@pytest.mark.django_db
def test_the_database_keeps_one_credit_note_per_invoice_and_positive_amounts(staff):
    invoice = paid_in_part(staff)
    note = void(invoice, staff)[1]
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.create(
            year=note.year, number=2, invoice=invoice, amount=1, currency="GBP", reason="x"
        )
    other = open_invoice()
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.create(
            year=note.year, number=3, invoice=other, amount=0, currency="GBP", reason="x"
        )

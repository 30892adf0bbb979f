"""A credit appended to an open invoice: the one correction an issued invoice
accepts (service rules, and the database's backstop from migration 0005)."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from billing import services
from billing.models import Invoice, InvoiceLine
from billing.selectors import balance_due
from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db


def credit(invoice, amount, **kwargs):
    return services.credit_open_invoice(
        invoice=invoice,
        amount=amount,
        reason=kwargs.pop("reason", "Sessions moved to another payer"),
        description=kwargs.pop("description", "Credit: 2 sessions of Piano moved"),
        **{"actor": SYSTEM, **kwargs},
    )


def test_a_credit_lowers_the_total_and_the_balance_by_exactly_its_amount():
    invoice = open_invoice(amount="100.00")
    number = invoice.number
    line = credit(invoice, Decimal("30.005"))
    invoice.refresh_from_db()
    assert (line.kind, line.amount, line.reason) == (
        "credit",
        Decimal("30.010"),
        "Sessions moved to another payer",
    )
    assert invoice.total == Decimal("69.990") and balance_due(invoice) == Decimal("69.990")
    assert invoice.status == "open" and invoice.number == number
    assert [line.kind for line in invoice.lines.all()] == ["charge", "credit"]
    assert ClientEvent.objects.filter(
        client=invoice.payer, summary__startswith=f"Credit of £30.01 on {invoice}"
    ).exists()


def test_a_credit_that_clears_the_balance_makes_the_invoice_paid():
    invoice = open_invoice(amount="100.00")
    services.record_payment(actor=SYSTEM, invoice=invoice, amount=Decimal(60), method="cash")
    credit(invoice, Decimal(40))
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.total == Decimal(60)
    assert balance_due(invoice) == 0


def test_a_credit_is_never_more_than_the_balance_and_only_on_an_open_invoice(therapist):
    invoice = open_invoice(amount="100.00")
    services.record_payment(actor=SYSTEM, invoice=invoice, amount=Decimal(70), method="cash")
    with pytest.raises(BusinessRuleError, match="larger than the balance"):
        credit(invoice, Decimal("30.01"))
    with pytest.raises(BusinessRuleError, match="reason"):
        credit(invoice, Decimal(1), reason=" ")
    with pytest.raises(PermissionDenied):
        credit(invoice, Decimal(1), actor=therapist)
    draft = services.create_draft(actor=SYSTEM, payer=invoice.payer)
    services.add_charge(actor=SYSTEM, invoice=draft, description="x", unit_price=10)
    paid = open_invoice(amount="10.00")
    services.record_payment(actor=SYSTEM, invoice=paid, amount=Decimal(10), method="cash")
    for other in (draft, paid):
        with pytest.raises(BusinessRuleError, match="only on an open invoice"):
            credit(other, Decimal(1))
    assert InvoiceLine.objects.filter(kind="credit").count() == 0
    assert Invoice.objects.get(pk=invoice.pk).total == Decimal(100)


def test_the_database_accepts_only_a_credit_within_the_balance_of_an_open_invoice():
    invoice = open_invoice(amount="100.00")

    def insert(target, kind="credit", amount=Decimal(5)):
        InvoiceLine.objects.create(
            invoice=target, kind=kind, description="raw", amount=amount, reason="r"
        )

    with pytest.raises(IntegrityError, match="more than the balance"), transaction.atomic():
        insert(invoice, amount=Decimal("100.01"))
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        insert(invoice, kind="discount")
    line = credit(invoice, Decimal(10))
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).delete()
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal(1))
    paid = open_invoice(amount="10.00")
    services.record_payment(actor=SYSTEM, invoice=paid, amount=Decimal(10), method="cash")
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        insert(paid)


@pytest.mark.parametrize(
    "total", [Decimal(85), Decimal(80), Decimal(120)], ids=["not-the-lines", "lower", "up"]
)
def test_the_total_of_an_issued_invoice_only_follows_its_lines_down(total):
    invoice = open_invoice(amount="100.00")
    credit(invoice, Decimal(10))  # the lines now add up to 90
    with pytest.raises(IntegrityError, match="invoice_frozen"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total=total)
    assert Invoice.objects.get(pk=invoice.pk).total == Decimal(90)


def test_the_total_never_goes_below_what_was_paid():
    invoice = open_invoice(amount="100.00")
    services.record_payment(actor=SYSTEM, invoice=invoice, amount=Decimal(95), method="cash")
    with pytest.raises(IntegrityError, match="more than the balance"), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice, kind="credit", description="raw", amount=Decimal(6), reason="r"
        )

"""Invoices and payments on built dates, for the reports' tests."""

from __future__ import annotations

import io
from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone
from pypdf import PdfReader

from billing import services as billing
from billing.models import Invoice
from opus.lib.actors import SYSTEM

AS_OF = date(2026, 6, 30)


def at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def issued(
    relationship, amount, *, on: date, due: date, actor, subscription=None, discount=None
) -> Invoice:
    """An invoice issued on ``on``, due ``due``, billing ``amount`` (less ``discount``)."""
    invoice = billing.create_draft(
        actor=SYSTEM, payer=relationship.payer, relationship=relationship
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Lessons",
        unit_price=Decimal(amount),
        quantity=Decimal(1),
        subscription=subscription,
    )
    if discount:
        billing.add_discount(
            actor=SYSTEM, invoice=invoice, reason="Sibling", amount=Decimal(discount)
        )
    return billing.issue_invoice(invoice=invoice, issued_on=on, due_on=due, actor=actor)


def paid(invoice, amount, *, on: date, actor):
    return billing.record_payment(
        invoice=invoice, amount=Decimal(amount), method="cash", actor=actor, received_at=at(on)
    )


# The practice's invoice details the PDF tests print, and a PDF's text, spaces folded.
DETAILS = {
    "name": "Harbour Lane Music",
    "address": "12 Quay Street\nPortsmouth PO1 2AB",
    "email": "office@harbourlane.example",
    "phone": "+44 23 9200 1234",
    "tax_number": "GB 123 4567 89",
    "payment_instructions": "Harbour Lane Ltd, sort code 12-34-56, account 12345678",
    "invoice_footer": "Thank you for learning with us.",
}


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)

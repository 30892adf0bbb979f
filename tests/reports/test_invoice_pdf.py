"""Invoices as PDF (WeasyPrint): the practice's details, the lines and totals in
the practice's locale; downloaded by whoever may see the invoice; attached to the
invoice email by the worker as it sends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from billing import services as billing
from billing.pdf import invoice_pdf
from opus.lib.actors import SYSTEM
from opus.models import OutboundEmail
from opus.services import send_outbound
from tests.factories import RelationshipFactory, SessionFactory, SubscriptionFactory
from tests.support.practice import assume_practice
from tests.support.reports import DETAILS, text_of

pytestmark = pytest.mark.django_db


def _invoice(staff, practitioner, *, currency=None):
    relationship = RelationshipFactory(
        payer__first_name="Helen", payer__last_name="Walsh", payer__email="helen@example.com"
    )
    subscription = SubscriptionFactory(
        relationship=relationship, session=SessionFactory(practitioner=practitioner)
    )
    invoice = billing.create_draft(
        actor=SYSTEM, payer=relationship.payer, relationship=relationship, currency=currency
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Piano lessons, March",
        unit_price=Decimal("617.25"),
        quantity=Decimal(2),
        subscription=subscription,
    )
    billing.add_discount(actor=SYSTEM, invoice=invoice, reason="Sibling", amount=Decimal("10.00"))
    return billing.issue_invoice(
        invoice=invoice, issued_on=date(2026, 3, 2), due_on=date(2026, 3, 16), actor=staff
    )


def test_the_pdf_has_the_practice_the_lines_and_the_totals(staff, therapist):
    assume_practice(**DETAILS)
    invoice = _invoice(staff, therapist)
    text = text_of(invoice_pdf(invoice))
    for expected in (
        "Harbour Lane Music",
        "12 Quay Street",
        "Portsmouth PO1 2AB",
        "office@harbourlane.example",
        "+44 23 9200 1234",
        "GB 123 4567 89",
        f"Invoice {invoice.display_number}",
        "Helen Walsh",
        "Piano lessons, March",
        "£617.25",
        "£1,224.50",  # 2 x 617.25 - 10.00
        "2 March 2026",
        "16 March 2026",
        "How to pay",
        "sort code 12-34-56",
        "Thank you for learning with us.",
    ):
        assert expected in text, expected


def test_a_german_practice_gets_a_german_pdf(staff, therapist):
    assume_practice(**DETAILS, locale="de_DE")
    text = text_of(invoice_pdf(_invoice(staff, therapist, currency="EUR")))
    assert "1.224,50 €" in text and "16. März 2026" in text


def test_staff_and_the_invoices_practitioner_download_it_others_get_404(
    staff, staff_client, therapist, therapist_client, other_client, client
):
    invoice = _invoice(staff, therapist)
    url = reverse("billing:invoice-pdf", args=[invoice.pk])
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content
    assert f'href="{url}"'.encode() in page and b"Download PDF" in page
    for browser in (staff_client, therapist_client):
        response = browser.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert f'filename="{invoice.display_number}.pdf"' in response["Content-Disposition"]
        assert "Helen Walsh" in text_of(response.content)
    assert other_client.get(url).status_code == 404
    assert client.get(url).status_code == 302
    assert staff_client.post(url).status_code == 405


def test_the_invoice_email_carries_the_pdf_made_by_the_worker(staff, therapist):
    assume_practice(**DETAILS)
    invoice = _invoice(staff, therapist)
    billing.send_invoice(invoice=invoice, actor=staff)
    row = OutboundEmail.objects.get(template="invoice")
    assert row.context == {"invoice_id": invoice.pk}  # the request queued only an id
    assert send_outbound(row.pk) == "sent"
    (message,) = mail.outbox
    ((filename, content, mimetype),) = message.attachments
    assert (filename, mimetype) == (f"{invoice.display_number}.pdf", "application/pdf")
    text = text_of(content)
    assert "Harbour Lane Music" in text and "£1,224.50" in text

"""The void form asks what becomes of what was paid (account credit by default, or a
refund) when payments are recorded, on the full page and in the htmx fragment; the
credit note is shown on the invoice's page, ready to print."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import selectors, services
from billing.models import CreditNote, Refund
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def paid_in_part(staff):
    invoice = open_invoice(amount="100.00")
    services.record_payment(invoice=invoice, amount="40.00", method="cash", actor=staff)
    return invoice


def test_the_void_form_offers_the_choice_only_when_something_was_paid(staff, staff_client):
    paid = paid_in_part(staff)
    unpaid = open_invoice(amount="50.00")
    for headers in ({}, HTMX):
        page = staff_client.get(
            reverse("billing:invoice-detail", args=[paid.pk]), headers=headers
        ).content.decode()
        assert "Keep what was paid as account credit" in page and "Refund it" in page
        assert re.search(r'value="credit"[^>]*checked', page)  # the default
        plain = staff_client.get(
            reverse("billing:invoice-detail", args=[unpaid.pk]), headers=headers
        ).content.decode()
        assert "Void this invoice" in plain and "Keep what was paid" not in plain
    fragment = staff_client.get(reverse("billing:invoice-detail", args=[paid.pk]), headers=HTMX)
    assert b"<html" not in fragment.content


def test_voiding_keeps_what_was_paid_as_credit_and_shows_the_credit_note(staff, staff_client):
    invoice = paid_in_part(staff)
    url = reverse("billing:invoice-void", args=[invoice.pk])
    done = staff_client.post(url, {"void-reason": "Wrong family", "void-disposition": "credit"})
    assert done.status_code == 302
    note = CreditNote.objects.get()
    assert selectors.account_balance(invoice.payer, invoice.currency) == Decimal("40.00")
    page = staff_client.get(done.url).content.decode()
    assert f"Credit note {note.display_number}" in page
    assert "kept as account credit" in page and "Print credit note" in page
    # the same form submitted again does nothing more
    again = staff_client.post(url, {"void-reason": "Wrong family", "void-disposition": "credit"})
    assert again.status_code == 200 and "is void" in again.content.decode()
    assert CreditNote.objects.count() == 1


def test_voiding_with_a_refund_by_htmx(staff, staff_client):
    invoice = paid_in_part(staff)
    url = reverse("billing:invoice-void", args=[invoice.pk])
    done = staff_client.post(
        url, {"void-reason": "Wrong family", "void-disposition": "refund"}, headers=HTMX
    )
    assert done.status_code == 200 and "HX-Location" in done.headers
    refund = Refund.objects.get()
    assert (refund.method, refund.amount, refund.status) == ("cash", Decimal("40.00"), "succeeded")
    assert CreditNote.objects.get().disposition == "refund"


def test_a_bad_choice_or_no_reason_reshows_the_form_with_what_was_typed(staff, staff_client):
    invoice = paid_in_part(staff)
    url = reverse("billing:invoice-void", args=[invoice.pk])
    bad = staff_client.post(url, {"void-reason": "Wrong family", "void-disposition": "keep"})
    text = bad.content.decode()
    assert bad.status_code == 200 and "Select a valid choice" in text and "Wrong family" in text
    empty = staff_client.post(
        url, {"void-reason": "", "void-disposition": "refund"}, headers=HTMX
    ).content.decode()
    assert "This field is required" in empty and "<html" not in empty
    assert not CreditNote.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == "open"

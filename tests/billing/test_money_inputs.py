"""Every money input accepts what the server accepts: its min and step are the
currency's minor unit (a step of 0.01 from a min of 0.001 made 60.00 invalid)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.forms import PaymentForm
from billing.models import Payment
from opus.lib.actors import SYSTEM
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def open_invoice_in(currency: str, amount: str):
    invoice = services.create_draft(actor=SYSTEM, payer=ClientFactory(), currency=currency)
    services.add_charge(
        actor=SYSTEM, invoice=invoice, description="Lessons", unit_price=Decimal(amount)
    )
    return services.issue_invoice(
        actor=SYSTEM, invoice=invoice, due_on=timezone.localdate() + timedelta(days=14)
    )


def amount_input(html: str) -> str:
    return re.search(r'<input[^>]*name="amount"[^>]*>', html).group(0)


@pytest.mark.parametrize(
    ("currency", "amount", "unit", "value"),
    [("GBP", "60", "0.01", "60.00"), ("JPY", "6000", "1", "6000"), ("BHD", "6", "0.001", "6.000")],
)
def test_the_amount_input_starts_and_steps_at_the_minor_unit(
    staff_client, currency, amount, unit, value
):
    invoice = open_invoice_in(currency, amount)
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    field = amount_input(page)
    assert f'min="{unit}"' in field and f'step="{unit}"' in field
    assert f'value="{value}"' in field  # the balance, a multiple of the step


@pytest.mark.parametrize(
    ("currency", "typed", "valid"),
    [
        ("GBP", "60.00", True),
        ("GBP", "50", True),
        ("GBP", "12.50", True),
        ("GBP", "0.01", True),
        ("GBP", "12.505", False),
        ("GBP", "0", False),
        ("GBP", "-5", False),
        ("JPY", "500", True),
        ("JPY", "500.5", False),
    ],
)
def test_the_form_accepts_exactly_the_minor_units(currency, typed, valid):
    form = PaymentForm({"amount": typed, "method": "cash"}, currency=currency)
    assert form.is_valid() is valid, form.errors


def test_a_fraction_of_a_penny_is_refused_at_the_field_and_nothing_is_recorded(staff_client):
    invoice = open_invoice_in("GBP", "60")
    response = staff_client.post(
        reverse("billing:invoice-record-payment", args=[invoice.pk]),
        {"amount": "12.505", "method": "cash"},
    )
    assert response.status_code == 200
    assert "Enter at most 2 decimal places." in response.content.decode()
    assert not Payment.objects.exists()

"""A payment above the invoice's balance: refused unless the user ticks "Keep what
is above the balance as account credit" (a typo is not taken silently); then the
payment is recorded as received, the invoice paid, and the excess is an
overpayment credit on the payer's account. A card charge that lands on an invoice
paid in part meanwhile keeps its excess the same way."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import Account, AccountEntry, Payment
from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from tests.support.billing import open_invoice, save_card

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def test_more_than_the_balance_is_refused_with_the_way_to_keep_it_as_credit(staff):
    invoice = open_invoice(amount="90.00")
    with pytest.raises(BusinessRuleError) as refused:
        services.record_payment(invoice=invoice, amount="100", method="cash", actor=staff)
    assert refused.value.field == "amount"
    assert refused.value.message == (
        "The payment is more than the balance (£90.00). To keep the £10.00 above it as account "
        f"credit for {invoice.payer.full_name}'s next invoices, tick “Keep what is above the "
        "balance as account credit”."
    )
    assert not Payment.objects.exists() and not Account.objects.exists()


def test_the_excess_ticked_goes_to_the_payers_account_once(staff):
    invoice = open_invoice(amount="90.00")
    payment = services.record_payment(
        invoice=invoice, amount="100", method="cash", actor=staff, excess_to_credit=True
    )
    assert payment.amount == Decimal("100.00") and payment.excess == Decimal("10.00")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    (entry,) = AccountEntry.objects.all()
    assert (entry.kind, entry.amount, entry.invoice_id, entry.source) == (
        "overpayment",
        Decimal("10.00"),
        invoice.pk,
        f"overpayment:{payment.pk}",
    )
    assert Account.objects.get(payer=invoice.payer).balance == Decimal("10.00")
    assert ClientEvent.objects.filter(
        client=invoice.payer, summary__startswith="Account credit of £10.00 (Overpayment"
    ).exists()
    # the credit pays the next invoice
    second = open_invoice(payer=invoice.payer, amount="30.00")
    services.apply_account_credit(invoice=second, actor=staff)
    second.refresh_from_db()
    assert second.total == Decimal("20.00")
    assert Account.objects.get(payer=invoice.payer).balance == 0


def test_the_box_ticked_on_an_exact_payment_credits_nothing(staff):
    invoice = open_invoice(amount="90.00")
    payment = services.record_payment(
        invoice=invoice, amount="90", method="cash", actor=staff, excess_to_credit=True
    )
    assert payment.excess == 0 and not AccountEntry.objects.exists()


@pytest.mark.django_db(transaction=True)  # the card is charged with no transaction open
def test_a_card_charge_on_an_invoice_paid_in_part_meanwhile_keeps_the_excess_as_credit(staff):
    invoice = open_invoice(amount="50.00")
    attempt = services.start_card_attempt(
        invoice=invoice, payment_method=save_card(invoice.payer), request_key="k1", actor=SYSTEM
    )
    services.record_payment(invoice=invoice, amount="20", method="cash", actor=staff)
    services.run_card_attempt(attempt=attempt, actor=SYSTEM)  # charges the 50.00 it was for
    invoice.refresh_from_db()
    assert invoice.status == "paid" and Payment.objects.filter(invoice=invoice).count() == 2
    assert Account.objects.get(payer=invoice.payer).balance == Decimal("20.00")
    assert ClientEvent.objects.filter(
        client=invoice.payer, summary__contains="£20.00 more than was due: kept as account credit"
    ).exists()


def test_the_form_offers_the_box_re_shows_a_refusal_and_says_what_was_kept(staff_client, staff):
    invoice = open_invoice(amount="90.00")
    url = reverse("billing:invoice-record-payment", args=[invoice.pk])
    detail = reverse("billing:invoice-detail", args=[invoice.pk])
    assert (
        "Keep what is above the balance as account credit"
        in staff_client.get(detail).content.decode()
    )
    for headers in ({}, HTMX):
        page = staff_client.post(url, {"amount": "100", "method": "cash"}, headers=headers)
        text = page.content.decode()
        assert page.status_code == 200 and 'value="100"' in text
        assert "To keep the £10.00 above it as account credit" in text
    response = staff_client.post(
        url, {"amount": "100", "method": "cash", "excess_to_credit": "on"}, follow=True
    )
    text = " ".join(response.content.decode().split())
    assert re.search(
        r"Payment of £100.00 recorded. £10.00 above the balance is kept as account credit for ",
        text,
    )
    assert Account.objects.get(payer=invoice.payer).balance == Decimal("10.00")
    # the same form sent again: the invoice is paid, nothing more is taken
    again = staff_client.post(url, {"amount": "100", "method": "cash", "excess_to_credit": "on"})
    assert again.status_code == 200
    assert Payment.objects.count() == 1 and AccountEntry.objects.count() == 1

"""Front desk records a cash payment on an open invoice, in a real browser, by the
labels a user reads: the browser's own checks (min, step) must accept every
amount a person types in money."""

import pytest
from playwright.sync_api import expect

from billing.models import Invoice, Payment
from tests.factories import PASSWORD, ClientFactory
from tests.support.billing import open_invoice
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def invoice(staff):
    return open_invoice(payer=ClientFactory(first_name="Oliver"), amount="60.00", staff=staff)


def test_front_desk_records_a_cash_payment_and_sees_the_invoice_paid(
    page, live_server, invoice, console_errors
):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", name="Record a payment")).to_be_visible()
    page.get_by_label("Amount received").fill("60.00")
    page.get_by_label("Paid by").select_option(label="Cash")
    page.get_by_label("Reference").fill("Till 2")
    page.get_by_role("button", name="Record payment").click()

    expect(page.get_by_text("Payment of £60.00 recorded.")).to_be_visible()
    expect(page.locator(".invoice-head .badge")).to_have_text("Paid")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert (payment.method, str(payment.amount), payment.reference) == ("cash", "60.000", "Till 2")
    assert console_errors == []


@pytest.mark.parametrize("typed", ["60.00", "50", "12.50", "0.01", "59.99"])
def test_the_browser_accepts_any_amount_in_pence(page, live_server, invoice, typed):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    amount = page.get_by_label("Amount received")
    amount.fill(typed)
    assert amount.evaluate("el => el.checkValidity()"), amount.evaluate(
        "el => el.validationMessage"
    )


def test_the_pre_filled_balance_is_accepted_as_it_is(page, live_server, invoice):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    amount = page.get_by_label("Amount received")
    expect(amount).to_have_value("60.00")
    assert amount.evaluate("el => el.checkValidity()"), amount.evaluate(
        "el => el.validationMessage"
    )


def test_the_browser_refuses_a_fraction_of_a_penny(page, live_server, invoice):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    amount = page.get_by_label("Amount received")
    amount.fill("12.505")
    assert not amount.evaluate("el => el.checkValidity()")
    amount.fill("0")
    assert not amount.evaluate("el => el.checkValidity()")

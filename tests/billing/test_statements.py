"""A payer's statement: opening balance, every invoice, payment, credit and refund
in the dates, closing balance; the staff page (full and fragment), its PDF, and
"Email statement" through the outbox (the worker makes the PDF)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from billing import services
from billing.models import Payment
from billing.statements import ledger_balance, statement_for
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from opus.services import send_outbound
from tests.factories import RelationshipFactory, SessionFactory, SubscriptionFactory
from tests.support.practice import assume_practice
from tests.support.reports import DETAILS, at, issued, paid, text_of

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
MARCH = {"start": "2026-03-05", "end": "2026-03-31"}


@pytest.fixture
def history(staff, therapist):
    """Helen: an invoice of £100 on 2 March (before the range), paid £60 on 10 March,
    £20 goodwill credit on 15 March, £10 of the payment refunded in cash on 20 March."""
    relationship = RelationshipFactory(
        payer__first_name="Helen", payer__last_name="Walsh", payer__email="helen@example.com"
    )
    SubscriptionFactory(relationship=relationship, session=SessionFactory(practitioner=therapist))
    invoice = issued(
        relationship, "100.00", on=date(2026, 3, 2), due=date(2026, 3, 16), actor=staff
    )
    payment = paid(invoice, "60.00", on=date(2026, 3, 10), actor=staff)
    with time_machine.travel(at(date(2026, 3, 15)), tick=False):
        services.grant_account_credit(
            payer=relationship.payer, amount="20.00", currency="GBP", reason="Heating", actor=staff
        )
    with time_machine.travel(at(date(2026, 3, 20)), tick=False):
        services.refund_payment(
            payment=payment, amount="10.00", reason="One lesson missed", method="cash", actor=staff
        )
    return relationship.payer, invoice


def test_the_statement_opens_lists_and_closes_at_the_ledger(history):
    payer, invoice = history
    statement = statement_for(payer=payer, start=date(2026, 3, 5), end=date(2026, 3, 31))
    (section,) = statement.sections
    assert section.currency == "GBP" and section.opening == Decimal("100.00")
    assert [(r.day, r.charge, r.credit, r.balance) for r in section.rows] == [
        (date(2026, 3, 10), 0, Decimal("60.00"), Decimal("40.00")),
        (date(2026, 3, 15), 0, Decimal("20.00"), Decimal("20.00")),
        (date(2026, 3, 20), Decimal("10.00"), Decimal("10.00"), Decimal("20.00")),
    ]
    assert "Payment on " + invoice.display_number in section.rows[0].description
    assert "Heating" in section.rows[1].description
    assert "One lesson missed" in section.rows[2].description
    assert section.closing == Decimal("20.00") == ledger_balance(payer, "GBP")
    # before the first row: nothing; after the range, the history stays out
    early = statement_for(payer=payer, start=date(2026, 1, 1), end=date(2026, 3, 1))
    assert early.sections == []
    only_march_2 = statement_for(payer=payer, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert [s.closing for s in only_march_2.sections] == [Decimal("100.00")]


def test_credit_paid_out_and_a_closed_invoice(staff):
    relationship = RelationshipFactory()
    payer = relationship.payer
    invoice = issued(relationship, "50.00", on=date(2026, 4, 1), due=date(2026, 4, 15), actor=staff)
    paid(invoice, "30.00", on=date(2026, 4, 2), actor=staff)
    with time_machine.travel(at(date(2026, 4, 3)), tick=False):
        services.grant_account_credit(
            payer=payer, amount="25.00", currency="GBP", reason="Transfer", actor=staff
        )
        services.refund_account_credit(
            payer=payer,
            currency="GBP",
            amount="15.00",
            reason="Asked for it back",
            payments=list(Payment.objects.select_related("invoice")),
            request_key="payout-1",
            actor=staff,
        )
        services.close_invoice(invoice=invoice, reason="Waived the rest", actor=staff)
    (section,) = statement_for(payer=payer, start=date(2026, 4, 1), end=date(2026, 4, 30)).sections
    assert [(r.charge, r.credit) for r in section.rows] == [
        (Decimal("50.00"), 0),  # invoice
        (0, Decimal("30.00")),  # payment
        (0, Decimal("20.00")),  # closed: the unpaid rest
        (Decimal("15.00"), 0),  # credit paid out
        (0, Decimal("25.00")),  # credit granted
    ]
    assert section.closing == Decimal("-10.00") == ledger_balance(payer, "GBP")
    assert section.in_credit == Decimal("10.00")


def test_the_page_and_its_fragment_staff_only(staff_client, therapist_client, history):
    payer, _invoice = history
    url = reverse("billing:client-statement", args=[payer.pk])
    page = staff_client.get(url, MARCH)
    html = page.content.decode()
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    assert "<html" in html and "Statement for Helen Walsh" in html
    for text in ("Opening balance", "£100.00", "Closing balance", "£20.00", "Email statement"):
        assert text in html
    assert "Download PDF" in html and "start=2026-03-05" in html
    fragment = staff_client.get(url, MARCH, headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert "Closing balance" in fragment.content.decode()
    assert therapist_client.get(url, MARCH).status_code == 403


def test_bad_dates_are_shown_with_their_error_never_a_500(staff_client, history):
    payer, _invoice = history
    url = reverse("billing:client-statement", args=[payer.pk])
    for query, error in (
        ({"start": "not a date"}, "Enter a date such as 2026-03-31."),
        ({"start": "2026-04-01", "end": "2026-03-01"}, "The last day is before the first."),
        ({"start": "0001-01-01"}, "Enter a date from 1900 to 2999."),
    ):
        response = staff_client.get(url, query)
        assert response.status_code == 200
        assert error in response.content.decode()


def test_the_page_costs_the_same_queries_whatever_the_history(
    staff, staff_client, django_assert_max_num_queries
):
    relationship = RelationshipFactory()
    for day in range(1, 29):
        invoice = issued(
            relationship, "10.00", on=date(2026, 2, day), due=date(2026, 3, 1), actor=staff
        )
        paid(invoice, "4.00", on=date(2026, 2, day), actor=staff)
    url = reverse("billing:client-statement", args=[relationship.payer.pk])
    with django_assert_max_num_queries(12):
        response = staff_client.get(url, {"start": "2026-02-01", "end": "2026-02-28"})
    assert response.content.decode().count("Payment on INV-") == 28


def test_the_pdf_has_the_practice_and_the_balances(staff_client, therapist_client, history):
    assume_practice(**DETAILS)
    payer, _invoice = history
    url = reverse("billing:client-statement-pdf", args=[payer.pk])
    response = staff_client.get(url, MARCH)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f"statement-{payer.pk}-20260305-20260331.pdf" in response["Content-Disposition"]
    text = text_of(response.content)
    for part in ("Harbour Lane Music", "Statement", "Helen Walsh", "Opening balance", "£100.00"):
        assert part in text
    assert "Closing balance" in text and "£20.00" in text
    assert therapist_client.get(url, MARCH).status_code == 403


def test_email_statement_is_queued_once_and_the_worker_attaches_the_pdf(
    staff_client, history, django_capture_on_commit_callbacks
):
    payer, _invoice = history
    url = reverse("billing:client-statement-email", args=[payer.pk])
    assert staff_client.get(url).status_code == 405
    for _ in range(2):  # a double submit
        response = staff_client.post(url, MARCH)
        assert response.status_code == 302 and "start=2026-03-05" in response["Location"]
    row = OutboundEmail.objects.get(template="statement")
    assert row.context == {"client_id": payer.pk, "start": "2026-03-05", "end": "2026-03-31"}
    assert send_outbound(row.pk) == "sent"
    (message,) = mail.outbox
    assert message.to == ["helen@example.com"] and "statement" in message.subject.lower()
    ((filename, content, mimetype),) = message.attachments
    assert mimetype == "application/pdf" and filename.startswith("statement-")
    assert "Closing balance" in text_of(content)
    assert "£20.00" in message.body


def test_email_statement_without_an_address_says_why(staff, staff_client, therapist_client):
    relationship = RelationshipFactory(payer__email="")
    with pytest.raises(BusinessRuleError, match="no email address"):
        services.email_statement(
            payer=relationship.payer, start=date(2026, 3, 1), end=date(2026, 3, 31), actor=staff
        )
    url = reverse("billing:client-statement-email", args=[relationship.payer.pk])
    followed = staff_client.post(url, MARCH, follow=True)
    assert "has no email address" in followed.content.decode()
    assert therapist_client.post(url, MARCH).status_code in (403, 404)
    assert not OutboundEmail.objects.filter(template="statement").exists()

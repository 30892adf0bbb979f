"""Collecting issued invoices: the public pay link, receipts, autopay with its retry
ladder and the follow-up after the last retry. Charging commits (transaction=True):
a card is never charged inside a transaction."""

import logging
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import close_old_connections
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from billing import consent, services
from billing.models import (
    AutopayPlan,
    Invoice,
    InvoiceEvent,
    Payment,
    PaymentAttempt,
    PaymentMethod,
)
from billing.paylinks import ensure_pay_link
from billing.tokens import pay_token_for
from devkit.models import SimulatedGatewayCharge
from opus import practice as practices
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.lib.logging import RedactSecretsFilter
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from tests.factories import ClientFactory
from tests.support.billing import card_post, open_invoice, save_card
from tests.support.web import assert_security_headers

pytestmark = pytest.mark.django_db(transaction=True)

DECLINING = "4000000000009995"  # saved; every charge declined


def pay_path(invoice) -> str:
    return reverse("billing:pay-link", args=[pay_token_for(ensure_pay_link(invoice))])


def emails(template):
    return list(OutboundEmail.objects.filter(template=template).order_by("pk"))


def render(row):
    context = EMAIL_KINDS[row.template].context(row)
    return build_message(row.template, to=row.to_address, context=context)


def text(response) -> str:
    return " ".join(response.content.decode().split())


def assert_link_headers(response):
    assert_security_headers(response)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


# --- the pay link -------------------------------------------------------------------------------


def test_an_issued_invoice_has_a_pay_link_held_only_hashed_and_the_email_carries_it(staff):
    invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), amount="60.00")
    link = invoice.pay_link
    token = pay_token_for(link)
    assert token and token not in (link.nonce, link.token_hash)
    assert services.send_invoice(invoice=invoice, actor=staff)
    message = render(emails("invoice")[0])
    assert reverse("billing:pay-link", args=[token]) in message.body
    assert "Pay this invoice" in message.alternatives[0][0]


def test_get_and_head_show_the_invoice_and_change_nothing(client):
    invoice = open_invoice(payer=ClientFactory(first_name="Ada"), amount="60.00")
    for method in (client.get, client.head):
        response = method(pay_path(invoice))
        assert response.status_code == 200
        assert_link_headers(response)
    page = text(client.get(pay_path(invoice)))
    assert "Hello Ada." in page and "Lessons" in page and "Pay £60.00" in page
    assert "Save this card for my next invoices" in page
    assert not PaymentAttempt.objects.exists() and not PaymentMethod.objects.exists()


def test_paying_by_card_pays_the_invoice_emails_a_receipt_once_and_the_link_says_paid(client):
    invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), amount="60.00")
    path = pay_path(invoice)
    post = card_post(request_key="page-1")
    response = client.post(path, post)
    assert response.status_code == 200
    assert "is paid" in text(response)
    assert "£60.00 paid by Visa ending 4242" in text(response)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = Payment.objects.get()
    assert payment.method == Payment.Method.CARD
    # not saved: kept only as the record of the charge, never a card on file
    assert payment.payment_method.removed_at is not None
    assert services.card_on_file(invoice.payer) is None
    again = client.post(path, post)  # the same page submitted again
    assert again.status_code == 200 and "is paid" in text(again)
    assert Payment.objects.count() == 1 and SimulatedGatewayCharge.objects.count() == 1
    assert len(emails("receipt")) == 1
    receipt = render(emails("receipt")[0])
    assert "£60.00" in receipt.body and invoice.display_number in receipt.subject
    later = client.get(path)
    assert later.status_code == 200
    assert "is paid" in text(later)
    assert InvoiceEvent.objects.filter(invoice=invoice, kind=InvoiceEvent.Kind.PAY_LINK).exists()


def test_saving_the_card_stores_the_consent_text_version_time_and_payer(client):
    invoice = open_invoice(amount="60.00")
    page = text(client.get(pay_path(invoice)))
    assert consent.consent_text() in page.replace("&#x27;", "'")  # what the page shows
    with time_machine.travel(timezone.now(), tick=False):
        client.post(pay_path(invoice), card_post(request_key="k", save_card="on"))
        now = timezone.now()
    card = services.card_on_file(invoice.payer)
    assert card is not None and card.last4 == "4242" and card.client == invoice.payer
    assert card.consent_text == consent.consent_text()
    assert card.consent_version == consent.consent_version(card.consent_text)
    assert card.consented_at == now


def test_a_card_used_once_without_saving_it_records_no_consent(client):
    invoice = open_invoice(amount="60.00")
    client.post(pay_path(invoice), card_post(request_key="k"))
    card = PaymentMethod.objects.get()
    assert card.removed_at is not None
    assert (card.consent_text, card.consent_version, card.consented_at) == ("", "", None)


def test_a_declined_card_charges_nothing_and_the_page_asks_for_another(client):
    invoice = open_invoice(amount="60.00")
    response = client.post(pay_path(invoice), card_post(number=DECLINING, request_key="k1"))
    assert response.status_code == 200
    assert "Your card was declined" in text(response)
    assert DECLINING not in text(response)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and not Payment.objects.exists()
    assert not emails("receipt")
    client.post(pay_path(invoice), card_post(request_key="k2"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_void_and_closed_invoices_links_are_gone_and_unknown_tokens_404_then_429(client, staff):
    voided = services.void_invoice(invoice=open_invoice(), reason="Issued in error", actor=staff)
    response = client.get(pay_path(voided))
    assert response.status_code == 410
    assert_link_headers(response)
    assert client.post(pay_path(voided), card_post(request_key="k")).status_code == 410
    closed = services.close_invoice(invoice=open_invoice(), reason="Waived", actor=staff)
    assert client.get(pay_path(closed)).status_code == 410
    assert not Payment.objects.exists()
    bad = reverse("billing:pay-link", args=["x" * 43])
    statuses = [client.get(bad).status_code for _ in range(12)]
    assert statuses[0] == 404 and statuses[-1] == 429
    # a live link still opens from the same address
    assert client.get(pay_path(open_invoice())).status_code == 200


def test_a_bad_form_re_shows_with_a_human_error_never_a_500(client):
    invoice = open_invoice()
    response = client.post(pay_path(invoice), {"number": "12", "request_key": "k"})
    assert response.status_code == 200
    assert "Enter the card number" in text(response)
    assert client.post(pay_path(invoice), {}).status_code == 200


def test_the_token_never_reaches_a_log(client, caplog):
    invoice = open_invoice()
    token = pay_token_for(ensure_pay_link(invoice))
    services.void_invoice(invoice=invoice, reason="Error", actor=SYSTEM)
    caplog.set_level(logging.DEBUG)
    handler_filter = RedactSecretsFilter()
    client.get(reverse("billing:pay-link", args=[token]))
    client.get(reverse("billing:pay-link", args=["y" * 43]))
    for record in caplog.records:
        handler_filter.filter(record)
        assert token not in record.getMessage()
        assert "y" * 43 not in record.getMessage()


def test_twenty_concurrent_pay_submits_make_one_payment(live_server):
    invoice = open_invoice(amount="60.00")
    url = live_server.url + pay_path(invoice)
    barrier = threading.Barrier(20)
    statuses = []

    def submit(i):
        try:
            barrier.wait()
            statuses.append(HttpClient().post(url, card_post(request_key=f"k{i % 4}")))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Payment.objects.count() == 1
    assert SimulatedGatewayCharge.objects.filter(succeeded=True).count() == 1
    assert len(emails("receipt")) == 1


# --- receipts --------------------------------------------------------------------------------


def test_a_payment_by_hand_emails_one_receipt(staff):
    invoice = open_invoice(payer=ClientFactory(email="ada@example.com"), amount="60.00")
    services.record_payment(invoice=invoice, amount="20.00", method="cash", actor=staff)
    rows = emails("receipt")
    assert len(rows) == 1 and rows[0].to_address == "ada@example.com"
    body = render(rows[0]).body
    assert "£20.00" in body and "Still to pay on this invoice: £40.00" in body


def test_a_card_charge_by_staff_emails_one_receipt_even_when_retried(staff):
    invoice = open_invoice(amount="60.00")
    card = save_card(invoice.payer)
    services.charge_card(invoice=invoice, payment_method=card, request_key="p", actor=staff)
    services.charge_card(invoice=invoice, payment_method=card, request_key="p", actor=staff)
    assert len(emails("receipt")) == 1


# --- autopay ---------------------------------------------------------------------------------


def issue_with_card(number="4242424242424242", amount="60.00"):
    payer = ClientFactory(email="ada@example.com")
    save_card(payer, number=number)
    return open_invoice(payer=payer, amount=amount)


def test_an_issued_invoice_of_a_payer_with_a_card_is_charged_by_autopay():
    invoice = issue_with_card()
    plan = AutopayPlan.objects.get(invoice=invoice)
    assert plan.ladder == "3,7"
    assert services.run_autopay(plan_id=plan.pk) == "paid"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    attempt = PaymentAttempt.objects.get()
    assert attempt.request_key == f"autopay-{plan.pk}-1" and attempt.actor is None
    assert len(emails("receipt")) == 1
    assert services.run_autopay(plan_id=plan.pk) == "skipped"  # run twice: once
    assert Payment.objects.count() == 1


def test_no_autopay_without_a_card_when_the_payer_or_the_practice_turned_it_off():
    assert not AutopayPlan.objects.filter(invoice=open_invoice()).exists()
    payer = ClientFactory(autopay=False)
    save_card(payer)
    assert not AutopayPlan.objects.filter(invoice=open_invoice(payer=payer)).exists()
    practice = practices.from_settings()
    practice.autopay_enabled = False
    practices.forget(assume=practice)
    assert not AutopayPlan.objects.filter(invoice=issue_with_card()).exists()


def test_a_decline_emails_the_pay_link_and_retries_follow_the_ladder_then_follow_up():
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        invoice = issue_with_card(number=DECLINING)
        plan = AutopayPlan.objects.get(invoice=invoice)
        assert services.run_autopay(plan_id=plan.pk) == "declined"
    plan.refresh_from_db()
    assert plan.attempts == 1 and plan.next_attempt_at == start + timedelta(days=3)
    notice = emails("autopay_declined")
    assert len(notice) == 1
    message = render(notice[0])
    assert pay_path(invoice) in message.body and "try your card again" in message.body
    # not due yet: nothing happens
    with time_machine.travel(start + timedelta(days=2), tick=False):
        assert services.run_due_autopay() == 0
    with time_machine.travel(start + timedelta(days=3, minutes=1), tick=False):
        assert services.run_due_autopay() == 1
    plan.refresh_from_db()
    assert plan.attempts == 2 and plan.next_attempt_at == start + timedelta(days=7)
    with time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        assert services.run_due_autopay() == 1
    plan.refresh_from_db()
    assert plan.attempts == 3 and plan.next_attempt_at is None and plan.follow_up_at is not None
    keys = set(PaymentAttempt.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == 3  # a fresh idempotency key per attempt
    assert len(emails("autopay_declined")) == 3
    assert "will not try your card again" in render(emails("autopay_declined")[-1]).body
    assert InvoiceEvent.objects.filter(invoice=invoice, kind=InvoiceEvent.Kind.FOLLOW_UP).exists()
    with time_machine.travel(start + timedelta(days=30), tick=False):
        assert services.run_due_autopay() == 0


def test_paying_through_the_link_after_a_decline_stops_the_retries(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        invoice = issue_with_card(number=DECLINING)
        plan = AutopayPlan.objects.get(invoice=invoice)
        services.run_autopay(plan_id=plan.pk)
    client.post(pay_path(invoice), card_post(request_key="k", save_card="on"))
    with time_machine.travel(start + timedelta(days=3, minutes=1), tick=False):
        services.run_due_autopay()
    plan.refresh_from_db()
    assert plan.finished_at is not None and plan.attempts == 1
    assert Payment.objects.count() == 1
    assert services.card_on_file(invoice.payer).last4 == "4242"  # the new card is on file


def test_autopay_stands_aside_when_staff_charged_the_card_at_the_desk(staff):
    invoice = issue_with_card(number=DECLINING)
    card = services.card_on_file(invoice.payer)
    with pytest.raises(services.CardDeclined):
        services.charge_card(invoice=invoice, payment_method=card, request_key="desk", actor=staff)
    plan = AutopayPlan.objects.get(invoice=invoice)
    assert services.run_autopay(plan_id=plan.pk) == "skipped"
    assert PaymentAttempt.objects.count() == 1 and not emails("autopay_declined")


def test_the_practice_setting_rejects_a_bad_ladder(staff):
    data = {name: getattr(practices.saved(), name) for name in practices.FIELDS}
    data["autopay_retry_days"] = "7,3"
    with pytest.raises(BusinessRuleError) as error:
        practices.update_practice(data=data, actor=staff)
    assert error.value.field == "autopay_retry_days"
    data["autopay_retry_days"] = "2, 5, 9"
    data["autopay_enabled"] = True
    practices.update_practice(data=data, actor=staff)
    assert practices.current().autopay_ladder == [2, 5, 9]
    assert issue_with_card().autopay.ladder == "2,5,9"

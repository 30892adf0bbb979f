"""Staff billing pages: the invoice list and page, their actions, the card panel."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import Invoice, Payment, PaymentCardRequest
from opus.lib.actors import SYSTEM
from opus.models import OutboundEmail
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory
from tests.support.billing import open_invoice, save_card

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(therapist, other_therapist):
    """An invoice the therapist can see (their client), and one only the other can."""
    mine = SubscriptionFactory(session__practitioner=therapist)
    theirs = SubscriptionFactory(
        session__practitioner=other_therapist,
        relationship__payer__first_name="Zebedee",
        relationship__payer__last_name="Sentinelsson",
    )
    return {
        "mine": open_invoice(relationship=mine.relationship, amount="90"),
        "theirs": open_invoice(relationship=theirs.relationship, amount="40"),
        "my_client": mine.client,
        "their_client": theirs.client,
    }


# --- the invoice list ---------------------------------------------------------------------------


def test_the_list_shows_what_the_user_may_see_with_totals(staff_client, therapist_client, world):
    page = staff_client.get(reverse("billing:invoice-list")).content.decode()
    assert world["mine"].display_number in page and world["theirs"].display_number in page
    assert "£130.00" in page  # sum of totals, and of balances
    page = therapist_client.get(reverse("billing:invoice-list")).content.decode()
    assert world["mine"].display_number in page
    assert world["theirs"].display_number not in page
    assert "Sentinelsson" not in page
    assert "£90.00" in page


def test_the_list_filters_by_status_payer_number_and_overdue(staff_client, staff):
    alice = ClientFactory(first_name="Alice", last_name="Archer")
    bob = ClientFactory(first_name="Bob", last_name="Baker")
    a1 = open_invoice(payer=alice, amount="10")
    a2 = open_invoice(payer=alice, amount="20")
    services.record_payment(invoice=a2, amount="5", method="cash", actor=staff)
    b1 = open_invoice(payer=bob, amount="40")
    Invoice.objects.filter(pk=b1.pk).update(due_on=timezone.localdate() - timedelta(days=3))
    services.void_invoice(invoice=a1, reason="Wrong", actor=staff)

    def listed(**params):
        response = staff_client.get(reverse("billing:invoice-list"), params)
        return response.context["page"].object_list, response.context["sums"]

    rows, sums = listed(payer="alice archer")
    assert {i.pk for i in rows} == {a1.pk, a2.pk}
    # billed: a2 only, the void a1 billed nothing
    assert sums == [{"currency": "GBP", "total": Decimal("20"), "balance": Decimal("15")}]
    rows, _ = listed(status="void")
    assert [i.pk for i in rows] == [a1.pk]
    rows, sums = listed(overdue="on")
    assert [i.pk for i in rows] == [b1.pk]
    assert sums[0]["balance"] == Decimal("40")
    rows, _ = listed(payer=b1.display_number)
    assert [i.pk for i in rows] == [b1.pk]
    rows, _ = listed(status="nonsense", page="zzz")  # a bad filter is ignored, no 500
    assert len(rows) == 3
    page = staff_client.get(reverse("billing:invoice-list"), {"overdue": "on"}).content.decode()
    assert "Overdue" in page


def test_the_list_has_two_renderings(staff_client, world):
    full = staff_client.get(reverse("billing:invoice-list"), {"status": "open"})
    fragment = staff_client.get(reverse("billing:invoice-list"), {"status": "open"}, headers=HTMX)
    assert b"<html" in full.content and b'id="invoice-results"' in full.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="invoice-results">')
    assert world["mine"].display_number.encode() in fragment.content
    assert "HX-Request" in fragment["Vary"]


@pytest.mark.parametrize("rows", [3, 80])
def test_the_list_runs_a_fixed_number_of_queries(
    staff_client, staff, rows, django_assert_max_num_queries
):
    for i in range(rows):
        invoice = open_invoice(amount=str(10 + i))
        if i % 3 == 0:
            services.record_payment(invoice=invoice, amount="1", method="cash", actor=staff)
    staff_client.get(reverse("billing:invoice-list"))  # the session's first touch is written once
    # session, user, count, the page's rows, the sums: the same for 3 rows or 80
    with django_assert_max_num_queries(5):
        response = staff_client.get(reverse("billing:invoice-list"))
    assert len(response.context["page"].object_list) == min(rows, 50)


def test_the_list_query_count_does_not_grow_for_a_practitioner(
    therapist, therapist_client, django_assert_max_num_queries
):
    for _ in range(12):
        subscription = SubscriptionFactory(session__practitioner=therapist)
        open_invoice(relationship=subscription.relationship)
    therapist_client.get(reverse("billing:invoice-list"))
    with django_assert_max_num_queries(5):
        response = therapist_client.get(reverse("billing:invoice-list"), {"payer": "First"})
    assert len(response.context["page"].object_list) == 12


# --- the invoice page ---------------------------------------------------------------------------


def test_the_invoice_page_shows_lines_by_kind_payments_and_balance(staff_client, staff):
    invoice = services.create_draft(
        actor=SYSTEM, payer=ClientFactory(address="1 Mill Lane\nBristol")
    )
    services.add_charge(
        actor=SYSTEM, invoice=invoice, description="Piano: 4 sessions", unit_price="30", quantity=4
    )
    services.add_discount(actor=SYSTEM, invoice=invoice, percent="10", reason="Sibling discount")
    services.add_credit(
        actor=SYSTEM,
        invoice=invoice,
        amount="20",
        reason="Unused lessons",
        description="Credit from transfer",
    )
    invoice = services.issue_invoice(actor=SYSTEM, invoice=invoice)
    services.record_payment(
        invoice=invoice, amount="50", method="bank_transfer", reference="BACS-77", actor=staff
    )
    response = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk]))
    page = response.content.decode()
    for text in (
        "Invoice INV-000001",
        "Piano: 4 sessions",
        "Discount 10%",
        "Reason: Sibling discount",
        "Credit from transfer",
        "Reason: Unused lessons",
        "\u2212£12.00",  # a minus sign, not a hyphen
        "\u2212£20.00",
        "£88.00",  # total
        "BACS-77",
        "Bank transfer",
        "£38.00",  # balance
        "1 Mill Lane<br>Bristol",
        "data-print",
        "Record a payment",
        "Charge the card on file",
        "Close this invoice",
    ):
        assert text in page, text
    assert "Void this invoice" not in page  # it has a payment


def test_the_invoice_page_has_two_renderings(staff_client, world):
    url = reverse("billing:invoice-detail", args=[world["mine"].pk])
    full = staff_client.get(url)
    fragment = staff_client.get(url, headers=HTMX)
    assert b"<html" in full.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(b'<div id="invoice"')


def test_a_practitioner_sees_their_invoice_without_actions(therapist_client, world):
    page = therapist_client.get(reverse("billing:invoice-detail", args=[world["mine"].pk]))
    assert page.status_code == 200
    assert b"Record a payment" not in page.content
    assert b"Charge the card" not in page.content


def test_the_print_stylesheet_hides_the_actions():
    from pathlib import Path

    css = Path("static/css/opus.css").read_text()
    print_rules = css[css.index("@media print") :]
    assert ".no-print" in print_rules
    assert ".invoice-doc" in print_rules


# --- actions: the permission matrix -------------------------------------------------------------

ACTIONS = {
    "billing:invoice-record-payment": {"amount": "10", "method": "cash", "reference": "R"},
    "billing:invoice-charge-card": {"request_key": "k-1"},
    "billing:invoice-send": {},
    "billing:invoice-void": {"void-reason": "Mistake"},
    "billing:invoice-close": {"close-reason": "Waived"},
    "billing:invoice-issue": {"due_on": "2099-01-01"},
}


def snapshot(invoice):
    invoice = Invoice.objects.get(pk=invoice.pk)
    return (
        invoice.status,
        invoice.total,
        invoice.number,
        Payment.objects.filter(invoice=invoice).count(),
    )


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_is_for_staff_only(name, client, therapist_client, other_client, world):
    invoice = world["mine"]
    url = reverse(name, args=[invoice.pk])
    before = snapshot(invoice)
    anonymous = client.post(url, ACTIONS[name])
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    assert other_client.post(url, ACTIONS[name]).status_code == 404  # cannot see it
    assert therapist_client.post(url, ACTIONS[name]).status_code == 403  # sees it, may not act
    assert therapist_client.post(url, ACTIONS[name], headers=HTMX).status_code == 403
    assert snapshot(invoice) == before
    assert therapist_client.get(url).status_code == 405


@pytest.mark.parametrize(
    "name",
    ["billing:invoice-detail", "billing:client-cards"],
)
def test_pages_with_an_id_answer_404_to_a_practitioner_who_cannot_see_it(
    name, other_client, therapist_client, world
):
    target = world["mine"].pk if name == "billing:invoice-detail" else world["my_client"].pk
    assert other_client.get(reverse(name, args=[target])).status_code == 404
    assert therapist_client.get(reverse(name, args=[target])).status_code == 200


def test_recording_a_payment_ignores_extra_fields(staff_client, world):
    invoice = world["mine"]
    response = staff_client.post(
        reverse("billing:invoice-record-payment", args=[invoice.pk]),
        {
            "amount": "25",
            "method": "cash",
            "reference": "Till 3",
            "total": "1",
            "payer": world["their_client"].pk,
            "invoice": world["theirs"].pk,
            "currency": "JPY",
            "recorded_by": "1",
        },
    )
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert (payment.invoice_id, payment.amount, payment.currency) == (invoice.pk, 25, "GBP")
    invoice.refresh_from_db()
    assert invoice.total == Decimal("90")


def test_a_refused_payment_re_shows_the_form_with_the_reason(staff_client, world):
    url = reverse("billing:invoice-record-payment", args=[world["mine"].pk])
    for headers in ({}, HTMX):
        response = staff_client.post(url, {"amount": "95", "method": "cash"}, headers=headers)
        assert response.status_code == 200
        page = response.content.decode()
        assert "more than the balance (£90.00)" in page
        assert 'value="95"' in page
        assert ("<html" in page) == (not headers)
    response = staff_client.post(url, {"amount": "abc", "method": "zzz"})
    assert response.status_code == 200
    assert not Payment.objects.exists()


def test_an_htmx_action_answers_with_a_location_to_swap(staff_client, world):
    url = reverse("billing:invoice-record-payment", args=[world["mine"].pk])
    response = staff_client.post(url, {"amount": "90", "method": "cash"}, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Location" in response
    assert reverse("billing:invoice-detail", args=[world["mine"].pk]) in response["HX-Location"]
    fragment = staff_client.get(
        reverse("billing:invoice-detail", args=[world["mine"].pk]), headers=HTMX
    )
    assert "Payment of £90.00 recorded." in fragment.content.decode()
    full = staff_client.get(reverse("billing:invoice-detail", args=[world["mine"].pk]))
    assert "Payment of £90.00 recorded." not in full.content.decode()  # shown once


@pytest.mark.django_db(transaction=True)  # the card is charged with no transaction open
def test_charging_the_card_on_file_from_the_page_is_idempotent(staff_client, world):
    invoice = world["mine"]
    save_card(invoice.payer)
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Visa ending 4242" in page and "Charge £90.00" in page
    url = reverse("billing:invoice-charge-card", args=[invoice.pk])
    data = {"request_key": "rendered-once", "amount": "1"}  # the amount is the server's
    assert staff_client.post(url, data).status_code == 302
    assert staff_client.post(url, data).status_code == 302  # the same page submitted twice
    payment = Payment.objects.get()
    assert payment.amount == Decimal("90")
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


@pytest.mark.django_db(transaction=True)
def test_a_declined_charge_is_explained_and_the_page_drawn_again_for_a_new_try(staff_client, world):
    invoice = world["mine"]
    save_card(invoice.payer, number="4000000000009995")
    url = reverse("billing:invoice-charge-card", args=[invoice.pk])
    response = staff_client.post(url, {"request_key": "k"})
    # recorded: the answer is a redirect (reloading does not charge again)
    assert response.status_code == 302
    page = staff_client.get(response["Location"]).content.decode()
    assert "Visa ending 9995 was declined: The card was declined: insufficient funds." in page
    assert "<strong>declined</strong> (insufficient funds)" in page  # the attempt, listed
    assert 'name="request_key" value="k"' not in page  # a new key: a new try
    assert not Payment.objects.exists()
    fragment = staff_client.post(url, {"request_key": "k2"}, headers=HTMX)
    assert "HX-Location" in fragment


def test_without_a_card_the_page_offers_to_request_one(staff_client, world):
    page = staff_client.get(
        reverse("billing:invoice-detail", args=[world["mine"].pk])
    ).content.decode()
    assert "has no usable card on file" in page
    assert reverse("billing:client-cards", args=[world["mine"].payer_id]) in page
    response = staff_client.post(
        reverse("billing:invoice-charge-card", args=[world["mine"].pk]), {"request_key": "k"}
    )
    assert "no usable card on file" in response.content.decode()


def test_void_close_and_issue_from_the_page(staff_client, world):
    void_url = reverse("billing:invoice-void", args=[world["mine"].pk])
    missing = staff_client.post(void_url, {"void-reason": ""})
    assert missing.status_code == 200 and b"This field is required" in missing.content
    assert staff_client.post(void_url, {"void-reason": "Wrong payer"}).status_code == 302
    assert Invoice.objects.get(pk=world["mine"].pk).void_reason == "Wrong payer"
    close_url = reverse("billing:invoice-close", args=[world["theirs"].pk])
    assert staff_client.post(close_url, {"close-reason": "Waived"}).status_code == 302
    assert Invoice.objects.get(pk=world["theirs"].pk).status == "closed"
    again = staff_client.post(close_url, {"close-reason": "Again"})
    assert b"only a draft or an open invoice can be closed" in again.content

    draft = services.create_draft(actor=SYSTEM, payer=ClientFactory())
    services.add_charge(actor=SYSTEM, invoice=draft, description="Lesson", unit_price="25")
    issue_url = reverse("billing:invoice-issue", args=[draft.pk])
    page = staff_client.get(reverse("billing:invoice-detail", args=[draft.pk])).content.decode()
    suggested = (timezone.localdate() + timedelta(days=14)).isoformat()
    assert (
        f'type="date" name="due_on" value="{suggested}"' in page
    )  # a browser's date box needs ISO
    past = staff_client.post(issue_url, {"due_on": "2001-01-01"})
    assert b"The due date is in the past" in past.content
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    assert staff_client.post(issue_url, {"due_on": due}).status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.due_on.isoformat()) == ("open", due)


# --- the card panel -----------------------------------------------------------------------------


def test_the_cards_page_shows_cards_and_the_request_state(therapist_client, world):
    client = world["my_client"]
    save_card(client, number="5555555555554444")
    page = therapist_client.get(reverse("billing:client-cards", args=[client.pk])).content.decode()
    assert "Mastercard</span> ending <strong>4444</strong>" in page
    assert "Request a card" in page


def test_the_clients_practitioner_requests_a_card_with_htmx(therapist_client, therapist, world):
    client = world["my_client"]
    url = reverse("billing:card-request-create", args=[client.pk])
    response = therapist_client.post(
        url,
        {
            "reason": "To pay for lessons",
            "email": "attacker@example.com",
            "client": world["their_client"].pk,
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section class="card card-panel"')
    assert "Waiting to be sent" in fragment
    assert "Resend email" in fragment
    card_request = PaymentCardRequest.objects.get()
    assert (card_request.client, card_request.created_by) == (client, therapist)
    assert OutboundEmail.objects.get().to_address == client.email
    resend = reverse("billing:card-request-resend", args=[card_request.pk])
    assert therapist_client.post(resend, headers=HTMX).status_code == 200
    assert therapist_client.get(url).status_code == 405
    assert therapist_client.get(resend).status_code == 405


def test_the_panel_without_htmx_redirects_back(staff_client, world):
    client = world["my_client"]
    url = reverse("billing:card-request-create", args=[client.pk])
    response = staff_client.post(url, {"reason": "Lessons", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:client-cards", args=[client.pk])
    response = staff_client.post(
        url, {"reason": "Lessons", "next": reverse("billing:invoice-list")}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("billing:invoice-list")
    assert "on its way to" in response.content.decode()
    assert PaymentCardRequest.objects.filter(superseded_at__isnull=True).count() == 1


def test_a_refused_request_is_explained_in_the_panel(staff_client):
    client = ClientFactory(email="")
    page = staff_client.get(reverse("billing:client-cards", args=[client.pk])).content.decode()
    assert "Add an email address" in page
    response = staff_client.post(
        reverse("billing:card-request-create", args=[client.pk]), {"reason": "x"}, headers=HTMX
    )
    assert "has no email address" in response.content.decode()
    assert not PaymentCardRequest.objects.exists()


def test_card_requests_of_a_client_one_cannot_see_answer_404(other_client, therapist_client, world):
    client = world["my_client"]
    card_request = services.request_payment_card(client=client, actor=SYSTEM, reason="Lessons")
    create = reverse("billing:card-request-create", args=[client.pk])
    resend = reverse("billing:card-request-resend", args=[card_request.pk])
    assert other_client.post(create, {"reason": "x"}).status_code == 404
    assert other_client.post(resend).status_code == 404
    assert PaymentCardRequest.objects.count() == 1
    assert OutboundEmail.objects.count() == 1
    assert therapist_client.post(resend).status_code == 302


def test_the_panel_context_is_built_in_three_queries(staff, django_assert_num_queries):
    from billing.selectors import card_panel_context

    relationship = RelationshipFactory()
    save_card(relationship.payer)
    services.request_payment_card(client=relationship.payer, actor=SYSTEM, reason="Lessons")
    with django_assert_num_queries(2):
        panel = card_panel_context(relationship.payer, staff)
    assert panel["state"] == "pending" and len(panel["cards"]) == 1


@pytest.mark.parametrize("payments", [1, 12])
def test_the_invoice_page_runs_a_fixed_number_of_queries(
    staff, staff_client, payments, django_assert_max_num_queries
):
    invoice = services.create_draft(actor=SYSTEM, payer=ClientFactory())
    for i in range(payments):
        services.add_charge(
            actor=SYSTEM, invoice=invoice, description=f"Lesson {i}", unit_price="20"
        )
    invoice = services.issue_invoice(actor=SYSTEM, invoice=invoice)
    save_card(invoice.payer)
    for _ in range(payments):
        services.record_payment(invoice=invoice, amount="1", method="cash", actor=staff)
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    staff_client.get(url)
    # session, user, the invoice with its balance (and its autopay), lines, payments, the
    # card on file, the card charges that did not pay, the invoice's history, the refunds,
    # the account credit
    with django_assert_max_num_queries(10):
        response = staff_client.get(url)
    assert len(response.context["payments"]) == payments


def test_staff_send_an_open_invoice_to_the_payer(staff_client, world):
    invoice = world["mine"]
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Send the invoice" in page
    url = reverse("billing:invoice-send", args=[invoice.pk])
    response = staff_client.post(url, headers=HTMX)
    assert "HX-Location" in response
    assert OutboundEmail.objects.filter(template="invoice", client=invoice.payer).count() == 1
    invoice.payer.email = ""
    invoice.payer.save()
    page = staff_client.post(url).content.decode()
    assert "has no email address" in page
    assert OutboundEmail.objects.count() == 1

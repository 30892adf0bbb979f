"""The account and refunds on the pages: the account panel (profile, relationship,
its own page), "Add account credit", "Apply account credit" and "Refund" on the
invoice page; page and fragment, staff only, 404 when not visible."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import Account, AccountEntry, Refund
from opus.lib.actors import SYSTEM
from tests.factories import ClientFactory, SubscriptionFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def grant(payer, amount="25.00", reason="Sorry about the heating"):
    return services.grant_account_credit(
        payer=payer, amount=Decimal(amount), currency="GBP", reason=reason, actor=SYSTEM
    )


@pytest.fixture
def mine(therapist):
    return SubscriptionFactory(session__practitioner=therapist)


def test_the_account_page_and_fragment_show_balance_and_entries(staff_client, mine):
    payer = mine.relationship.payer
    grant(payer)
    url = reverse("billing:client-account", args=[payer.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and "Vary" in page.headers
    html = page.content.decode()
    assert "Account credit" in html and "£25.00" in html and "Sorry about the heating" in html
    assert "<html" in html
    fragment = staff_client.get(url, headers=HTMX).content.decode()
    assert "£25.00" in fragment and "<html" not in fragment


def test_the_profile_and_relationship_page_show_the_payers_account_to_staff_only(
    staff_client, therapist_client, mine
):
    payer = mine.relationship.payer
    grant(payer, "12.50")
    profile = staff_client.get(reverse("clients:detail", args=[payer.pk])).content.decode()
    assert "Account credit" in profile and "£12.50" in profile and "Add account credit" in profile
    relationship = staff_client.get(
        reverse("relationships:detail", args=[mine.relationship.pk])
    ).content.decode()
    assert "£12.50" in relationship
    seen = therapist_client.get(reverse("clients:detail", args=[payer.pk])).content.decode()
    assert "Add account credit" not in seen


def test_add_account_credit_needs_a_reason_and_is_staff_only(staff_client, therapist_client, mine):
    payer = mine.relationship.payer
    url = reverse("billing:account-credit-add", args=[payer.pk])
    assert therapist_client.post(url, {"amount": "5", "reason": "x"}).status_code == 403
    assert (
        staff_client.post(reverse("billing:account-credit-add", args=[999999])).status_code == 404
    )
    again = staff_client.post(url, {"amount": "5", "reason": ""}, headers=HTMX)
    assert again.status_code == 200 and "This field is required" in again.content.decode()
    assert not AccountEntry.objects.exists()
    done = staff_client.post(
        url, {"amount": "7.50", "reason": "Goodwill", "next": "/clients/"}, headers=HTMX
    )
    assert "£7.50 of account credit added" in done.content.decode()
    plain = staff_client.post(url, {"amount": "2.50", "reason": "More", "next": "/clients/"})
    assert plain.status_code == 302 and plain.url == "/clients/"
    assert Account.objects.get(payer=payer).balance == Decimal("10.00")
    # an address off the site is not followed
    off = staff_client.post(url, {"amount": "1", "reason": "x", "next": "https://evil.example/"})
    assert off.url == reverse("billing:client-account", args=[payer.pk])


def test_the_practitioner_cannot_see_anothers_payer_account(other_client, mine):
    url = reverse("billing:client-account", args=[mine.relationship.payer.pk])
    assert other_client.get(url).status_code == 404


def test_apply_account_credit_on_the_invoice_page(staff_client, therapist_client, mine):
    invoice = open_invoice(relationship=mine.relationship, amount="40.00")
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Apply account credit" not in page  # no credit yet
    grant(mine.relationship.payer, "25.00")
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Apply account credit" in page and "£25.00 of account credit" in page
    url = reverse("billing:invoice-apply-credit", args=[invoice.pk])
    assert therapist_client.post(url, {}).status_code == 403
    wrong = staff_client.post(url, {"apply-amount": "30"}, headers=HTMX)
    assert "only £25.00" in wrong.content.decode()
    done = staff_client.post(url, {"apply-amount": ""})
    assert done.status_code == 302
    invoice.refresh_from_db()
    assert invoice.total == Decimal("15.00")
    assert Account.objects.get(payer=invoice.payer).balance == Decimal("0.00")


def test_refund_part_of_a_payment_by_hand_from_the_invoice_page(
    staff_client, therapist_client, mine
):
    invoice = open_invoice(relationship=mine.relationship, amount="40.00")
    payment = services.record_payment(invoice=invoice, amount="40", method="cash", actor=SYSTEM)
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Refund…" in page
    mine_view = therapist_client.get(reverse("billing:invoice-detail", args=[invoice.pk]))
    assert "Refund…" not in mine_view.content.decode()
    url = reverse("billing:invoice-refund", args=[invoice.pk])
    data = {
        "payment": payment.pk,
        "amount": "15.00",
        "method": "cash",
        "reason": "Lesson cancelled",
        "request_key": "k-1",
    }
    assert therapist_client.post(url, data).status_code == 403
    too_much = staff_client.post(url, {**data, "amount": "41"}, headers=HTMX)
    assert "left to refund" in too_much.content.decode()
    other = open_invoice(amount="5")
    other_payment = services.record_payment(invoice=other, amount="5", method="cash", actor=SYSTEM)
    assert staff_client.post(url, {**data, "payment": other_payment.pk}).status_code == 404
    assert staff_client.post(url, {**data, "payment": "x" * 40}).status_code == 404
    done = staff_client.post(url, data, headers=HTMX)
    assert done.status_code == 200 and done.headers["HX-Location"]
    staff_client.post(url, data)  # the same page again: one refund
    assert Refund.objects.get().amount == Decimal("15.00")
    payment.refresh_from_db()
    assert payment.refunded == Decimal("15.00")
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    page = " ".join(page.split())
    assert "Refund of £15.00 (cash)" in page and "Lesson cancelled" in page


def test_pages_take_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries):
    payer = ClientFactory()
    for _ in range(15):
        grant(payer, "1.00")
    with django_assert_max_num_queries(12):
        staff_client.get(reverse("billing:client-account", args=[payer.pk]))
    invoice = open_invoice(payer=payer, amount="100")
    for _ in range(8):
        payment = services.record_payment(invoice=invoice, amount="5", method="cash", actor=SYSTEM)
        services.refund_payment(
            payment=payment, amount="1", method="cash", reason="x", actor=SYSTEM
        )
    with django_assert_max_num_queries(25):
        staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk]))

"""The staff side of autopay: the payer's switch on the card panel, the invoice's
history and the "Needs follow-up" badge and filter."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import AutopayPlan, InvoiceEvent
from clients.models import ClientEvent
from tests.factories import ClientFactory, PaymentMethodFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def text(response) -> str:
    return " ".join(response.content.decode().split())


def follow_up(invoice):
    AutopayPlan.objects.create(
        invoice=invoice, attempts=3, ladder="3,7", follow_up_at=timezone.now()
    )
    InvoiceEvent.objects.create(
        invoice=invoice,
        kind=InvoiceEvent.Kind.FOLLOW_UP,
        summary="Needs follow-up by staff: the card was declined 3 times",
        at=timezone.now(),
    )


def test_staff_turn_a_payers_autopay_off_and_on_page_and_fragment(staff_client):
    payer = ClientFactory(first_name="Ada")
    PaymentMethodFactory(client=payer)
    url = reverse("billing:client-autopay", args=[payer.pk])
    cards = reverse("billing:client-cards", args=[payer.pk])
    assert "Turn autopay off" in text(staff_client.get(cards))
    response = staff_client.post(url, {"autopay": "off"})
    assert response.status_code == 302
    payer.refresh_from_db()
    assert payer.autopay is False
    assert ClientEvent.objects.filter(client=payer, summary="Autopay turned off").count() == 1
    staff_client.post(url, {"autopay": "off"})  # twice: one change
    assert ClientEvent.objects.filter(client=payer, summary="Autopay turned off").count() == 1
    fragment = staff_client.post(url, {"autopay": "on"}, headers=HTMX)
    assert fragment.status_code == 200
    assert "Autopay is on for Ada." in text(fragment) and "<html" not in text(fragment)
    payer.refresh_from_db()
    assert payer.autopay is True


def test_a_practitioner_may_not_switch_autopay(therapist_client, transfer_world):
    payer = transfer_world["subscription"].relationship.payer
    response = therapist_client.post(
        reverse("billing:client-autopay", args=[payer.pk]), {"autopay": "off"}
    )
    assert response.status_code == 403
    payer.refresh_from_db()
    assert payer.autopay is True


def test_the_invoice_shows_its_history_and_needs_follow_up(staff_client):
    invoice = open_invoice()
    follow_up(invoice)
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    page = text(staff_client.get(url))
    assert "Needs follow-up" in page and "the card was declined 3 times" in page
    fragment = staff_client.get(url, headers=HTMX)
    assert "Needs follow-up" in text(fragment) and "<html" not in text(fragment)


@pytest.mark.parametrize("rows", [3, 60])
def test_the_follow_up_filter_lists_only_those_in_fixed_queries(
    staff_client, rows, django_assert_max_num_queries
):
    chased = []
    for i in range(rows):
        invoice = open_invoice(amount=str(10 + i))
        if i % 3 == 0:
            follow_up(invoice)
            chased.append(invoice.pk)
    url = reverse("billing:invoice-list")
    staff_client.get(url)
    with django_assert_max_num_queries(5):
        response = staff_client.get(url, {"follow_up": "on"})
    listed = [invoice.pk for invoice in response.context["page"].object_list]
    assert sorted(listed) == sorted(chased)
    assert "Needs follow-up" in text(response)
    fragment = staff_client.get(url, {"follow_up": "on"}, headers=HTMX)
    assert fragment.status_code == 200

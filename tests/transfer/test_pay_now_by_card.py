"""'Enroll and Pay Now' by the card on file, through the wizard's final POST: the
transfer commits, then the card is charged; a decline leaves the client enrolled
and says so plainly, on the invoice's page, where the ways on are."""

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, PaymentAttempt
from clients.models import ClientEvent
from frontdesk import transfers
from frontdesk.models import Transfer
from opus.lib.money import format_money
from tests.support.billing import save_card

pytestmark = pytest.mark.django_db(transaction=True)  # the card is charged after the commit

HTMX = {"HX-Request": "true"}
PAY_NOW = {"how": "pay_now", "method": "card"}


def draft_to(world, staff):
    """Ava's move from Monday to Wednesday piano, up to the payment step."""
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    transfers.choose_target(draft=draft, session=world["wednesday"], actor=staff)
    transfers.choose_dates(
        draft=draft, first_date=world["next_wednesday"], end_date=world["next_monday"], actor=staff
    )
    return draft


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_declined_card_enrolls_and_sends_staff_to_the_open_invoice(
    staff_client, staff, world, headers
):
    save_card(world["relationship"].payer, number="4000000000000341")
    draft = draft_to(world, staff)
    response = staff_client.post(
        reverse("scheduling:transfer-finish", args=[draft.public_id]), PAY_NOW, headers=headers
    )
    invoice = Invoice.objects.get()
    url = reverse("billing:invoice-detail", args=[invoice.pk])
    if headers:
        assert response["HX-Redirect"] == url
    else:
        assert response.status_code == 302 and response["Location"] == url
    assert Transfer.objects.get().invoice == invoice and invoice.status == "open"
    assert PaymentAttempt.objects.get().status == "declined"

    page = staff_client.get(url).content.decode()
    client = world["subscription"].client
    assert (
        f"Enrolled: {client.full_name} moved to {world['wednesday']} from "
        f"{world['next_wednesday']:%-d %b %Y}. The card ending 0341 was declined "
        f"(card declined): {invoice.display_number} is open for "
        f"{format_money(invoice.total, invoice.currency)}, due today. Record a payment by "
        "hand, charge the card again, or send the invoice."
    ) in page
    for way in ("Record a payment", "Charge the card on file", "Send the invoice"):
        assert way in page
    assert invoice.due_on == timezone.localdate()
    assert ClientEvent.objects.filter(
        client=world["relationship"].payer, summary__contains="declined (card declined)"
    ).exists()


def test_finishing_twice_after_a_decline_charges_once_and_lands_on_the_invoice(
    staff_client, staff, world
):
    save_card(world["relationship"].payer, number="4000000000000341")
    draft = draft_to(world, staff)
    url = reverse("scheduling:transfer-finish", args=[draft.public_id])
    first = staff_client.post(url, PAY_NOW)
    again = staff_client.post(url, PAY_NOW)
    assert first["Location"] == again["Location"]
    assert PaymentAttempt.objects.count() == 1 and Transfer.objects.count() == 1


def test_a_card_that_pays_sends_staff_to_the_profile(staff_client, staff, world):
    save_card(world["relationship"].payer)
    draft = draft_to(world, staff)
    response = staff_client.post(
        reverse("scheduling:transfer-finish", args=[draft.public_id]), PAY_NOW
    )
    assert response["Location"] == reverse("clients:detail", args=[world["subscription"].client_id])
    assert Invoice.objects.get().status == "paid"

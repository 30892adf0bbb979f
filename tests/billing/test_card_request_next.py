"""issue 9 item 9c: where the card panel sends the user back to (``next``) is a path
on this site, or the client's cards page; never a URL name to look up, another site,
or a 500 after the email was sent."""

import pytest
from django.urls import reverse

from billing.models import PaymentCardRequest
from opus.models import OutboundEmail
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

NOT_A_PATH = [
    "0",
    "abc",
    "billing:invoice-list",  # a URL name: not where the user came from
    "home",
    "./x",
    "x/y",
    "//evil.example/x",
    "//[::1/x",  # not even a URL: urlsplit raises
    "http://[::1",
    "/\\evil.example/x",
    "https://evil.example/x",
    "http://testserver/clients/",  # this host, but not a path
    "javascript:alert(1)",
    " /clients/",
]


@pytest.mark.parametrize("next_", NOT_A_PATH)
def test_a_next_that_is_not_a_path_goes_to_the_cards_page(staff_client, next_):
    client = ClientFactory()
    cards = reverse("billing:client-cards", args=[client.pk])
    response = staff_client.post(
        reverse("billing:card-request-create", args=[client.pk]), {"reason": "x", "next": next_}
    )
    assert (response.status_code, response["Location"]) == (302, cards)
    card_request = PaymentCardRequest.objects.get()
    resent = staff_client.post(
        reverse("billing:card-request-resend", args=[card_request.pk]), {"next": next_}
    )
    assert (resent.status_code, resent["Location"]) == (302, cards)
    assert OutboundEmail.objects.filter(template="card_request").count() == 1  # queued once


def test_a_path_on_this_site_is_where_the_user_goes_back(staff_client):
    client = ClientFactory()
    back = f"{reverse('clients:detail', args=[client.pk])}?tab=cards"
    response = staff_client.post(
        reverse("billing:card-request-create", args=[client.pk]), {"reason": "x", "next": back}
    )
    assert (response.status_code, response["Location"]) == (302, back)


def test_the_panel_never_echoes_a_next_that_is_not_a_path(staff_client):
    client = ClientFactory()
    response = staff_client.post(
        reverse("billing:card-request-create", args=[client.pk]),
        {"reason": "", "next": "abc"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b'name="next"' not in response.content

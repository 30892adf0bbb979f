"""The card link's limit on guessed tokens, behind a shared address: it refuses
unknown tokens from an address that guessed too many, never a live link."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client as HttpClient
from django.utils import timezone

from billing.models import PaymentMethod
from tests.factories import ClientFactory
from tests.support.billing import card_post, link, make_card_request

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"


def guess(client, count, **headers):
    return [
        client.get(link(f"{i:02d}" + "G" * 41), headers=headers).status_code for i in range(count)
    ]


@pytest.fixture
def live():
    return make_card_request(ClientFactory(first_name="Ada"))[1]


def test_twelve_guessed_tokens_then_a_live_link_opens_from_the_same_address(live):
    """docs/quality.md Security 15."""
    office = HttpClient(REMOTE_ADDR="192.0.2.10")
    assert guess(office, 12) == [404] * 10 + [429] * 2
    client = HttpClient(REMOTE_ADDR="192.0.2.10")
    page = client.get(link(live))
    assert page.status_code == 200
    assert "<h1>Add a payment card</h1>" in page.content.decode()
    done = client.post(link(live), card_post())
    assert done.status_code == 200
    assert "<h1>Thank you, Ada</h1>" in done.content.decode()
    assert PaymentMethod.objects.count() == 1


def test_the_address_that_guessed_stays_refused_for_unknown_tokens_until_the_window_ends(live):
    office = HttpClient(REMOTE_ADDR="192.0.2.10")
    guess(office, 10)
    assert office.get(link("Q" * 43)).status_code == 429
    assert office.get(link(live)).status_code == 200  # a live link is not counted either
    assert office.get(link("Q" * 43)).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert office.get(link("Q" * 43)).status_code == 404


def test_behind_the_proxy_each_client_is_counted_on_its_own(live, settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    stranger = HttpClient(REMOTE_ADDR=PROXY)
    assert guess(stranger, 11, x_forwarded_for="198.51.100.66")[-1] == 429
    neighbour, via_proxy = HttpClient(REMOTE_ADDR=PROXY), {"x-forwarded-for": "203.0.113.5"}
    assert neighbour.get(link("N" * 43), headers=via_proxy).status_code == 404
    assert neighbour.get(link(live), headers=via_proxy).status_code == 200


def test_behind_the_proxy_a_client_cannot_escape_the_count_by_forging_the_header(live, settings):
    """The client writes its own X-Forwarded-For; the proxy appends the address it
    saw, and only that one counts."""
    settings.OPUS_TRUSTED_PROXIES = [PROXY]
    stranger = HttpClient(REMOTE_ADDR=PROXY)
    codes = [
        stranger.get(
            link(f"{i:02d}" + "F" * 41),
            headers={"x-forwarded-for": f"192.0.2.{i}, 198.51.100.66"},
        ).status_code
        for i in range(12)
    ]
    assert codes == [404] * 10 + [429] * 2


def test_without_a_trusted_proxy_a_forged_header_is_ignored(live, settings):
    settings.OPUS_TRUSTED_PROXIES = []
    stranger = HttpClient(REMOTE_ADDR="198.51.100.66")
    codes = [
        stranger.get(
            link(f"{i:02d}" + "S" * 41), headers={"x-forwarded-for": f"192.0.2.{i}"}
        ).status_code
        for i in range(12)
    ]
    assert codes == [404] * 10 + [429] * 2

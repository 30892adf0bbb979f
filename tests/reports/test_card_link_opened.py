"""The card links report's "opened": the first GET of a live link's page stamps
it, once, and the link stays exactly as usable (a GET never consumes it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from billing.models import PaymentMethod
from tests.factories import ClientFactory
from tests.support.billing import card_post, link, make_card_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def test_the_first_get_stamps_opened_and_the_link_still_works(client):
    card_request, token = make_card_request(ClientFactory(), reason="Lessons")
    assert card_request.opened_at is None
    first = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(first, tick=False):
        assert client.get(link(token)).status_code == 200
    with time_machine.travel(first + timedelta(hours=1), tick=False):
        assert client.get(link(token)).status_code == 200
        assert client.head(link(token)).status_code == 200
    card_request.refresh_from_db()
    assert card_request.opened_at == first  # the first view, not the later ones
    assert card_request.used_at is None and not PaymentMethod.objects.exists()
    response = client.post(link(token), card_post())
    assert response.status_code == 200 and PaymentMethod.objects.count() == 1


def test_a_gone_or_unknown_link_stamps_nothing(client):
    card_request, token = make_card_request(ClientFactory(), reason="Lessons")
    with time_machine.travel(card_request.expires_at + timedelta(minutes=1)):
        assert client.get(link(token)).status_code == 410
    card_request.refresh_from_db()
    assert card_request.opened_at is None
    assert client.get(link("x" * 43)).status_code == 404

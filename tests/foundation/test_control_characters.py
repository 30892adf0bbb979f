"""issue 9 item 9a: a NUL (or another invisible control character) typed into a URL
or a form never reaches the database, which refuses NUL in text: every query
parameter and form value arrives without them, whichever view reads it."""

import pytest
from django.urls import reverse

from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ava(therapist):
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    SubscriptionFactory(
        relationship=RelationshipFactory(payer=ava), session__practitioner=therapist
    )
    return ava


@pytest.mark.parametrize("q", ["%00", "Ava%00", "Av%00a", "%01Ava%1f"])
def test_a_search_with_a_control_character_is_searched_without_it(therapist_client, ava, q):
    for headers in ({}, {"HX-Request": "true"}):
        response = therapist_client.get(f"{reverse('clients:list')}?q={q}", headers=headers)
        assert response.status_code == 200, headers
        assert b"Ava" in response.content


def test_tab_and_newlines_are_kept(rf):
    from opus.lib.middleware import ControlCharactersMiddleware

    seen = {}

    def view(request):
        seen.update(get=request.GET.dict(), post=request.POST.dict())
        return None

    request = rf.post(
        "/?q=a%09b%00c&%00k=v",
        {"note": "line one\r\nline\ttwo\x00\x07\x1b\x7f", "x\x00": "y"},
    )
    ControlCharactersMiddleware(view)(request)
    assert seen["get"] == {"q": "a\tbc", "k": "v"}
    assert seen["post"] == {"note": "line one\r\nline\ttwo\x7f", "x": "y"}

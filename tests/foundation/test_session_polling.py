"""A page that polls (the relationship page waiting for a card) must not keep an
idle session alive: a poll is not activity, so 30 minutes after the user's last
real request the session ends and the next poll opens the login page."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from frontdesk import relationship_flows as services
from frontdesk import selectors
from tests.factories import ClientFactory, RelationshipFactory
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def waiting_for_a_card(therapist):
    """A first-party relationship born of a migration; the attendee has no card yet."""
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"),
        attendee=ClientFactory(first_name="Sam", date_of_birth=datetime(1996, 9, 14).date()),
        practitioner=therapist,
    )
    migration = services.start_migration(
        relationship=old, actor=therapist, requested_by="attendee", request_note="phoned"
    )
    new = services.confirm_migration(migration=migration, actor=therapist).new_relationship
    assert selectors.booking_block(new)
    return new


def poll(client, relationship):
    detail = reverse("relationships:detail", args=[relationship.pk])
    return client.get(
        reverse("relationships:booking-panel", args=[relationship.pk]),
        headers={
            "HX-Request": "true",
            "HX-Trigger": "booking-panel",
            "HX-Current-URL": f"http://testserver{detail}",
        },
    )


def test_the_page_polls_while_waiting_for_the_card(therapist, waiting_for_a_card):
    with time_machine.travel(START, tick=False):
        client = logged_in(therapist)
        page = client.get(reverse("relationships:detail", args=[waiting_for_a_card.pk]))
    assert 'hx-trigger="every 5s"' in page.content.decode()
    assert "has not added a payment card yet" in page.content.decode()


def test_polling_does_not_keep_an_idle_session_alive(therapist, waiting_for_a_card):
    detail = reverse("relationships:detail", args=[waiting_for_a_card.pk])
    with time_machine.travel(START, tick=False) as clock:
        client = logged_in(therapist)
        assert client.get(detail).status_code == 200  # the last real request
        for minutes in (1, 5, 20, 29):
            clock.move_to(START + timedelta(minutes=minutes))
            response = poll(client, waiting_for_a_card)
            assert response.status_code == 200
            assert b"has not added a payment card yet" in response.content
        clock.move_to(START + timedelta(minutes=30, seconds=1))
        ended = poll(client, waiting_for_a_card)
        assert ended.status_code == 200 and ended.content == b""
        assert ended["HX-Redirect"] == f"/login/?next={detail.replace('/', '%2F')}"
        assert "_auth_user_id" not in client.session
        assert client.get(detail).status_code == 302  # logged out for every page


def test_a_real_request_still_keeps_the_session_alive(therapist, waiting_for_a_card):
    detail = reverse("relationships:detail", args=[waiting_for_a_card.pk])
    with time_machine.travel(START, tick=False) as clock:
        client = logged_in(therapist)
        client.get(detail)
        clock.move_to(START + timedelta(minutes=20))
        assert client.get(detail).status_code == 200
        clock.move_to(START + timedelta(minutes=45))
        response = poll(client, waiting_for_a_card)
        assert response.status_code == 200 and b"payment card" in response.content

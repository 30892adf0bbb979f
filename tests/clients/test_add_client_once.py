"""A double submit of "Add client" does one thing: the form carries a key, and the
same key again (a double click, the back button and submit) finds the client the
first submit created, even with no email or date of birth to catch it as a
duplicate. A submit that loses the race to insert the key returns the winner's client."""

import uuid

import pytest

from clients.models import Client
from relationships import services
from relationships.models import Relationship
from relationships.services import WhoPays, add_client

pytestmark = pytest.mark.django_db

NAMELESS_DETAILS = {"first_name": "Ava", "last_name": "Adams"}  # nothing else to match on


def test_the_same_key_twice_creates_one_client(staff):
    key = uuid.uuid4()
    first = add_client(details=NAMELESS_DETAILS, who=WhoPays(), actor=staff, request_key=key)
    again = add_client(details=NAMELESS_DETAILS, who=WhoPays(), actor=staff, request_key=key)
    assert again == first
    assert Client.objects.count() == 1
    assert Relationship.objects.count() == 1


def test_two_keys_are_two_clients_when_the_user_means_it(staff):
    add_client(details=NAMELESS_DETAILS, who=WhoPays(), actor=staff, request_key=uuid.uuid4())
    add_client(
        details=NAMELESS_DETAILS,
        who=WhoPays(),
        actor=staff,
        request_key=uuid.uuid4(),
        allow_duplicates=True,
    )
    assert Client.objects.count() == 2


def test_the_form_posted_twice_creates_one_client_and_both_land_on_it(staff_client):
    page = staff_client.get("/clients/add/")
    key = page.context["request_key"]
    assert f'name="request_key" value="{key}"' in page.content.decode()
    posted = {"first_name": "Ava", "last_name": "Adams", "pays": "self", "request_key": str(key)}
    first = staff_client.post("/clients/add/", posted)
    second = staff_client.post("/clients/add/", posted)
    client = Client.objects.get()
    assert first.status_code == second.status_code == 302
    assert first.url == second.url == f"/clients/{client.pk}/"


def test_a_bad_key_is_ignored_not_a_500(staff_client):
    posted = {"first_name": "Ava", "last_name": "Adams", "pays": "self", "request_key": "x"}
    assert staff_client.post("/clients/add/", posted).status_code == 302
    assert Client.objects.count() == 1


def test_the_submit_that_loses_the_race_returns_the_winners_client(staff, monkeypatch):
    key = uuid.uuid4()
    winner = add_client(details=NAMELESS_DETAILS, who=WhoPays(), actor=staff, request_key=key)
    looked = []
    real = services._added_with

    def not_yet_committed_at_first(request_key):
        looked.append(request_key)
        return None if len(looked) == 1 else real(request_key)

    monkeypatch.setattr(services, "_added_with", not_yet_committed_at_first)
    loser = add_client(details=NAMELESS_DETAILS, who=WhoPays(), actor=staff, request_key=key)
    assert loser == winner and looked == [key, key]  # the unique key refused the insert
    assert Client.objects.count() == 1

"""issue 9 items 9b and 9e: the migration details form never answers 500, whatever
is typed into it, and however often "Confirm Migration" is pressed at once."""

import threading

import pytest
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from frontdesk import relationship_flows as services
from opus.models import User
from relationships.models import Relationship, RelationshipMigration
from tests.factories import ClientFactory, PaymentMethodFactory, RelationshipFactory, UserFactory


def third_party(therapist, **attendee):
    """Oliver pays for Sam, who has a card but lacks a phone number and an address."""
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="", address="", **attendee)
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver"), attendee=sam, practitioner=therapist
    )
    PaymentMethodFactory(client=sam)
    services.start_migration(
        relationship=relationship, actor=therapist, requested_by="attendee", request_note="phoned"
    )
    return relationship


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["save", "confirm"])
def test_a_nul_byte_in_the_details_is_kept_without_it(therapist, staff_client, action):
    """Staff, who may enter the address (a practitioner adds only email and phone)."""
    relationship = third_party(therapist)
    url = reverse("relationships:migrate-details", args=[relationship.pk])
    response = staff_client.post(
        url, {"phone": "07700\x00 900456", "address": "1 High St\x00", "action": action}
    )
    assert response.status_code == 302
    if action == "save":
        migration = RelationshipMigration.objects.get()
        assert migration.details == {"phone": "07700 900456", "address": "1 High St"}
    else:
        relationship.attendee.refresh_from_db()
        assert relationship.attendee.phone == "07700 900456"


@pytest.mark.django_db
def test_the_draft_keeps_what_the_database_can_hold(therapist, staff):
    """The service keeps what was typed, valid or not; a NUL it is given (by any
    caller) is dropped, and an endless value is cut to what a form could accept."""
    relationship = third_party(therapist)
    migration = RelationshipMigration.objects.get()
    services.save_migration_details(
        migration=migration,
        actor=staff,
        details={"phone": "0770\x00", "address": "x" * 100_000, "email": "not asked"},
    )
    migration.refresh_from_db()
    assert migration.details["phone"] == "0770"
    assert 500 <= len(migration.details["address"]) < 100_000
    assert "email" not in migration.details
    assert relationship.status == "active"


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_confirm_migration_posts_lands_on_the_new_relationship_never_500():
    """Item 9e through the real view: 20 browsers post "Confirm Migration" (with the
    details) ten times each, all at once. Every post lands on the new relationship's
    page, and there is one new relationship."""
    therapist = UserFactory()
    front_desk = UserFactory(role=User.Role.STAFF)  # may enter the address too
    relationship = third_party(therapist)
    url = reverse("relationships:migrate-details", args=[relationship.pk])
    data = {"phone": "07700 900456", "address": "1 High St", "action": "confirm"}
    barrier = threading.Barrier(20)
    statuses, errors = [], []

    def ten_posts():
        browser = Browser(raise_request_exception=True)
        browser.force_login(front_desk)
        try:
            barrier.wait()
            for _ in range(10):
                response = browser.post(url, data)
                statuses.append((response.status_code, response.get("Location")))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ten_posts) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    new = Relationship.objects.get(kind="first_party", attendee=relationship.attendee)
    assert set(statuses) == {(302, reverse("relationships:detail", args=[new.pk]))}
    assert len(statuses) == 200

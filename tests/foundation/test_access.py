"""Who may see what: login everywhere, scoping in one place, 404 for the rest."""

import uuid

import pytest
from django.urls import reverse

from clients.models import Client
from relationships.models import Relationship
from scheduling.models import Session, SessionDate, Subscription
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory
from tests.support.access import PUBLIC_ROUTES, app_routes

pytestmark = pytest.mark.django_db


def sample_value(converter):
    """A value each path converter accepts: an id, a UUID, a step name, a token."""
    from django.urls.converters import IntConverter, UUIDConverter

    if isinstance(converter, IntConverter):
        return 1
    if isinstance(converter, UUIDConverter):
        return uuid.uuid4()
    return "x"


def test_every_route_outside_the_allowlist_sends_anonymous_users_to_login(client):
    checked = 0
    for name, converters in app_routes():
        if name in PUBLIC_ROUTES:
            continue
        kwargs = {key: sample_value(converter) for key, converter in converters.items()}
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name
        checked += 1
    assert checked >= 8


def test_a_practitioner_sees_only_the_clients_of_their_sessions(therapist, c2_world):
    mine = SubscriptionFactory(session__practitioner=therapist)
    visible = set(Client.objects.visible_to(therapist))
    assert mine.client in visible
    assert c2_world["client"] not in visible


def test_a_practitioner_sees_payers_of_relationships_booked_in_their_sessions(therapist):
    relationship = RelationshipFactory(payer=ClientFactory(), attendee=ClientFactory())
    SubscriptionFactory(relationship=relationship, session__practitioner=therapist)
    visible = set(Client.objects.visible_to(therapist))
    assert {relationship.payer, relationship.attendee} <= visible


def test_a_relationship_naming_a_practitioner_is_visible_to_them(therapist, other_therapist):
    named = RelationshipFactory(practitioner=therapist)
    assert list(Relationship.objects.visible_to(therapist)) == [named]
    assert list(Relationship.objects.visible_to(other_therapist)) == []


def test_staff_see_everything(staff, c2_world):
    assert c2_world["client"] in Client.objects.visible_to(staff)
    assert Session.objects.visible_to(staff).count() == 1
    assert Subscription.objects.visible_to(staff).count() == 1


def test_scoping_of_sessions_dates_and_subscriptions(therapist, c2_world):
    assert not Session.objects.visible_to(therapist).exists()
    assert not SessionDate.objects.visible_to(therapist).exists()
    assert not Subscription.objects.visible_to(therapist).exists()


def test_reassigning_a_session_takes_effect_on_the_next_request(
    therapist, therapist_client, c2_world
):
    page = therapist_client.get(reverse("clients:list"))
    assert b"Sentinelsson" not in page.content
    Session.objects.filter(pk=c2_world["session"].pk).update(practitioner=therapist)
    page = therapist_client.get(reverse("clients:list"))
    assert b"Sentinelsson" in page.content


def test_a_deactivated_user_is_logged_out_on_the_next_request(therapist, therapist_client):
    assert therapist_client.get(reverse("clients:list")).status_code == 200
    therapist.is_active = False
    therapist.save()
    response = therapist_client.get(reverse("clients:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_sentinel_client_never_appears_in_another_practitioners_lists(
    other_client, c2_world, therapist_client
):
    assert b"Sentinelsson" in other_client.get(reverse("clients:list")).content
    for name in (
        "clients:list",
        "relationships:list",
        "billing:invoice-list",
        "scheduling:schedule",
    ):
        assert b"Sentinelsson" not in therapist_client.get(reverse(name)).content, name


def test_the_dev_mailbox_is_for_staff_only(staff_client, therapist_client):
    assert staff_client.get(reverse("dev-mailbox")).status_code == 200
    assert therapist_client.get(reverse("dev-mailbox")).status_code == 404


def test_the_closure_pages_are_for_staff_only(staff_client, therapist_client):
    for name in ("scheduling:closures", "scheduling:closure-new"):
        assert staff_client.get(reverse(name)).status_code == 200, name
        assert therapist_client.get(reverse(name)).status_code == 403, name
    for name in ("scheduling:closure-new", "scheduling:closure-confirm"):
        assert therapist_client.post(reverse(name), {"reason": "x"}).status_code == 403, name

"""The pages of issue 11's Clients and Relationships: "Add client" (who pays, the
organiser picker, duplicates while typing and on submit), archive and restore,
delete, "New relationship"; both renderings, permissions and query counts."""

import pytest
from django.urls import reverse

from clients.models import Client
from relationships.models import Relationship
from tests.factories import ClientFactory, InvoiceFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
ADD = "/clients/add/"

CHILD = {
    "first_name": "Lily",
    "last_name": "Adams",
    "date_of_birth": "2016-05-04",
    "pays": "other",
    "organiser_first_name": "Helen",
    "organiser_last_name": "Adams",
    "organiser_email": "helen@example.com",
}


def text(response) -> str:
    return response.content.decode()


def test_the_list_offers_add_client_to_staff_only(staff_client, therapist_client):
    assert ADD in text(staff_client.get(reverse("clients:list")))
    assert ADD not in text(therapist_client.get(reverse("clients:list")))
    assert therapist_client.get(ADD).status_code == 403
    assert therapist_client.post(ADD, {**CHILD}).status_code == 403
    assert not Client.objects.exists()


def test_the_add_page_shows_the_labels_and_works_without_js(staff_client):
    page = text(staff_client.get(ADD))
    for label in (
        "First name",
        "Email address",
        "Phone number",
        "Date of birth",
        "Postal address",
        "Notes for staff",
        "The client pays for themselves",
        "Someone else pays",
        "Practitioner",
    ):
        assert label in page, label
    assert 'action="/clients/add/"' in page and 'hx-get="/clients/duplicates/"' in page


def test_adding_a_child_whose_new_parent_pays(staff_client):
    response = staff_client.post(ADD, CHILD)
    assert response.status_code == 302
    relationship = Relationship.objects.get()
    assert relationship.kind == "third_party"
    assert (relationship.attendee.first_name, relationship.payer.first_name) == ("Lily", "Helen")
    assert response["Location"] == reverse("clients:detail", args=[relationship.attendee_id])


def test_a_bad_field_is_shown_by_the_field_with_what_was_typed(staff_client):
    page = text(staff_client.post(ADD, {**CHILD, "phone": "call me", "pays": "self"}))
    assert "Enter a phone number of 7 to 15 digits" in page
    assert 'value="call me"' in page and 'value="Lily"' in page
    assert not Client.objects.exists()


def test_someone_else_pays_needs_an_organiser(staff_client):
    data = {"first_name": "Lily", "last_name": "Adams", "pays": "other"}
    page = text(staff_client.post(ADD, data))
    assert "choose the organiser among the matches" in page
    assert not Client.objects.exists()


def test_duplicates_are_shown_and_create_anyway_creates(staff_client):
    ClientFactory(first_name="Lily", last_name="Adams", email="lily@example.com")
    data = {"first_name": "Lil", "last_name": "A", "email": "LILY@example.com", "pays": "self"}
    page = text(staff_client.post(ADD, data))
    assert "Possible duplicate" in page and "Create anyway" in page
    assert Client.objects.count() == 1
    assert staff_client.post(ADD, {**data, "confirm": "1"}).status_code == 302
    assert Client.objects.count() == 2


def test_the_duplicates_fragment_while_typing(staff_client, therapist_client):
    dup = ClientFactory(first_name="Lily", last_name="Adams", email="lily@example.com")
    url = reverse("clients:duplicates")
    fragment = text(staff_client.get(url, {"email": "Lily@Example.com"}, headers=HX))
    assert reverse("clients:detail", args=[dup.pk]) in fragment
    assert "Create anyway" not in fragment  # only a submission offers it
    nothing = text(staff_client.get(url, {"first_name": "Lily", "last_name": "Adams"}, headers=HX))
    assert "Possible duplicate" not in nothing
    assert therapist_client.get(url, {"email": "lily@example.com"}).status_code == 403


def test_the_organiser_picker_finds_active_clients_only(staff_client, staff):
    helen = ClientFactory(first_name="Helen", last_name="Pickme")
    gone = ClientFactory(first_name="Gone", last_name="Pickme", archived_at="2026-01-01T00:00Z")
    fragment = text(
        staff_client.get(reverse("clients:pick"), {"organiser_q": "pickme"}, headers=HX)
    )
    assert f'value="{helen.pk}"' in fragment and f'value="{gone.pk}"' not in fragment
    # without JS, "Find" shows the same matches in the page, and picking one works
    page = text(staff_client.post(ADD, {**CHILD, "organiser_q": "pickme", "action": "find"}))
    assert f'value="{helen.pk}"' in page
    data = {"first_name": "Lily", "last_name": "Adams", "pays": "other", "organiser": helen.pk}
    assert staff_client.post(ADD, data).status_code == 302
    assert Relationship.objects.get().payer == helen


def test_an_archived_client_leaves_the_list_and_comes_back(staff_client):
    client = ClientFactory(last_name="Zephyrine")
    profile = reverse("clients:detail", args=[client.pk])
    assert "Zephyrine" in text(staff_client.get(reverse("clients:list")))
    assert staff_client.get(reverse("clients:archive", args=[client.pk])).status_code == 405
    response = staff_client.post(reverse("clients:archive", args=[client.pk]))
    assert response.status_code == 302 and response["Location"] == profile
    message = text(staff_client.get(profile))  # the message, on the profile, offers Undo
    restore = reverse("clients:restore", args=[client.pk])
    assert (
        "is archived" in message and f'action="{restore}" class="inline-form undo-form"' in message
    )
    assert "Zephyrine" not in text(staff_client.get(reverse("clients:list")))
    assert "Zephyrine" not in text(staff_client.get(reverse("clients:list"), {"q": "Zeph"}))
    page = text(staff_client.get(profile))
    assert "Archived" in page and "Restore" in page
    htmx = staff_client.post(reverse("clients:restore", args=[client.pk]), headers=HX)
    assert htmx["HX-Redirect"] == profile
    staff_client.get(profile)
    assert "Zephyrine" in text(staff_client.get(reverse("clients:list")))


def test_a_practitioner_may_not_archive_their_client(therapist_client, therapist):
    relationship = RelationshipFactory(practitioner=therapist)
    url = reverse("clients:archive", args=[relationship.attendee_id])
    assert therapist_client.post(url).status_code == 403
    assert Client.objects.get(pk=relationship.attendee_id).archived_at is None


def test_delete_is_refused_with_a_pointer_to_archive(staff_client):
    relationship = RelationshipFactory()
    InvoiceFactory(payer=relationship.payer)
    url = reverse("clients:delete", args=[relationship.payer_id])
    assert "Archive them instead" in text(staff_client.get(url))
    assert "Archive them instead" in text(staff_client.post(url))
    assert Client.objects.filter(pk=relationship.payer_id).exists()


def test_a_client_added_by_mistake_is_deleted(staff_client):
    staff_client.post(ADD, {"first_name": "Oops", "last_name": "Typo", "pays": "self"})
    client = Client.objects.get()
    url = reverse("clients:delete", args=[client.pk])
    assert "Delete for good" in text(staff_client.get(url))
    assert staff_client.post(url)["Location"] == reverse("clients:list")
    assert not Client.objects.exists()


def test_new_relationship_says_when_one_exists_already(staff_client, staff):
    existing = RelationshipFactory(
        payer=ClientFactory(first_name="Helen"), attendee=ClientFactory(first_name="Lily")
    )
    url = reverse("clients:relationship-new", args=[existing.attendee_id])
    page = text(staff_client.get(url))
    assert "Someone else pays" in page
    data = {"pays": "other", "organiser": existing.payer_id}
    refused = text(staff_client.post(url, data))
    assert "already has an active relationship with" in refused
    assert Relationship.objects.count() == 1
    made = staff_client.post(url, {"pays": "self"})
    assert made.status_code == 302 and Relationship.objects.count() == 2


def test_the_profile_offers_new_relationship_archive_and_delete_to_staff(
    staff_client, therapist_client, therapist
):
    relationship = RelationshipFactory(practitioner=therapist)
    profile = reverse("clients:detail", args=[relationship.attendee_id])
    page = text(staff_client.get(profile))
    for label in ("New relationship", "Archive", "Delete…", "Notes for staff"):
        assert label in page, label
    theirs = text(therapist_client.get(profile))
    for label in ("New relationship", ">Archive<", "Delete…", "Notes for staff"):
        assert label not in theirs, label


# --- query counts: constant in the practice's size -------------------------------------------
def _count(django_assert_max_num_queries, client, url, data=None, limit=12):
    with django_assert_max_num_queries(limit) as captured:
        client.get(url, data or {})
    return len(captured)


def test_the_clients_list_excludes_the_archived_in_the_same_queries(
    staff_client, django_assert_max_num_queries
):
    staff_client.get(reverse("clients:list"))  # the session and user, once
    counts = []
    for size in (3, 30):
        for n in range(size):
            ClientFactory(last_name=f"Active{n}")
            ClientFactory(last_name=f"Archived{n}", archived_at="2026-01-01T00:00Z")
        with django_assert_max_num_queries(6) as captured:
            body = text(staff_client.get(reverse("clients:list")))
        counts.append(len(captured))
        assert "Archived0" not in body and "Active0" in body
        assert "archived_at" in captured.captured_queries[-1]["sql"]
    assert counts[0] == counts[1]


def test_the_new_pages_run_the_same_queries_whatever_the_size(
    staff_client, django_assert_max_num_queries
):
    staff_client.get(ADD)  # the session and user, once
    counts = []
    for _ in range(2):
        for _ in range(20):
            RelationshipFactory(payer=ClientFactory(last_name="Pickme"))
        client = ClientFactory()
        counts.append(
            [
                _count(django_assert_max_num_queries, staff_client, ADD),
                _count(
                    django_assert_max_num_queries,
                    staff_client,
                    reverse("clients:pick"),
                    {"organiser_q": "pickme"},
                ),
                _count(
                    django_assert_max_num_queries,
                    staff_client,
                    reverse("clients:duplicates"),
                    {"email": "x@example.com", "first_name": "A", "last_name": "B"},
                ),
                _count(
                    django_assert_max_num_queries,
                    staff_client,
                    reverse("clients:relationship-new", args=[client.pk]),
                    {"organiser_q": "pickme"},
                ),
                _count(
                    django_assert_max_num_queries,
                    staff_client,
                    reverse("clients:delete", args=[client.pk]),
                ),
            ]
        )
    assert counts[0] == counts[1]

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from relationships.models import Relationship, RelationshipMigration
from scheduling.models import Booking
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def friend(therapist):
    """Oliver pays for his friend Sam, who has a card but no phone number."""
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="")
    relationship = RelationshipFactory(payer=oliver, attendee=sam, practitioner=therapist)
    PaymentMethodFactory(client=sam)
    return relationship


def test_list_filters_and_search_by_either_name(therapist_client, friend):
    page = therapist_client.get(
        reverse("relationships:list"), {"q": "oliver", "kind": "third_party"}
    )
    assert b"Sam Rivera" in page.content
    fragment = therapist_client.get(
        reverse("relationships:list"), {"q": "nobody"}, headers={"HX-Request": "true"}
    )
    assert b"No relationship matches" in fragment.content
    assert b"<html" not in fragment.content


def test_list_ignores_bad_filters(therapist_client, friend):
    response = therapist_client.get(
        reverse("relationships:list"), {"practitioner": "abc", "kind": "zzz", "page": "-3"}
    )
    assert response.status_code == 200


def test_detail_shows_type_parties_card_and_the_migrate_button(therapist_client, friend):
    response = therapist_client.get(reverse("relationships:detail", args=[friend.pk]))
    text = response.content.decode()
    assert "Third party" in text and "Oliver Grant" in text and "Sam Rivera" in text
    assert "Visa ending 4242" in text
    assert "Migrate to first party relationship…" in text
    assert "Create Session" in text


def test_an_under_16_attendee_shows_why_and_when(therapist_client, therapist):
    child = ClientFactory(
        first_name="Lily", date_of_birth=timezone.localdate() - timedelta(days=365 * 12)
    )
    relationship = RelationshipFactory(
        payer=ClientFactory(), attendee=child, practitioner=therapist
    )
    text = therapist_client.get(
        reverse("relationships:detail", args=[relationship.pk])
    ).content.decode()
    assert "Lily is under 16 and turns 16 on" in text
    assert f"{child.birthday_on(16):%-d %B %Y}" in text
    start = therapist_client.get(reverse("relationships:migrate", args=[relationship.pk]))
    assert "turns 16 on" in start.content.decode()
    assert (
        therapist_client.post(
            reverse("relationships:migrate", args=[relationship.pk]),
            {"requested_by": "attendee", "request_note": "asked"},
        ).status_code
        == 200
    )
    assert not RelationshipMigration.objects.exists()


def test_the_whole_migration_by_its_pages(therapist_client, friend):
    start_url = reverse("relationships:migrate", args=[friend.pk])
    details_url = reverse("relationships:migrate-details", args=[friend.pk])
    assert therapist_client.get(details_url)["Location"] == start_url  # guard: step 1 first
    bad = therapist_client.post(start_url, {"requested_by": "", "request_note": "phoned"})
    assert "Say who asked" in bad.content.decode() and "phoned" in bad.content.decode()
    response = therapist_client.post(
        start_url, {"requested_by": "attendee", "request_note": "Sam phoned"}
    )
    assert response["Location"] == details_url
    page = therapist_client.get(details_url).content.decode()
    assert 'name="phone"' in page and 'name="email"' not in page  # only what is missing
    saved = therapist_client.post(details_url, {"phone": "0770", "action": "save"})
    assert saved.status_code == 302
    resumed = therapist_client.get(details_url).content.decode()
    assert 'value="0770"' in resumed and "Enter a phone number" in resumed
    confirm = therapist_client.post(details_url, {"phone": "07700 900456", "action": "confirm"})
    new = Relationship.objects.get(kind="first_party", attendee=friend.attendee)
    assert confirm["Location"] == reverse("relationships:detail", args=[new.pk])
    again = therapist_client.post(details_url, {"phone": "07700 900456", "action": "confirm"})
    assert again["Location"] == reverse("relationships:detail", args=[new.pk])
    assert Relationship.objects.filter(kind="first_party", attendee=friend.attendee).count() == 1
    ended = therapist_client.get(reverse("relationships:detail", args=[friend.pk])).content.decode()
    assert "Ended" in ended and "See the new relationship" in ended


def test_save_and_finish_later_by_htmx_reloads_the_relationship_page(therapist_client, friend):
    """The details form swaps the body: a plain redirect would be followed by htmx
    and could come back as a fragment. The page is asked for whole instead."""
    therapist_client.post(
        reverse("relationships:migrate", args=[friend.pk]),
        {"requested_by": "attendee", "request_note": "Sam phoned"},
    )
    details_url = reverse("relationships:migrate-details", args=[friend.pk])
    saved = therapist_client.post(
        details_url, {"phone": "0770", "action": "save"}, headers={"HX-Request": "true"}
    )
    page = reverse("relationships:detail", args=[friend.pk])
    assert saved["HX-Redirect"] == page
    # and an htmx GET of the page that is not the rebooking preview's is the page
    whole = therapist_client.get(page, headers={"HX-Request": "true", "HX-Target": "body"})
    assert "<html" in whole.content.decode() and "Saved." in whole.content.decode()


def test_confirm_by_htmx_redirects_the_whole_page(therapist_client, friend):
    friend.attendee.phone = "07700 900111"
    friend.attendee.save()
    therapist_client.post(
        reverse("relationships:migrate", args=[friend.pk]),
        {"requested_by": "organiser", "request_note": "Oliver emailed"},
    )
    response = therapist_client.post(
        reverse("relationships:migrate-details", args=[friend.pk]),
        {"action": "confirm"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/relationships/")


def test_create_session_books_a_coming_date_and_invoices_the_payer(
    therapist_client, therapist, friend
):
    session = SessionFactory(practitioner=therapist, capacity=1)
    session_date = SessionDateFactory(
        session=session,
        date=timezone.localdate() + timedelta(days=7 - timezone.localdate().weekday()),
    )
    url = reverse("relationships:create-session", args=[friend.pk])
    assert therapist_client.get(url).status_code == 200
    response = therapist_client.post(
        url, {"session": session.pk, "date": session_date.date.isoformat(), "repeat": "once"}
    )
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.relationship == friend and booking.client == friend.attendee
    invoice = booking.invoice_lines.get().invoice
    assert invoice.payer == friend.payer and invoice.status == "open"
    full = therapist_client.post(
        url, {"session": session.pk, "date": session_date.date.isoformat(), "repeat": "once"}
    )
    assert "already booked" in full.content.decode()


def test_create_session_refuses_a_wrong_weekday_and_keeps_the_input(
    therapist_client, therapist, friend
):
    session = SessionFactory(practitioner=therapist, weekday=0)
    tuesday = date(2030, 1, 1)
    response = therapist_client.post(
        reverse("relationships:create-session", args=[friend.pk]),
        {"session": session.pk, "date": tuesday.isoformat(), "repeat": "weekly"},
    )
    text = response.content.decode()
    assert "runs on Mondays" in text and 'value="2030-01-01"' in text


def test_rebook_needs_post(therapist_client, friend):
    assert (
        therapist_client.get(reverse("relationships:rebook", args=[friend.pk])).status_code == 405
    )


ROUTES = ["detail", "booking-panel", "migrate", "migrate-details", "create-session", "rebook"]


@pytest.mark.parametrize("name", ROUTES)
def test_another_practitioner_gets_404_and_nothing_changes(other_client, friend, name):
    url = reverse(f"relationships:{name}", args=[friend.pk])
    get_only, post_only = name in ("detail", "booking-panel"), name == "rebook"
    assert other_client.get(url).status_code == (405 if post_only else 404)
    posted = other_client.post(url, {"requested_by": "attendee", "request_note": "x"})
    assert posted.status_code == (405 if get_only else 404)
    friend.refresh_from_db()
    assert friend.status == "active"
    assert not RelationshipMigration.objects.exists()


@pytest.mark.parametrize("name", ROUTES)
def test_staff_may_reach_every_relationship_page(staff_client, friend, name):
    url = reverse(f"relationships:{name}", args=[friend.pk])
    response = staff_client.get(url)
    assert response.status_code in ((405,) if name == "rebook" else (200, 302))


def test_the_sentinel_never_appears_for_another_practitioner(therapist_client, c2_world):
    for params in ({}, {"q": "Zebedee"}, {"status": "active"}):
        assert (
            b"Sentinelsson"
            not in therapist_client.get(reverse("relationships:list"), params).content
        )


def test_list_query_count_does_not_grow(therapist_client, therapist, django_assert_max_num_queries):
    for _ in range(30):
        SubscriptionFactory(
            session__practitioner=therapist,
            relationship=RelationshipFactory(payer=ClientFactory(), attendee=ClientFactory()),
        )
    with django_assert_max_num_queries(8):
        therapist_client.get(reverse("relationships:list"))


def test_detail_query_count_does_not_grow_with_sessions(
    therapist_client, therapist, friend, django_assert_max_num_queries
):
    for _ in range(15):
        sub = SubscriptionFactory(relationship=friend, session__practitioner=therapist)
        Booking.objects.create(
            client=friend.attendee,
            relationship=friend,
            price=10,
            session_date=SessionDateFactory(session=sub.session),
        )
    with django_assert_max_num_queries(20):
        therapist_client.get(reverse("relationships:detail", args=[friend.pk]))

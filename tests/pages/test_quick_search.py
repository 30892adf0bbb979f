"""The quick search: clients, relationships and invoices by number, as one
types (fragment) or as a page; scoped to what the user may see (the shared
clients' walk checks T2's sentinels never reach T1 through it)."""

import pytest
from django.urls import reverse

from tests.factories import ClientFactory, InvoiceFactory, RelationshipFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def search(client, q, **kwargs) -> str:
    return " ".join(
        client.get(reverse("search"), {"q": q}, **kwargs).content.decode().split()
    ).replace(" >", ">")


@pytest.fixture
def people():
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    relationship = RelationshipFactory(payer=oliver, attendee=sam)
    invoice = InvoiceFactory(
        payer=oliver, status="open", number=123, issued_on="2026-12-01", due_on="2026-12-15"
    )
    return oliver, sam, relationship, invoice


def test_clients_relationships_and_invoices_as_one_types(staff_client, people):
    _oliver, sam, relationship, invoice = people
    fragment = search(staff_client, "rivera", headers=HX)
    assert "<html" not in fragment and "<h1" not in fragment
    assert f'<a href="/clients/{sam.pk}/">Sam Rivera</a>' in fragment
    link = f'<a href="/relationships/{relationship.pk}/">Sam Rivera</a>'
    assert f'{link} <span class="muted">paid by Oliver Grant' in fragment
    assert "Oliver Grant</a>" not in fragment
    for q in ("INV-000123", "inv000123", "#123", "123"):
        found = search(staff_client, q, headers=HX)
        assert f'<a href="/billing/invoices/{invoice.pk}/">INV-000123</a>' in found, q
    assert "Nothing matches “nobody”." in search(staff_client, "nobody", headers=HX)
    assert search(staff_client, "   ", headers=HX) == '<div class="search-results"> </div>'


def test_the_page_works_without_javascript(staff_client, people):
    body = search(staff_client, "Sam")
    assert "<h1>Search</h1>" in body and 'value="Sam"' in body and "Sam Rivera</a>" in body
    assert 'id="quick-q"' in body  # the header's box, on every page


def test_a_practitioner_finds_only_their_own(therapist_client, therapist, other_therapist):
    mine = SubscriptionFactory(
        session__practitioner=therapist,
        relationship=RelationshipFactory(
            payer=ClientFactory(first_name="Mina", last_name="Shared")
        ),
    )
    theirs = SubscriptionFactory(
        session__practitioner=other_therapist,
        relationship=RelationshipFactory(
            payer=ClientFactory(first_name="Theo", last_name="Shared")
        ),
    )
    InvoiceFactory(
        payer=theirs.client, status="open", number=77, issued_on="2026-12-01", due_on="2026-12-15"
    )
    found = search(therapist_client, "shared", headers=HX)
    assert "Mina Shared" in found and "Theo Shared" not in found
    assert mine.client.pk
    assert "INV-000077" not in search(therapist_client, "77", headers=HX)


@pytest.mark.parametrize("q", ["", "%", "_", "'; drop table", "9" * 40, "\x00", "é" * 200, "INV-"])
def test_no_input_breaks_it(staff_client, q):
    assert staff_client.get(reverse("search"), {"q": q}, headers=HX).status_code == 200
    assert staff_client.get(reverse("search"), {"q": q}).status_code == 200


def test_logged_out_goes_to_the_login(client):
    assert client.get(reverse("search"), {"q": "x"})["Location"].startswith(reverse("login"))

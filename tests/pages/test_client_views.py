"""The clients list (search, sort, pages) and the client profile (contact details,
subscriptions, relationships, coming sessions, invoices, cards, history)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, Payment
from clients.models import Client, ClientEvent
from clients.services import record_event
from opus.lib.actors import SYSTEM
from scheduling.models import DateAbsence
from tests.factories import (
    ClientFactory,
    InvoiceFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SubscriptionFactory,
    coming_date,
)
from tests.support.transfer import transfer_start_forms

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def text(response) -> str:
    return response.content.decode()


def clients_list(client, headers=None, **params):
    return client.get(reverse("clients:list"), params, headers=headers or {})


def profile_links(body: str) -> int:
    return len(re.findall(r'<a href="/clients/\d+/">', body))


def profile_url(client):
    return reverse("clients:detail", args=[client.pk])


# --- the clients list -------------------------------------------------------------------


def test_the_list_links_each_client_to_their_profile(staff_client, world):
    body = text(clients_list(staff_client))
    assert f'<a href="{profile_url(world.sam)}">Rivera, Sam</a>' in body
    assert "3 clients" in body  # Sam, Oliver and Ava
    assert 'hx-trigger="input changed delay:300ms, search"' in body
    assert 'action="/clients/"' in body and 'method="get"' in body  # works without JS


def test_search_as_you_type_returns_the_results_fragment(staff_client, world):
    response = clients_list(staff_client, headers=HX, q="rivera")
    body = text(response)
    assert "<html" not in body
    assert 'id="client-results"' in body and 'id="result-count"' in body
    assert "1 client match “rivera”" in body
    assert "Rivera, Sam" in body and "Grant, Oliver" not in body


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Sam", "Rivera, Sam"),
        ("oliver.grant@", "Grant, Oliver"),
        ("07700900456", "Rivera, Sam"),
        ("07700 900 456", "Rivera, Sam"),
        ("ava adams", "Adams, Ava"),
    ],
)
def test_search_by_name_email_or_phone(staff_client, world, q, expected):
    body = text(clients_list(staff_client, q=q))
    assert expected in body
    assert profile_links(body) == 1


def test_sorting_by_most_recent_activity(staff_client, world):
    record_event(actor=SYSTEM, client=world.oliver, kind=ClientEvent.Kind.UPDATED, summary="Called")
    by_activity = text(clients_list(staff_client, sort="activity"))
    assert by_activity.index("Grant, Oliver") < by_activity.index("Adams, Ava")
    by_name = text(clients_list(staff_client, sort="name"))
    assert by_name.index("Adams, Ava") < by_name.index("Grant, Oliver")
    assert 'aria-sort="descending"' in by_activity and 'aria-sort="ascending"' in by_name


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-1"},
        {"page": "99999999999999999999"},
        {"sort": "password"},
        {"q": "x" * 5000},
        {"q": "%_\\'\""},
    ],
)
def test_no_input_a_browser_can_send_breaks_the_list(staff_client, world, params):
    assert clients_list(staff_client, **params).status_code == 200
    assert clients_list(staff_client, headers=HX, **params).status_code == 200


def test_the_list_is_paginated(staff_client):
    ClientFactory.create_batch(30)
    first = text(clients_list(staff_client))
    assert "Page 1 of 2" in first and profile_links(first) == 25
    second = text(clients_list(staff_client, page="2"))
    assert profile_links(second) == 5


def test_a_practitioner_lists_only_their_clients(therapist_client, world, c2_world):
    body = text(clients_list(therapist_client))
    assert "Rivera, Sam" in body and "Grant, Oliver" in body
    assert "Sentinelsson" not in body


# --- the client profile ------------------------------------------------------------------


def test_the_profile_shows_every_section(staff_client, world):
    body = text(staff_client.get(profile_url(world.sam)))
    for heading in (
        "Contact details",
        "Subscriptions",
        "Coming sessions",
        "Relationships",
        "Invoices",
        "Cards on file",
        "History",
    ):
        assert f">{heading}" in body, heading
    for anchor in ("#details", "#subscriptions", "#coming", "#relationships", "#invoices"):
        assert f'href="{anchor}"' in body  # sections that work without JS


def test_staff_edit_the_contact_details(staff_client, staff, world):
    data = {
        "first_name": "Sam",
        "last_name": "Rivera",
        "email": "sam@new.example",
        "phone": "07700 111222",
        "date_of_birth": "1996-09-14",
        "address": "2 New Road",
    }
    response = staff_client.post(profile_url(world.sam), data)
    assert response.status_code == 302 and response["Location"] == profile_url(world.sam)
    sam = Client.objects.get(pk=world.sam.pk)
    assert (sam.email, sam.phone, sam.address) == ("sam@new.example", "07700 111222", "2 New Road")
    event = ClientEvent.objects.filter(client=sam, kind=ClientEvent.Kind.UPDATED).get()
    assert event.actor == staff and "email" in event.summary and "phone" in event.summary
    page = text(staff_client.get(profile_url(world.sam)))
    assert "Saved: email, phone, date of birth, postal address." in page


def test_the_contact_form_with_htmx_re_renders_its_section(staff_client, world):
    data = {"first_name": "Samuel", "last_name": "Rivera", "email": world.sam.email}
    response = staff_client.post(profile_url(world.sam), data, headers=HX)
    body = text(response)
    assert body.lstrip().startswith('<section id="details"')
    assert "Saved: first name" in body and "Samuel Rivera" in body
    assert "<form" not in body  # back to reading, with the Edit button
    assert Client.objects.get(pk=world.sam.pk).first_name == "Samuel"


def test_staff_open_the_contact_form_with_or_without_htmx(staff_client, world):
    page = text(staff_client.get(profile_url(world.sam)))
    assert "Edit contact details" in page and "Save contact details" not in page
    editing = text(staff_client.get(profile_url(world.sam), {"edit": "contact"}))
    assert "<html" in editing and 'value="07700 900456"' in editing
    assert "Save contact details" in editing
    fragment = text(staff_client.get(profile_url(world.sam), {"edit": "contact"}, headers=HX))
    assert fragment.lstrip().startswith('<section id="details"')
    assert "Save contact details" in fragment and "Cancel" in fragment
    cancelled = text(staff_client.get(profile_url(world.sam), {"part": "contact"}, headers=HX))
    assert cancelled.lstrip().startswith('<section id="details"') and "<form" not in cancelled


def test_bad_contact_details_are_shown_again_with_the_errors(staff_client, world):
    data = {
        "first_name": "",
        "last_name": "Rivera",
        "email": "not-an-email",
        "phone": "0770",
        "date_of_birth": "2990-01-01",
    }
    for headers in ({}, HX):
        response = staff_client.post(profile_url(world.sam), data, headers=headers)
        body = text(response)
        assert response.status_code == 200
        assert "Enter the first name." in body
        assert "Enter a valid email address, e.g. name@example.com." in body
        assert "Enter a phone number of 7 to 15 digits" in body
        assert "Enter a date of birth between" in body
        assert 'value="not-an-email"' in body  # what was typed stays
    sam = Client.objects.get(pk=world.sam.pk)
    assert sam.first_name == "Sam" and sam.email == world.sam.email
    assert not ClientEvent.objects.filter(kind=ClientEvent.Kind.UPDATED).exists()


def test_extra_fields_are_ignored(staff_client, world):
    data = {
        "first_name": "Sam",
        "last_name": "Rivera",
        "notes": "set by a forged form",
        "last_activity_at": "2000-01-01T00:00:00Z",
        "id": "999",
    }
    staff_client.post(profile_url(world.sam), data)
    sam = Client.objects.get(pk=world.sam.pk)
    assert sam.archived_at is None and sam.pk == world.sam.pk
    assert sam.last_activity_at.year > 2000


def test_practitioners_read_contact_details_and_may_not_change_them(therapist_client, world):
    page = text(therapist_client.get(profile_url(world.sam)))
    assert world.sam.email in page and "07700 900456" in page
    details = page.split('id="details"')[1].split("</section>")[0]
    assert "Save contact details" not in page and "<input" not in details
    assert "Edit contact details" not in page
    asked = text(therapist_client.get(profile_url(world.sam), {"edit": "contact"}))
    assert "Save contact details" not in asked
    before = Client.objects.filter(pk=world.sam.pk).values().get()
    for headers in ({}, HX):
        response = therapist_client.post(
            profile_url(world.sam), {"first_name": "Hacked", "last_name": "X"}, headers=headers
        )
        assert response.status_code == 403
    assert Client.objects.filter(pk=world.sam.pk).values().get() == before


def test_another_practitioner_gets_404(other_client, world):
    before = Client.objects.filter(pk=world.sam.pk).values().get()
    assert other_client.get(profile_url(world.sam)).status_code == 404
    assert other_client.get(profile_url(world.sam), headers=HX).status_code == 404
    response = other_client.post(profile_url(world.sam), {"first_name": "X", "last_name": "Y"})
    assert response.status_code == 404
    assert Client.objects.filter(pk=world.sam.pk).values().get() == before


def test_the_profile_fragment_is_the_profile_alone(staff_client, world):
    body = text(staff_client.get(profile_url(world.sam), headers=HX))
    assert "<html" not in body
    assert body.lstrip().startswith('<div class="profile" id="profile">')
    assert "Sam Rivera" in body


def test_subscriptions_active_and_past_with_the_update_action(staff_client, world):
    past = SubscriptionFactory(
        relationship=world.third_party,
        session__service__name="Guitar, 45 min private",
        end_date=timezone.localdate() - timedelta(days=7),
    )
    past.first_date = past.end_date - timedelta(weeks=4)
    past.save()
    body = text(staff_client.get(profile_url(world.sam)))
    assert transfer_start_forms(body) == {(str(world.sam_sub.pk), f"{world.date.date:%Y-%m-%d}")}
    assert ">Update<" in body
    assert "Past subscriptions" in body
    past_section = body.split("Past subscriptions")[1].split("</section>")[0]
    assert "Guitar, 45 min private" in past_section


def test_practitioners_see_no_update_action(therapist_client, world):
    body = text(therapist_client.get(profile_url(world.sam)))
    assert "Piano, 30 min private" in body
    assert reverse("scheduling:transfer-start") not in body


def test_relationships_as_attendee_and_as_payer(staff_client, world):
    sam_page = text(staff_client.get(profile_url(world.sam)))
    attendee = sam_page.split("As attendee")[1].split("As payer")[0]
    assert "Third party" in attendee and "Paid by" in attendee and "Oliver Grant" in attendee
    oliver_page = text(staff_client.get(profile_url(world.oliver)))
    payer = oliver_page.split("As payer")[1].split("</section>")[0]
    assert "Pays for" in payer and "Sam Rivera" in payer
    assert reverse("relationships:list") in payer


def test_coming_sessions_honour_absences_and_cancellations(staff_client, world):
    second = coming_date(world.session, weeks=2)
    DateAbsence.objects.create(subscription=world.sam_sub, session_date=second)
    third = coming_date(world.session, weeks=3)
    third.cancelled, third.cancel_reason = True, "Holiday"
    third.save()
    body = text(staff_client.get(profile_url(world.sam)))
    coming = body.split('id="coming"')[1].split("</section>")[0]
    assert coming.count("<li") == 3
    assert "Absent by request" in coming and "Cancelled" in coming


def test_invoices_show_the_balance_owed(staff_client, world):
    invoice = InvoiceFactory(
        payer=world.oliver,
        status=Invoice.Status.OPEN,
        number=41,
        issued_on=timezone.localdate() - timedelta(days=30),
        due_on=timezone.localdate() - timedelta(days=16),
        total=Decimal("120.00"),
    )
    Payment.objects.create(
        invoice=invoice,
        amount=Decimal("50.00"),
        method=Payment.Method.CASH,
        received_at=timezone.now(),
    )
    InvoiceFactory(
        payer=world.oliver,
        status=Invoice.Status.PAID,
        number=42,
        issued_on=timezone.localdate(),
        due_on=timezone.localdate(),
        total=Decimal("30.00"),
    )
    body = text(staff_client.get(profile_url(world.oliver)))
    section = body.split('id="invoices"')[1].split("</section>")[0]
    assert "INV-000041" in section and "INV-000042" in section
    assert "<strong>£70.00</strong>" in section  # 120 - 50
    assert "overdue" in section
    assert "£70.00 owed" in body


def test_the_profile_shows_the_latest_invoices_and_links_to_all(
    staff_client, world, django_assert_max_num_queries
):
    """Issue 17: years of invoices do not make the profile grow. The latest ten,
    the count and what is owed on all of them (one query), and a link to the
    invoice list filtered by the payer."""
    today = timezone.localdate()
    for number in range(1, 16):  # INV-000001 .. 15, a month apart; the oldest two open
        InvoiceFactory(
            payer=world.oliver,
            status=Invoice.Status.OPEN if number <= 2 else Invoice.Status.PAID,
            number=number,
            issued_on=today - timedelta(days=30 * (16 - number)),
            due_on=today - timedelta(days=30 * (16 - number) - 14),
            total=Decimal("10.00"),
        )
    staff_client.get(profile_url(world.sam))  # the session's first writes happen here
    with django_assert_max_num_queries(14):
        body = text(staff_client.get(profile_url(world.oliver)))
    section = body.split('id="invoices"')[1].split("</section>")[0]
    shown = re.findall(r"INV-0000(\d\d)", section)
    assert shown == [f"{n:02d}" for n in range(15, 5, -1)]  # the latest ten, newest first
    assert "£20.00 owed" in body  # the two oldest, not shown, still owed
    assert '<span class="count">15</span>' in body
    assert "All 15 invoices" in section and "payer=Oliver+Grant" in section
    listed = text(staff_client.get(reverse("billing:invoice-list"), {"payer": "Oliver Grant"}))
    assert "INV-000001" in listed and "INV-000015" in listed


def test_a_profile_with_few_invoices_has_no_link_to_all(staff_client, world):
    InvoiceFactory(payer=world.oliver, status=Invoice.Status.DRAFT, total=Decimal("5.00"))
    body = text(staff_client.get(profile_url(world.oliver)))
    assert "All 1 invoices" not in body and '<span class="count">1</span>' in body


def test_cards_show_brand_last_four_and_expiry_only(staff_client, world):
    card = PaymentMethodFactory(client=world.sam, brand="visa", last4="4242", exp_month=3)
    PaymentMethodFactory(client=world.sam, last4="1111", removed_at=timezone.now())
    body = text(staff_client.get(profile_url(world.sam)))
    cards = body.split('id="cards"')[1]
    assert "Visa</span> ending <strong>4242</strong>" in cards and "expires 03/2030" in cards
    assert card.token not in body
    assert "1111" not in body  # removed cards are not on file


def test_history_is_newest_first(staff_client, world):
    record_event(
        actor=SYSTEM, client=world.sam, kind=ClientEvent.Kind.EMAIL_SENT, summary="First email"
    )
    record_event(
        actor=SYSTEM, client=world.sam, kind=ClientEvent.Kind.EMAIL_SENT, summary="Second email"
    )
    body = text(staff_client.get(profile_url(world.sam)))
    history = body.split('id="history"')[1]
    assert history.index("Second email") < history.index("First email")
    assert "Email sent" in history


@pytest.mark.parametrize("raw", ["0", "99999999999999999999"])
def test_an_unknown_client_is_404(staff_client, raw):
    assert staff_client.get(f"/clients/{raw}/").status_code == 404


def test_enrolling_bumps_the_clients_last_activity(staff):
    from scheduling.services import enroll
    from tests.factories import SessionFactory

    client = ClientFactory()
    Client.objects.filter(pk=client.pk).update(last_activity_at=timezone.now() - timedelta(days=9))
    relationship = RelationshipFactory(payer=client)
    enroll(
        actor=SYSTEM,
        relationship=relationship,
        session=SessionFactory(),
        first_date=timezone.localdate(),
    )
    client.refresh_from_db()
    assert timezone.now() - client.last_activity_at < timedelta(minutes=1)

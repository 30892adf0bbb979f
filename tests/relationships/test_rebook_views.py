"""The rebooking panel says, before the click, what moving the ticked sessions
means for the old payer; the confirmation says what was done."""

import html
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from frontdesk import selectors
from scheduling.models import Booking
from scheduling.services import generate_session_dates
from tests.factories import SessionFactory, SubscriptionFactory
from tests.support.relationships import bill

pytestmark = pytest.mark.django_db


PREVIEW = {"HX-Request": "true", "HX-Target": "rebook-preview"}  # what the checkboxes send


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def billed(world):
    """Oliver's open invoice for the Piano subscription (3 past + 3 coming) and a
    paid one for the second Guitar booking."""
    world["sub_invoice"] = bill(world, (6, "30.00", {"subscription": world["subscription"]}))
    world["paid"] = bill(world, (1, "40.00", {"booking": world["bookings"][1]}), pay="all")
    return world


def test_the_page_says_what_rebooking_will_credit_and_refund(therapist_client, billed):
    response = therapist_client.get(reverse("relationships:detail", args=[billed["new"].pk]))
    page = text(response)
    assert "What changes in billing" in page
    assert (
        f"£90.00 will be credited on Oliver Grant's open invoice {billed['sub_invoice']}." in page
    )
    assert (
        "£40.00 paid by Oliver Grant for moved sessions will be kept as account credit for "
        f"their next invoices ({billed['paid']})." in page
    )
    assert "Only staff can choose to refund it" in page and 'name="leftover"' not in page
    assert 'hx-get="{}"'.format(reverse("relationships:detail", args=[billed["new"].pk])) in page


def test_the_fragment_previews_only_the_ticked_sessions(therapist_client, billed):
    url = reverse("relationships:detail", args=[billed["new"].pk])
    response = therapist_client.get(
        url,
        {"chosen": "1", "booking": [billed["bookings"][1].pk]},
        headers=PREVIEW,
    )
    fragment = text(response)
    assert "<html" not in fragment and 'id="rebook-preview"' in fragment
    assert "HX-Request" in response["Vary"]
    assert (
        "£40.00 paid by Oliver Grant for moved sessions will be kept as account credit" in fragment
    )
    assert "credited" not in fragment
    nothing = therapist_client.get(url, {"chosen": "1"}, headers=PREVIEW)
    assert "Choose at least one session to rebook." in text(nothing)
    unbilled = therapist_client.get(
        url, {"chosen": "1", "booking": [billed["bookings"][0].pk]}, headers=PREVIEW
    )
    assert "Nothing was billed to Oliver Grant for these sessions" in text(unbilled)
    odd = therapist_client.get(url, {"chosen": "1", "booking": ["²", "-1", "x"]}, headers=PREVIEW)
    assert odd.status_code == 200 and "Choose at least one session" in text(odd)


def test_without_htmx_the_ticked_selection_is_kept_on_the_full_page(therapist_client, billed):
    url = reverse("relationships:detail", args=[billed["new"].pk])
    page = text(therapist_client.get(url, {"chosen": "1", "booking": [billed["bookings"][1].pk]}))
    assert "<html" in page and "credited" not in page
    assert f'name="subscription" value="{billed["subscription"].pk}">' in page  # not ticked
    assert f'name="booking" value="{billed["bookings"][1].pk}" checked>' in page


def test_the_confirmation_says_what_was_credited_and_what_was_kept_as_account_credit(
    therapist_client, billed
):
    new = billed["new"]
    response = therapist_client.post(
        reverse("relationships:rebook", args=[new.pk]),
        {
            "subscription": [billed["subscription"].pk],
            "booking": [b.pk for b in billed["bookings"]],
        },
        headers=PREVIEW,
    )
    assert response["HX-Redirect"] == new.get_absolute_url()
    page = text(therapist_client.get(new.get_absolute_url()))
    assert "3 coming sessions moved: Sam Rivera pays for them now." in page
    assert f"£90.00 credited on Oliver Grant's open invoice {billed['sub_invoice']}." in page
    assert "£40.00 paid by Oliver Grant for moved sessions is kept as account credit" in page
    assert 'id="rebook"' not in page


def _more_under_old(world, n: int) -> None:
    """``n`` more subscriptions and bookings under the old relationship, each billed."""
    today = timezone.localdate()
    for _ in range(n):
        session = SessionFactory(
            practitioner=world["old"].practitioner, weekday=world["subscription"].session.weekday
        )
        generate_session_dates(session=session, until=today + timedelta(weeks=3))
        sub = SubscriptionFactory(relationship=world["old"], session=session)
        date = session.dates.filter(date__gt=today).order_by("date").last()
        booking = Booking.objects.create(
            client=world["old"].attendee,
            session_date=date,
            relationship=world["old"],
            price=Decimal(40),
        )
        bill(world, (6, "30.00", {"subscription": sub}), (1, "40.00", {"booking": booking}))


def test_the_page_runs_the_same_queries_however_much_is_left_under_the_old_relationship(
    therapist, therapist_client, billed, django_assert_max_num_queries
):
    url = reverse("relationships:detail", args=[billed["new"].pk])
    with CaptureQueriesContext(connection) as few:
        therapist_client.get(url)
    _more_under_old(billed, 12)
    assert selectors.coming_under_old(billed["new"], therapist).count == 3 + 2 * 12
    with django_assert_max_num_queries(len(few)):
        page = text(therapist_client.get(url))
    assert page.count("will be credited") == 13
    with django_assert_max_num_queries(len(few) - 1):  # the fragment: no card panel etc.
        therapist_client.get(url, {"chosen": "1"}, headers=PREVIEW)

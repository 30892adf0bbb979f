"""The new pages run as many queries with a large practice as with a small one."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.models import SessionDate
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    SessionFactory,
    SubscriptionFactory,
    paid_invoice_for,
)

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _grow(w, therapist, staff, n=12):
    """More of everything a page could read row by row."""
    for i in range(n):
        client = ClientFactory(first_name=f"Adam{i}", last_name="Adamson")
        RelationshipFactory(payer=client, practitioner=therapist)
        RelationshipFactory(payer=ClientFactory(), attendee=w.sam, practitioner=therapist)
        session = SessionFactory(practitioner=therapist, weekday=i % 7)
        generate_session_dates(session=session, until=date(2027, 1, 31))
    for _ in range(n):
        sub = SubscriptionFactory(
            session=w.session, first_date=date(2026, 11, 2), end_date=date(2026, 11, 9)
        )
        paid_invoice_for(sub, 2, staff)


def _pages(w, sub):
    sd = SessionDate.objects.get(session=w.session, date=date(2026, 12, 7))
    return [
        (reverse("scheduling:add-client", args=[sd.pk]), {"q": "ada"}, {}),
        (reverse("scheduling:add-client", args=[sd.pk]), {"q": "ada"}, HX),
        (reverse("scheduling:add-client", args=[sd.pk]), {"client": w.sam.pk}, {}),
        (reverse("scheduling:book-once", args=[sd.pk]), {"client": w.sam.pk}, {}),
        (reverse("clients:enrol", args=[w.sam.pk]), {}, {}),
        (reverse("scheduling:withdraw", args=[sub.pk]), {"from": sd.pk}, {}),
        (
            reverse("scheduling:withdraw", args=[sub.pk]),
            {"last_date": "2026-11-30"},
            {**HX, "HTTP_HX_TARGET": "withdraw-preview"},
        ),
    ]


def _counts(desk, pages) -> list[int]:
    counts = []
    for url, params, headers in pages:
        with CaptureQueriesContext(connection) as queries:
            assert desk.get(url, params, **headers).status_code == 200, url
        counts.append(len(queries))
    return counts


def test_the_pages_run_a_fixed_number_of_queries(w, desk, staff, therapist):
    sub = SubscriptionFactory(
        relationship=w.sam_rel, session=w.session, first_date=date(2026, 11, 2)
    )
    paid_invoice_for(sub, 8, staff)
    pages = _pages(w, sub)
    desk.get(pages[0][0])  # the session's first write
    small = _counts(desk, pages)
    _grow(w, therapist, staff)
    assert _counts(desk, pages) == small
    assert max(small) <= 20

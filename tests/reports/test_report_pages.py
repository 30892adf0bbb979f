"""The report pages: staff only, page and fragment, filters in the address, CSV,
a fixed number of queries whatever the size, and never a 500 on any input."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from reports.reports import REPORTS
from scheduling.models import Attendance
from tests.factories import (
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.reports import AS_OF, at, issued, paid

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
PAGES = [reverse(report.url_name) for report in REPORTS.values()]
CSVS = [reverse(report.csv_url_name) for report in REPORTS.values()]
RANGE = {"first": "2026-01-01", "last": "2026-07-31", "as_of": f"{AS_OF:%Y-%m-%d}"}


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_reports_are_in_the_nav_for_staff_only(staff_client, therapist_client):
    assert b">Reports</span></a>" in staff_client.get(reverse("home"), follow=True).content
    assert b">Reports</span></a>" not in therapist_client.get(reverse("home"), follow=True).content
    index = staff_client.get(reverse("reports:index"))
    assert index.status_code == 200
    for report in REPORTS.values():
        assert report.title.encode() in index.content


@pytest.mark.parametrize("url", [reverse("reports:index"), *PAGES, *CSVS])
def test_a_practitioner_gets_403_and_anonymous_the_login(url, therapist_client, client):
    assert therapist_client.get(url).status_code == 403
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [*PAGES, *CSVS, reverse("reports:index")])
def test_the_reports_answer_get_only(url, staff_client):
    assert staff_client.post(url).status_code == 405


def test_aging_page_fragment_and_csv(money_world, staff_client):
    url = reverse("reports:aging")
    page = staff_client.get(url, {"as_of": f"{AS_OF:%Y-%m-%d}"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Accounts receivable aging" in html and "<svg" in html
    assert "Ann Able" in html and "£145.00" in html and "£248.33" in html
    assert 'style="' not in html.split('id="report-results"')[1]  # CSP: classes only
    fragment = staff_client.get(url, {"as_of": f"{AS_OF:%Y-%m-%d}"}, headers=HX)
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content and b"Ann Able" in fragment.content
    assert "HX-Request" in page["Vary"]
    rows = _csv(staff_client.get(reverse("reports:aging-csv"), {"as_of": f"{AS_OF:%Y-%m-%d}"}))
    assert rows[0][:3] == ["Payer", "Currency", "Open invoices"]
    assert [
        "Ann Able",
        "GBP",
        "2",
        "100.00",
        "45.00",
        "0.00",
        "0.00",
        "0.00",
        "145.00",
        "0.00",
    ] in rows
    assert rows[-1] == [
        *("Total", "GBP", "5", "100.00", "45.00", "50.00", "33.33", "20.00", "248.33", "0.00")
    ]


def test_the_csv_link_carries_the_filters(money_world, staff_client):
    page = staff_client.get(reverse("reports:revenue"), {**RANGE, "by": "service"})
    assert (
        f"{reverse('reports:revenue-csv')}?first=2026-01-01&amp;last=2026-07-31".encode()
        in page.content
    )
    rows = _csv(staff_client.get(reverse("reports:revenue-csv"), {**RANGE, "by": "service"}))
    assert rows[0] == ["Service", "Currency", "Invoiced", "Collected", "Refunded"]
    assert ["Piano", "GBP", "150.00", "0.00", "0.00"] in rows
    response = staff_client.get(reverse("reports:revenue-csv"), RANGE)
    assert 'filename="revenue-2026-01-01-to-2026-07-31.csv"' in response["Content-Disposition"]


@pytest.mark.parametrize("url", PAGES)
def test_every_report_renders_with_data_as_page_and_fragment(url, money_world, staff_client):
    for headers in ({}, HX):
        response = staff_client.get(url, RANGE, headers=headers)
        assert response.status_code == 200, url


NONSENSE = [
    {"first": "2026-13-45", "last": "yesterday"},
    {"first": "2026-08-01", "last": "2026-01-01"},
    {"first": "1900-01-01", "last": "2026-01-01"},
    {"by": "everything", "service": "999999", "practitioner": "x", "currency": "XXX"},
    {"as_of": "0000-00-00"},
    {"first": "9999-12-31"},
    {"last": "0001-01-01"},
]


@pytest.mark.parametrize("url", [*PAGES, *CSVS])
def test_nonsense_in_the_address_is_refused_politely(url, staff_client):
    for query in NONSENSE:
        response = staff_client.get(url, query)
        assert response.status_code == 200, (url, query)


def test_a_reversed_range_says_why(staff_client):
    page = staff_client.get(
        reverse("reports:revenue"), {"first": "2026-08-01", "last": "2026-01-01"}
    )
    assert b"The end of the range comes before its start." in page.content


def _grow(staff, therapist, n: int, start: date) -> None:
    """n more payers with an invoice (part paid), an enrolment and an attendance mark."""
    session = SessionFactory(practitioner=therapist, first_date=start)
    for i in range(n):
        relationship = RelationshipFactory()
        sub = SubscriptionFactory(relationship=relationship, session=session, first_date=start)
        invoice = issued(
            relationship,
            "40.00",
            on=start,
            due=start + timedelta(days=14),
            actor=staff,
            subscription=sub,
        )
        paid(invoice, "10.00", on=start + timedelta(days=1), actor=staff)
        day = SessionDateFactory(session=session, date=start + timedelta(weeks=i))
        Attendance.objects.create(
            session_date=day,
            client=sub.client,
            subscription=sub,
            mark="present",
            chargeable=True,
            marked_at=at(day.date),
            marked_by=staff,
        )


@pytest.mark.parametrize("slug", list(REPORTS))
def test_a_report_runs_the_same_queries_for_3_or_30_payers(
    slug, staff, therapist, staff_client, django_assert_max_num_queries
):
    report = REPORTS[slug]
    query = {**RANGE, "by": report.groups[-1][0]} if report.groups else RANGE
    staff_client.get(reverse(report.url_name), query)  # the session and caches warmed
    counts = []
    for n in (3, 27):
        _grow(staff, therapist, n, date(2026, 2, 2))
        for url in (reverse(report.url_name), reverse(report.csv_url_name)):
            with django_assert_max_num_queries(8) as captured:
                response = staff_client.get(url, query)
                if url.endswith(".csv"):
                    b"".join(response.streaming_content)
            counts.append(len(captured))
    assert counts[:2] == counts[2:], counts


def test_a_money_total_is_never_a_float(money_world, staff_client):
    from reports.selectors import aging, revenue

    for row in [*aging(as_of=AS_OF), *revenue(first=date(2026, 1, 1), last=AS_OF)]:
        for value in row.values():
            assert not isinstance(value, float)
    assert isinstance(aging(as_of=AS_OF)[0]["total"], Decimal)

"""Issue 13, the Billing page: the coming run's preview, Approve, progress; staff only."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import BillingRun, Invoice
from billing.services import runs
from opus.lib.actors import SYSTEM
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

URL = reverse("billing:run")
APPROVE = reverse("billing:run-approve")
HX = {"HX-Request": "true"}
DEC = date(2026, 12, 1)
NOV_25 = datetime(2026, 11, 25, 9, tzinfo=ZoneInfo("Europe/London"))


def practice_of(size: int, *, tag=""):
    piano = SessionFactory(
        weekday=0,
        first_date=date(2026, 11, 2),
        capacity=size + 1,
        service=ServiceFactory(name=f"Piano{tag}"),
    )
    generate_session_dates(session=piano, until=date(2027, 1, 31))
    group = SessionFactory(
        weekday=2,
        first_date=date(2026, 11, 4),
        capacity=size + 1,
        service=ServiceFactory(name=f"Choir{tag}", billing_basis="monthly", sessions_per_month=4),
    )
    generate_session_dates(session=group, until=date(2027, 1, 31))
    sessions = [piano, group]
    for _ in range(size):
        payer = ClientFactory()
        for s in sessions:
            SubscriptionFactory(
                session=s,
                relationship=RelationshipFactory(payer=payer, attendee=ClientFactory()),
                first_date=s.first_date,
                price=Decimal("30.00"),
            )


@time_machine.travel(NOV_25, tick=False)
def test_the_page_previews_the_coming_month_one_draft_per_payer(staff_client):
    practice_of(2)
    response = staff_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "December 2026" in body and "Preview" in body
    assert body.count("Piano for") == 2 and "Choir for" in body
    assert ">Approve</button>" in body
    assert "£300.00" in body  # 2 payers x (4 x 30 + 30 for the month of choir)
    assert "HX-Request" in response["Vary"]
    assert not Invoice.objects.exists()  # a preview writes nothing


@time_machine.travel(NOV_25, tick=False)
def test_the_fragment_is_the_run_alone(staff_client):
    practice_of(1)
    response = staff_client.get(URL, {"month": "2026-12"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="billing-run"' in body
    assert "<html" not in body
    progress = staff_client.get(URL, {"month": "2026-12", "part": "progress"}, headers=HX)
    assert 'id="billing-run-progress"' in progress.content.decode()
    assert 'id="billing-run"' not in progress.content.decode()


@time_machine.travel(NOV_25, tick=False)
def test_a_prepared_run_shows_its_drafts(staff_client):
    practice_of(1)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    body = staff_client.get(URL).content.decode()
    assert "Prepared, waiting for approval" in body
    assert reverse("billing:invoice-detail", args=[Invoice.objects.get().pk]) in body


@time_machine.travel(NOV_25, tick=False)
def test_approve_twice_issues_once(staff_client, django_capture_on_commit_callbacks):
    practice_of(2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(APPROVE, {"month": "2026-12"})
    assert response.status_code == 302 and response["Location"] == f"{URL}?month=2026-12"
    assert len(callbacks) == 1  # the task, started once the approval commits
    runs.issue_run(run_id=BillingRun.objects.get().pk, actor=SYSTEM)  # the worker's part
    run = BillingRun.objects.get()
    assert run.status == "issued" and run.issued_count == 2
    assert set(Invoice.objects.values_list("status", flat=True)) == {"open"}
    again = staff_client.post(APPROVE, {"month": "2026-12"}, headers=HX)
    assert again.status_code == 200 and again["HX-Location"]
    assert Invoice.objects.count() == 2 and BillingRun.objects.get().issued_count == 2
    body = staff_client.get(URL).content.decode()
    assert "2 invoices issued, £300.00 in all; 2 open, 0 paid (nothing due)." in body


@time_machine.travel(NOV_25, tick=False)
def test_issuing_shows_progress_that_polls(staff_client, django_capture_on_commit_callbacks):
    practice_of(1)
    with django_capture_on_commit_callbacks(execute=False):
        staff_client.post(APPROVE, {"month": "2026-12"})
    body = staff_client.get(URL, {"month": "2026-12", "part": "progress"}, headers=HX)
    text = body.content.decode()
    assert "Issuing…" in text and 'hx-trigger="every 2s"' in text
    assert "0 of 1 invoices issued." in text


@pytest.mark.parametrize("month", ["", "2026-13", "december", "0-0", "9999-01"])
def test_a_bad_month_is_refused_with_a_message(staff_client, month):
    response = staff_client.post(APPROVE, {"month": month})
    assert response.status_code == 400
    assert "Choose a month to bill." in response.content.decode()
    assert not BillingRun.objects.exists()


def test_a_bad_month_in_the_address_shows_the_coming_run(staff_client):
    assert staff_client.get(URL, {"month": "2026-99"}).status_code == 200


def test_the_page_is_for_staff_only(therapist_client, client):
    assert therapist_client.get(URL).status_code == 403
    assert therapist_client.post(APPROVE, {"month": "2026-12"}).status_code == 403
    assert not BillingRun.objects.exists()
    assert client.get(URL).status_code == 302  # logged out: to the login page
    assert therapist_client.get(APPROVE).status_code == 405


def test_the_nav_links_billing_for_staff_only(staff_client, therapist_client):
    assert f'href="{URL}"' in staff_client.get(reverse("billing:invoice-list")).content.decode()
    home = therapist_client.get(reverse("billing:invoice-list")).content.decode()
    assert f'href="{URL}"' not in home


def _queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    return len(queries)


@time_machine.travel(NOV_25, tick=False)
def test_the_page_runs_as_many_queries_for_a_large_practice_as_a_small_one(
    staff_client, django_assert_max_num_queries
):
    practice_of(2)
    small_preview = _queries(staff_client)
    practice_of(20, tag=" large")
    with django_assert_max_num_queries(small_preview):
        staff_client.get(URL)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    prepared = _queries(staff_client)
    practice_of(5, tag=" more")
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    with django_assert_max_num_queries(prepared):
        staff_client.get(URL)

"""Issue 12, "Export": clients, invoices and payments as CSV for the accountant:
staff only, the list's filters applied, streamed in a fixed number of queries,
safe to open in a spreadsheet."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services as billing
from tests.factories import ClientFactory, SubscriptionFactory
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

CLIENTS = reverse("clients:export")
INVOICES = reverse("billing:invoice-export")
PAYMENTS = reverse("billing:payment-export")


def read(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_clients_export_every_match_of_the_lists_search(staff_client):
    ClientFactory(
        first_name="Ava",
        last_name="Adams",
        email="ava@example.com",
        phone="07700 900123",
        address="1 Quay Street",
    )
    ClientFactory(first_name="Ben", last_name="Brown")
    rows = read(staff_client.get(CLIENTS))
    assert rows[0][:4] == ["Client ID", "First name", "Last name", "Email"]
    assert [row[1] for row in rows[1:]] == ["Ava", "Ben"]
    ava = rows[1]
    assert ava[3:5] == ["ava@example.com", "07700 900123"] and ava[6] == "1 Quay Street"
    assert ava[7][:4].isdigit() and "T" in ava[7]  # ISO 8601
    assert [row[1] for row in read(staff_client.get(CLIENTS, {"q": "brown"}))[1:]] == ["Ben"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_quoted(staff_client, start):
    ClientFactory(first_name="Eve", last_name=f"{start}HYPERLINK(1)", email="")
    row = read(staff_client.get(CLIENTS))[1]
    assert row[2] == f"'{start}HYPERLINK(1)"


def test_invoices_export_with_the_lists_filters(staff_client, staff):
    paid = open_invoice(amount="80.00", payer=ClientFactory(first_name="Ava", last_name="Adams"))
    billing.record_payment(invoice=paid, amount="30", method="cash", actor=staff)
    other = open_invoice(amount="12.5", payer=ClientFactory(first_name="Ben", last_name="Brown"))
    billing.void_invoice(invoice=other, reason="=Issued twice", actor=staff)
    rows = read(staff_client.get(INVOICES))
    assert rows[0] == [
        "Invoice",
        "Status",
        "Payer ID",
        "Payer",
        "Issued on",
        "Due on",
        "Currency",
        "Total",
        "Paid",
        "Balance due",
        "Reason (void or closed)",
    ]
    by_payer = {row[3]: row for row in rows[1:]}
    ava = by_payer["Ava Adams"]
    assert ava[0] == paid.display_number and ava[1] == "Open"
    assert ava[4] == paid.issued_on.isoformat() and ava[5] == paid.due_on.isoformat()
    assert ava[6:10] == ["GBP", "80.00", "30.00", "50.00"]
    assert by_payer["Ben Brown"][1] == "Void" and by_payer["Ben Brown"][10] == "'=Issued twice"
    only_void = read(staff_client.get(INVOICES, {"status": "void"}))
    assert [row[3] for row in only_void[1:]] == ["Ben Brown"]
    by_name = read(staff_client.get(INVOICES, {"payer": "ava"}))
    assert [row[3] for row in by_name[1:]] == ["Ava Adams"]


def test_payments_export_those_of_the_listed_invoices(staff_client, staff):
    ava = open_invoice(amount="80.00", payer=ClientFactory(first_name="Ava", last_name="Adams"))
    ben = open_invoice(amount="40.00", payer=ClientFactory(first_name="Ben", last_name="Brown"))
    billing.record_payment(
        invoice=ava, amount="30", method="bank_transfer", reference="+SUM(A1)", actor=staff
    )
    billing.record_payment(invoice=ben, amount="40", method="cash", actor=staff)
    rows = read(staff_client.get(PAYMENTS))
    assert rows[0][:3] == ["Payment ID", "Received at", "Invoice"]
    assert len(rows) == 3
    ava_row = next(row for row in rows if row[4] == "Ava Adams")
    assert ava_row[2] == ava.display_number
    assert ava_row[5:] == ["Bank transfer", "'+SUM(A1)", "GBP", "30.00"]
    assert "T" in ava_row[1]
    filtered = read(staff_client.get(PAYMENTS, {"payer": "Ben"}))
    assert [row[4] for row in filtered[1:]] == ["Ben Brown"]
    assert Decimal(filtered[1][8]) == Decimal("40")


@pytest.mark.parametrize("url", [CLIENTS, INVOICES, PAYMENTS])
def test_a_practitioner_is_refused_the_exports(therapist, therapist_client, url):
    SubscriptionFactory(session__practitioner=therapist)
    assert therapist_client.get(url).status_code == 403


@pytest.mark.parametrize("url", [CLIENTS, INVOICES, PAYMENTS])
def test_exports_are_get_only(staff_client, url):
    assert staff_client.post(url).status_code == 405


def test_the_list_pages_link_to_the_exports_with_their_filters(staff_client, therapist_client):
    page = staff_client.get(reverse("clients:list"), {"q": "ava"}).content.decode()
    assert f'href="{CLIENTS}?q=ava"' in page
    page = staff_client.get(reverse("billing:invoice-list"), {"status": "open"}).content.decode()
    assert f'href="{INVOICES}?status=open"' in page and f'href="{PAYMENTS}?status=open"' in page
    fragment = staff_client.get(reverse("clients:list"), {"q": "ben"}, headers={"HX-Request": "1"})
    assert f'href="{CLIENTS}?q=ben"' in fragment.content.decode()
    assert b"export.csv" not in therapist_client.get(reverse("clients:list")).content
    assert b"export.csv" not in therapist_client.get(reverse("billing:invoice-list")).content


@pytest.mark.parametrize("rows", [3, 60])
def test_each_export_runs_a_fixed_number_of_queries(
    staff_client, staff, rows, django_assert_max_num_queries
):
    for i in range(rows):
        invoice = open_invoice(amount=str(10 + i))
        billing.record_payment(invoice=invoice, amount="1", method="cash", actor=staff)
    staff_client.get(reverse("clients:list"))  # the session's first touch is written once
    for url, expected in ((CLIENTS, rows), (INVOICES, rows), (PAYMENTS, rows)):
        # session, user, and the rows (a server-side cursor: declare, fetch, close)
        with django_assert_max_num_queries(4):
            assert len(read(staff_client.get(url))) == expected + 1

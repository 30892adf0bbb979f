"""Reports and the invoice PDF in the browser, by the labels a user reads: open
Reports, the AR aging, change the date, download the CSV; open an invoice's PDF
and read its text."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.factories import PASSWORD, RelationshipFactory
from tests.support.browser import log_in
from tests.support.reports import issued, paid

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def invoice(staff):
    relationship = RelationshipFactory(payer__first_name="Oliver", payer__last_name="Grant")
    invoice = issued(relationship, "60.00", on=date(2026, 3, 2), due=date(2026, 3, 16), actor=staff)
    paid(invoice, Decimal("15.00"), on=date(2026, 3, 20), actor=staff)
    return invoice


def test_aging_by_date_its_csv_and_an_invoice_pdf(page, live_server, invoice, console_errors):
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    page.get_by_role("link", name="Accounts receivable aging").first.click()
    expect(page.get_by_role("heading", name="Accounts receivable aging")).to_be_visible()

    page.get_by_label("As of").fill("2026-04-30")  # 45 days past due, £45.00 still owed
    page.get_by_role("button", name="Show").click()
    row = page.get_by_role("row", name="Oliver Grant")
    expect(row).to_contain_text("£45.00")
    header = [c.strip() for c in page.locator("thead th").all_text_contents()]
    cells = [c.strip() for c in row.locator("td").all_text_contents()]
    assert cells[header.index("31-60 days")] == "£45.00"
    assert cells[header.index("Total open")] == "£45.00"
    assert "as_of=2026-04-30" in page.url  # the filters are in the address

    page.get_by_label("As of").fill("2026-03-10")  # not due yet: current
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("As of 10 Mar 2026")).to_be_visible()
    expect(page.get_by_role("row", name="Oliver Grant")).to_contain_text("£60.00")

    page.get_by_label("As of").fill("2026-02-01")  # before it was issued
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Nothing to report for these filters.")).to_be_visible()

    page.get_by_label("As of").fill("2026-04-30")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row", name="Oliver Grant")).to_contain_text("£45.00")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "aging-2026-04-30.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Oliver Grant,GBP,1,0.00,0.00,45.00,0.00,0.00,45.00" in text

    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"{invoice.display_number}.pdf"
    with open(download.value.path(), "rb") as pdf:
        reader = PdfReader(io.BytesIO(pdf.read()))
    pdf_text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert f"Invoice {invoice.display_number}" in pdf_text
    assert "Oliver Grant" in pdf_text and "£45.00" in pdf_text
    assert console_errors == []

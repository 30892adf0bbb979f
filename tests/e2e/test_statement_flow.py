"""Front desk refunds part of a card payment out of a payer's account credit, in a
real browser by the labels a user reads, and sees the payer's statement and the
AR aging's account credit change; downloads the aging CSV and opens the
statement's PDF (its text read with pypdf)."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from billing import services
from billing.models import Account, Refund
from opus.lib.actors import SYSTEM
from tests.factories import PASSWORD, ClientFactory
from tests.support.billing import open_invoice, save_card
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _aging_row(page, live_server, name):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Accounts receivable aging").first.click()
    expect(page.get_by_role("heading", name="Accounts receivable aging")).to_be_visible()
    header = [c.strip() for c in page.locator("thead th").all_text_contents()]
    row = page.get_by_role("row", name=name)
    expect(row).to_be_visible()
    cells = [c.strip() for c in row.locator("td").all_text_contents()]
    return dict(zip(header[1:], cells[1:], strict=False)) | {"Payer": name}


def test_refund_part_of_a_card_payment_then_the_statement_aging_csv_and_pdf(
    page, live_server, staff, console_errors
):
    payer = ClientFactory(first_name="Olive", last_name="Payer", email="olive@example.com")
    invoice = open_invoice(payer=payer, amount="60.00", staff=staff)
    card = save_card(payer)
    services.charge_card(invoice=invoice, payment_method=card, request_key="k", actor=SYSTEM)
    services.grant_account_credit(
        payer=payer, amount="20.00", currency="GBP", reason="Lesson moved", actor=SYSTEM
    )
    log_in(page, live_server, "staff", PASSWORD)
    before = _aging_row(page, live_server, "Olive Payer")
    assert before["Account credit"] == "£20.00" and before["Total open"] == "£0.00"

    page.goto(f"{live_server.url}/billing/invoices/{invoice.pk}/")
    page.get_by_text("Refund…").click()
    page.get_by_label("Amount").fill("15.00")
    page.get_by_label("Paid back").select_option(label="To the card")
    page.get_by_label("Reason").fill("Heating broke, lesson cut short")
    page.get_by_label("Pay it out of the account credit").check()
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_text("Refund of £15.00 to the card.")).to_be_visible()
    assert Refund.objects.get().status == "succeeded"

    # the statement, from the payer's profile
    page.goto(f"{live_server.url}/clients/{payer.pk}/")
    page.locator(".account-panel").get_by_role("link", name="Statement").click()
    expect(page.get_by_role("heading", name="Statement for Olive Payer")).to_be_visible()
    statement = page.locator("#statement-results")
    expect(statement.get_by_role("row", name="Opening balance")).to_contain_text("£0.00")
    expect(statement).to_contain_text(f"Invoice {invoice.display_number}")
    expect(statement).to_contain_text(f"Payment on {invoice.display_number}")
    refund_row = statement.get_by_role("row").filter(has_text="Account credit paid back")
    expect(refund_row).to_contain_text("Heating broke, lesson cut short")
    expect(refund_row).to_contain_text("£15.00")
    expect(statement.get_by_role("row", name="Closing balance")).to_contain_text("-£5.00")
    expect(statement.get_by_text("In credit: the practice owes Olive Payer £5.00")).to_be_visible()

    with page.expect_download() as download:
        statement.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename.startswith(f"statement-{payer.pk}-")
    reader = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    pdf_text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert "Statement" in pdf_text and "Olive Payer" in pdf_text
    assert "Account credit paid back (to the card)" in pdf_text
    assert "Closing balance" in pdf_text and "In credit: the practice owes Olive Payer £5.00" in (
        pdf_text
    )

    page.get_by_role("button", name="Email statement").click()
    expect(page.get_by_text("Statement emailed to olive@example.com.")).to_be_visible()

    # the AR aging: the account credit went from £20.00 to £5.00; its CSV says so
    after = _aging_row(page, live_server, "Olive Payer")
    assert after["Account credit"] == "£5.00"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "Olive Payer,GBP,0,0.00,0.00,0.00,0.00,0.00,0.00,5.00" in text
    assert console_errors == []
    assert Account.objects.get(payer=payer).balance == Decimal("5.00")

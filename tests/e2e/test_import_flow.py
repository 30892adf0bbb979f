"""Importing clients from another product, in the browser, by the labels a user reads
(issue 12): a file with one bad row, the dry run naming its line, the fixed file
imported, the clients in the list."""

import pytest
from playwright.sync_api import expect

from clients.models import Client
from tests.factories import PASSWORD, UserFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "external_id,first_name,last_name,email,date_of_birth\n"
ROWS = [
    "A-1,Maria,Lopez,maria@example.com,1985-03-14\n",
    "A-2,Leo,Lopez,leo-at-example,2015-06-02\n",
    "A-3,Nina,Park,nina@example.com,\n",
]


def csv_file(rows):
    return {
        "name": "clients.csv",
        "mimeType": "text/csv",
        "buffer": (HEADER + "".join(rows)).encode(),
    }


def test_import_a_csv_with_one_bad_row_fix_it_and_import(page, live_server, console_errors):
    UserFactory(username="staff", role="staff")
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("link", name="Clients", exact=True).first.click()
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import clients")

    page.get_by_label("Clients", exact=True).check()
    page.get_by_label("CSV file").set_input_files(csv_file(ROWS))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Dry run")).to_be_visible()
    bad = page.get_by_role("row", name="Line 3")
    expect(bad).to_contain_text("valid email")
    expect(page.get_by_role("button", name="Import")).to_have_count(0)
    assert not Client.objects.exists()

    page.get_by_role("link", name="upload the file again").click()
    fixed = [ROWS[0], ROWS[1].replace("leo-at-example", "leo@example.com"), ROWS[2]]
    page.get_by_label("CSV file").set_input_files(csv_file(fixed))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("Would be created")).to_be_visible()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible()
    page.get_by_role("link", name="See the clients").click()
    for name in ("Lopez, Maria", "Lopez, Leo", "Park, Nina"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    assert Client.objects.count() == 3
    assert console_errors == []

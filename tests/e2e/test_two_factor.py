"""Two-factor authentication in the browser, by the labels: set it up from the
account menu (the key read from the page's text, as a user types it into an app),
then log out and in again with the code."""

from base64 import b32decode

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from opus.models import User
from tests.factories import PASSWORD, UserFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def app_code(secret_text: str, steps_ahead: int = 0) -> str:
    key = b32decode(secret_text.replace(" ", ""))
    return f"{totp(key, drift=steps_ahead):06d}"


def test_set_up_two_factor_and_log_in_with_the_code(page, live_server, console_errors):
    UserFactory(username="frontdesk", first_name="Fran", last_name="Desk", role=User.Role.STAFF)
    log_in(page, live_server, "frontdesk", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today, ")  # logged in

    page.get_by_text("Fran Desk").click()  # the account menu
    page.get_by_role("link", name="Two-factor authentication").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.locator(".qr-code svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code", exact=True).fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(app_code(secret))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Backup codes")).to_be_visible()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()

    page.get_by_text("Fran Desk").click()
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "frontdesk", PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    # the app's next code: the one shown now confirmed the setup, and a code works once
    page.get_by_label("Code", exact=True).fill(app_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today, ")  # logged in
    assert console_errors == []

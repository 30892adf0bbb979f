import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_empty_login_says_what_is_missing_at_each_field(page, live_server, console_errors):
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Username")).to_have_accessible_description("Enter your username.")
    expect(page.get_by_label("Password")).to_have_accessible_description("Enter your password.")
    expect(page.get_by_label("Username")).to_be_focused()

    page.get_by_label("Username").fill("maria")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Username")).to_have_value("maria")
    expect(page.get_by_text("Enter your username.")).to_have_count(0)
    expect(page.get_by_label("Password")).to_have_accessible_description("Enter your password.")
    expect(page.get_by_label("Password")).to_be_focused()
    assert console_errors == []

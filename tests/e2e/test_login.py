import pytest
from django.contrib.sessions.models import Session as StoredSession
from playwright.sync_api import expect

from opus.models import User
from tests.factories import PASSWORD, SessionDateFactory, UserFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_logs_in_to_today_and_reaches_the_schedule(page, live_server, console_errors):
    UserFactory(username="frontdesk", role=User.Role.STAFF)
    session_date = SessionDateFactory(session__service__name="Piano, 30 min private")
    log_in(page, live_server, "frontdesk", PASSWORD)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    for label in ("Schedule", "Clients", "Relationships", "Invoices"):
        expect(page.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today, ")  # the home page
    page.get_by_role("link", name="Schedule", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Week of")
    page.goto(f"{live_server.url}/schedule/?date={session_date.date:%Y-%m-%d}")
    # the service filter lists the name too: look for the session date itself
    expect(page.get_by_role("link", name="Piano, 30 min private")).to_be_visible()
    assert console_errors == []


def test_a_wrong_password_is_explained_and_the_username_kept(page, live_server):
    UserFactory(username="maria")
    log_in(page, live_server, "maria", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_label("Username")).to_have_value("maria")


def test_an_ended_session_sends_a_panel_click_to_the_login_page_and_back(page, live_server):
    UserFactory(username="frontdesk", role=User.Role.STAFF)
    session_date = SessionDateFactory(session__service__name="Piano, 30 min private")
    log_in(page, live_server, "frontdesk", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={session_date.date:%Y-%m-%d}")
    StoredSession.objects.all().delete()  # timed out, or logged out in another tab

    page.get_by_role("link", name="Piano, 30 min private").click()  # opens the panel (htmx)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/schedule/?date={session_date.date:%Y-%m-%d}")

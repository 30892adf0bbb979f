"""Staff invite a practitioner; the practitioner accepts the emailed invitation in a
fresh browser and logs in. Someone who forgot their password resets it through the
emailed link and logs in."""

import time

import pytest
from playwright.sync_api import expect

from devkit.models import DevMail
from opus.models import OutboundEmail, User
from tests.factories import PASSWORD, UserFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "violas and cellos 2031"


def wait_for(condition, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def dev_mailbox(settings, live_server):
    settings.MAILERS = {"default": {"BACKEND": "devkit.mail.DevMailboxBackend"}}
    settings.DEV_MAILBOX_ENABLED = True
    settings.OPUS_PUBLIC_URL = live_server.url


def test_invite_a_practitioner_who_accepts_in_a_fresh_browser_and_logs_in(
    page, browser, live_server, dev_mailbox, celery_worker_on_redis, console_errors
):
    UserFactory(username="frontdesk", role=User.Role.STAFF, first_name="Fran")
    log_in(page, live_server, "frontdesk", PASSWORD)
    page.get_by_role("link", name="Team").click()
    expect(page.get_by_role("heading", name="Team")).to_be_visible()
    page.get_by_label("First name").fill("Ivy")
    page.get_by_label("Last name").fill("Strings")
    page.get_by_label("Email").fill("ivy.strings@example.com")
    page.get_by_label("Role").select_option("practitioner")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("Invitation sent to ivy.strings@example.com.")).to_be_visible()
    row = page.get_by_role("row", name="Ivy Strings")
    expect(row).to_contain_text("Invited")
    expect(row).to_contain_text("Never")
    assert wait_for(
        lambda: OutboundEmail.objects.filter(template="invitation", status="sent").exists()
    )

    page.get_by_role("link", name="Sent mail").click()
    page.get_by_role("link", name="You are invited to Harbour Lane Studio on Opus").click()
    href = page.locator(".mail-body a[href*='/invitation/']").first.get_attribute("href")
    assert href and href.startswith(f"{live_server.url}/invitation/")

    fresh = browser.new_context().new_page()  # no session: the invited person's browser
    fresh.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    fresh.goto(href)
    expect(fresh.get_by_role("heading", name="Welcome, Ivy")).to_be_visible()
    fresh.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    fresh.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Set my password").click()
    expect(fresh.get_by_role("heading", name="Your password is set")).to_be_visible()
    fresh.get_by_role("link", name="Log in").click()
    fresh.get_by_label("Username").fill("ivy.strings@example.com")
    fresh.get_by_label("Password").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Log in").click()
    expect(fresh.locator(".usermenu summary")).to_contain_text("Ivy Strings")
    expect(fresh.get_by_role("link", name="Team")).to_have_count(0)  # staff only

    fresh.goto(href)  # the link worked once
    expect(
        fresh.get_by_role("heading", name="This invitation has already been used")
    ).to_be_visible()
    gone = [e for e in console_errors if "status of 410" in e]
    assert len(gone) == 1
    console_errors.remove(gone[0])

    page.goto(f"{live_server.url}/team/")
    expect(page.get_by_role("row", name="Ivy Strings")).to_contain_text("Active")
    assert console_errors == []


def test_reset_a_forgotten_password_through_the_emailed_link(
    page, browser, live_server, dev_mailbox, celery_worker_on_redis, console_errors
):
    UserFactory(username="tess", email="tess@example.com", first_name="Tess", last_name="Keys")
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Your email address").fill("tess@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert wait_for(lambda: DevMail.objects.filter(to__contains="tess@example.com").exists())
    body = DevMail.objects.get(to__contains="tess@example.com").body_text
    link = next(word for word in body.split() if "/password/reset/" in word)
    assert link.startswith(live_server.url)

    fresh = browser.new_context().new_page()
    fresh.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    fresh.goto(link)
    expect(fresh.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert fresh.url.endswith("/set-password/")  # the token left the address bar
    fresh.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    fresh.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Set my new password").click()
    expect(fresh.get_by_role("heading", name="Your password is changed")).to_be_visible()
    fresh.get_by_role("link", name="Log in").click()
    fresh.get_by_label("Username").fill("tess")
    fresh.get_by_label("Password").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Log in").click()
    expect(fresh.locator(".usermenu summary")).to_contain_text("Tess Keys")

    again = browser.new_context().new_page()
    again.goto(link)
    expect(again.get_by_role("heading", name="This link no longer works")).to_be_visible()
    assert console_errors == []

""" "Forgot password?": Django's reset in the product's look, queued in the outbox,
the same answer for known and unknown addresses, limited per address and account."""

import logging
import re

import pytest
from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from opus.lib.logging import RedactSecretsFilter
from opus.models import OutboundEmail, TeamEvent
from tests.factories import UserFactory
from tests.support.team import link_in, send_pending

pytestmark = pytest.mark.django_db

NEW = "a brand new secret 77"


@pytest.fixture
def member(db):
    return UserFactory(username="tess", email="tess@example.com", first_name="Tess")


def ask(client, email):
    return client.post(reverse("password_reset"), {"email": email})


def new_password(client, link, password=NEW):
    """Open the emailed link (it redirects to a page without the token), then post."""
    opened = client.get(link)
    assert opened.status_code == 302 and opened["Location"].endswith("/set-password/")
    form = client.get(opened["Location"])
    assert "Choose a new password" in form.content.decode()
    return client.post(opened["Location"], {"new_password1": password, "new_password2": password})


def test_the_login_page_links_to_it(client):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in page and "Forgot password?" in page
    form = client.get(reverse("password_reset"))
    assert form.status_code == 200 and "Your email address" in form.content.decode()


def test_the_same_answer_for_known_and_unknown_addresses(client, member):
    known = ask(client, "tess@example.com")
    unknown = ask(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("password_reset_done")
    done = client.get(known["Location"]).content.decode()
    assert "If an account uses that address" in done
    rows = list(OutboundEmail.objects.values("template", "to_address", "context"))
    assert rows == [
        {
            "template": "password_reset",
            "to_address": "tess@example.com",
            "context": {"user_id": member.pk},
        }
    ]  # the row names the user: no token at rest


def test_reset_through_the_emailed_link_then_log_in(client, member):
    ask(client, "TESS@example.com")
    (message,) = send_pending()
    assert message.to == ["tess@example.com"]
    assert "Choose a new password" in message.subject
    link = link_in(message)
    done = new_password(client, link)
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert "Your password is changed" in client.get(done["Location"]).content.decode()
    member.refresh_from_db()
    assert member.check_password(NEW)
    assert TeamEvent.objects.filter(user=member, kind="password_reset").exists()
    browser = HttpClient()
    login = browser.post(reverse("login"), {"username": "tess", "password": NEW})
    assert login.status_code == 302
    # the link worked once: Django's token changes with the password
    again = HttpClient().get(link)
    assert "This link no longer works" in again.content.decode()


def test_a_weak_password_is_refused(client, member):
    ask(client, "tess@example.com")
    (message,) = send_pending()
    refused = new_password(client, link_in(message), "short")
    assert refused.status_code == 200 and "too short" in refused.content.decode()
    member.refresh_from_db()
    assert not member.check_password("short")


def test_an_invalid_link_says_so(client, member):
    response = client.get(reverse("password_reset_confirm", args=["MQ", "abc-def"]))
    assert response.status_code == 200
    assert "This link no longer works" in response.content.decode()


def test_limited_per_address(client, member):
    for _ in range(5):
        assert ask(client, "tess@example.com")["Location"] == reverse("password_reset_done")
    assert OutboundEmail.objects.count() == 3  # OPUS_PASSWORD_RESET_LIMITS: 3 an hour


def test_limited_per_account_whatever_the_spelling(client, member, settings):
    settings.OPUS_PASSWORD_RESET_LIMITS = (10, 3600)
    member.email = "Tess@Example.com"
    member.save()
    for spelling in (
        "tess@example.com",
        "TESS@EXAMPLE.COM",
        "Tess@example.com",
        "tess@EXAMPLE.com",
    ):
        ask(client, spelling)
    assert OutboundEmail.objects.count() == 4
    settings.OPUS_PASSWORD_RESET_LIMITS = (3, 3600)
    ask(client, "tEss@example.com")  # a fifth spelling: the account's count is over
    assert OutboundEmail.objects.count() == 4


def test_no_email_for_the_deactivated_or_the_not_yet_joined(client):
    UserFactory(email="gone@example.com", is_active=False)
    invited = UserFactory(email="new@example.com")
    invited.set_unusable_password()
    invited.save()
    ask(client, "gone@example.com")
    ask(client, "new@example.com")
    assert not OutboundEmail.objects.exists()


def test_an_email_queued_for_someone_who_left_is_not_sent(client, member):
    ask(client, "tess@example.com")
    member.is_active = False
    member.save()
    assert send_pending() == []
    assert not mail.outbox


def test_the_reset_link_is_redacted_from_the_logs(client, member, caplog):
    caplog.set_level(logging.INFO)
    ask(client, "tess@example.com")
    (message,) = send_pending()
    link = link_in(message)
    token = link.strip("/").split("/")[-1]
    client.get(link)
    client.get(link.replace(token, token[:-3] + "zzz"))  # a wrong token
    logging.getLogger("django.request").warning("Not Found: %s", link)  # as Django logs a 404
    redact = RedactSecretsFilter()
    logged = []
    for record in caplog.records:
        redact.filter(record)
        logged.append(record.getMessage())
    text = "\n".join(logged)
    assert "/password/reset/[redacted]/" in text
    assert token not in text
    assert not re.search("tess@example.com", text)

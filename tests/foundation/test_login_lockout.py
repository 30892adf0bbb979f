"""The login lockout behind a shared address (an office, a TLS proxy), the
address it reads, and what a failed login leaves in the logs."""

import logging
import re

import pytest
from axes.models import AccessAttempt
from django.test import Client as HttpClient
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"


def login(client, username, password, **headers):
    return client.post(
        reverse("login"), {"username": username, "password": password}, headers=headers
    )


def test_made_up_usernames_from_one_address_never_lock_out_a_real_user(therapist):
    """docs/quality.md Security 15: five failures under made-up usernames, then a real
    user's right password from the same address logs in."""
    office = HttpClient(REMOTE_ADDR="192.0.2.10")
    for i in range(5):
        assert login(office, f"made-up-{i}", "wrong-password").status_code == 200
    colleague = HttpClient(REMOTE_ADDR="192.0.2.10")
    response = login(colleague, "therapist", PASSWORD)
    assert response.status_code == 302
    assert colleague.session["_auth_user_id"] == str(therapist.pk)


def test_behind_the_proxy_an_anonymous_client_does_not_lock_out_the_practice(therapist, settings):
    settings.OPUS_TRUSTED_PROXIES = [PROXY]
    stranger = HttpClient(REMOTE_ADDR=PROXY)
    for i in range(8):
        login(stranger, f"guess-{i}", "wrong-password", x_forwarded_for="198.51.100.66")
    colleague = HttpClient(REMOTE_ADDR=PROXY)
    assert login(colleague, "therapist", PASSWORD, x_forwarded_for="203.0.113.5").status_code == 302


def test_behind_the_proxy_the_lockout_records_the_address_the_proxy_saw(therapist, settings):
    settings.OPUS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    login(HttpClient(REMOTE_ADDR=PROXY), "therapist", "wrong", x_forwarded_for="198.51.100.66")
    assert AccessAttempt.objects.get().ip_address == "198.51.100.66"


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(therapist, settings):
    settings.OPUS_TRUSTED_PROXIES = []
    login(HttpClient(REMOTE_ADDR="192.0.2.10"), "therapist", "wrong", x_forwarded_for="10.9.9.9")
    assert AccessAttempt.objects.get().ip_address == "192.0.2.10"


def test_a_username_is_locked_from_every_address_after_five_failures(therapist, settings):
    """The lock is on the username (and on username + address), so spreading the
    guesses over many addresses, real or spoofed through the proxy, gains nothing."""
    settings.OPUS_TRUSTED_PROXIES = [PROXY]
    for i in range(5):
        client = HttpClient(REMOTE_ADDR=PROXY)
        login(client, "therapist", "wrong", x_forwarded_for=f"198.51.100.{i}")
    elsewhere = HttpClient(REMOTE_ADDR=PROXY)
    assert login(elsewhere, "therapist", PASSWORD, x_forwarded_for="203.0.113.5").status_code == 429
    assert "_auth_user_id" not in elsewhere.session


# --- the empty form ------------------------------------------------------------------------------


def test_an_empty_form_says_what_is_missing_at_each_field(db):
    response = HttpClient().post(reverse("login"), {"username": "", "password": ""})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<p class="error" id="id_username_error">Enter your username.</p>' in page
    assert '<p class="error" id="id_password_error">Enter your password.</p>' in page
    assert 'aria-describedby="id_username_error"' in page
    assert 'aria-describedby="id_password_error"' in page
    assert 'aria-invalid="true"' in page


def test_a_missing_password_keeps_the_username_and_asks_for_the_password(db):
    response = HttpClient().post(reverse("login"), {"username": "therapist", "password": ""})
    page = response.content.decode()
    assert 'value="therapist"' in page
    assert re.search(r'<input type="password"[^>]* autofocus', page)
    assert "Enter your password." in page
    assert "Enter your username." not in page


def test_a_wrong_password_still_says_so_above_the_form(therapist):
    response = login(HttpClient(), "therapist", "wrong-password")
    assert "Please enter a correct username and password" in response.content.decode()


# --- the logs -------------------------------------------------------------------------------------


def test_failed_logins_log_neither_the_username_nor_the_address(therapist, caplog, settings):
    settings.OPUS_TRUSTED_PROXIES = [PROXY]
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level:
            caplog.set_level(logging.DEBUG, logger=name)
    client = HttpClient(REMOTE_ADDR=PROXY)
    for username in ["therapist"] * 6 + ["nobody-zq7"]:
        login(client, username, "wrong-password", x_forwarded_for="198.51.100.66")
    login(HttpClient(REMOTE_ADDR="192.0.2.77"), "therapist", PASSWORD)  # locked: refused

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Locking out" in logged  # the failures and the lockout were logged
    labels = set(re.findall(r'username: "([0-9a-f]{12})"', logged))
    assert len(labels) == 2  # a pseudonym per username: repeated failures can still be told
    for secret in ("therapist", "nobody-zq7", "198.51.100.66", "192.0.2.77"):
        assert secret not in logged

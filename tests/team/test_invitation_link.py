"""The invitation link /invitation/<token>/: the card link's discipline. Hashed at
rest, GET and HEAD change nothing, only a successful POST spends it, 410 once used,
replaced, expired or withdrawn, 404 unknown, 429 for an address that keeps guessing."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.test import Client as HttpClient
from django.utils import timezone

from opus import team
from opus.lib.logging import RedactSecretsFilter
from opus.models import Invitation, User
from tests.support.team import invitation_url, invite
from tests.support.web import assert_security_headers

pytestmark = pytest.mark.django_db

PASSWORD = "a long new secret 42"


def post(password=PASSWORD, again=None):
    return {"new_password1": password, "new_password2": again or password}


def assert_link_headers(response):
    assert_security_headers(response)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


@pytest.fixture
def live(staff):
    return invite(staff)


def test_get_twice_and_head_change_nothing_then_the_post_sets_the_password(client, live):
    invitation, token = live
    for _ in range(2):
        page = client.get(invitation_url(token))
        assert page.status_code == 200
        assert_link_headers(page)
        assert "Welcome, Ivy" in page.content.decode()
        assert "ivy@example.com" in page.content.decode()  # the username they will use
    assert client.head(invitation_url(token)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.used_at is None
    done = client.post(invitation_url(token), post())
    assert done.status_code == 200
    assert "Your password is set" in done.content.decode()
    user = User.objects.get(pk=invitation.user_id)
    assert user.check_password(PASSWORD)
    assert not client.cookies.get("sessionid")  # the link logs no one in


def test_a_second_post_finds_the_link_used(client, live):
    _, token = live
    assert client.post(invitation_url(token), post()).status_code == 200
    again = client.post(invitation_url(token), post("another long secret 43"))
    assert again.status_code == 410
    assert_link_headers(again)
    assert "already been used" in again.content.decode()
    assert client.get(invitation_url(token)).status_code == 410


def test_a_weak_or_mismatched_password_is_refused_and_the_link_stays_live(client, live):
    invitation, token = live
    weak = client.post(invitation_url(token), post("short"))
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    mismatch = client.post(invitation_url(token), post(PASSWORD, "something else 99"))
    assert "match" in mismatch.content.decode()
    invitation.refresh_from_db()
    assert invitation.used_at is None
    assert not User.objects.get(pk=invitation.user_id).has_usable_password()


def test_an_expired_link_answers_410(client, live):
    invitation, token = live
    with time_machine.travel(invitation.expires_at + timedelta(seconds=1)):
        response = client.get(invitation_url(token))
        assert response.status_code == 410
        assert "has expired" in response.content.decode()
        assert client.post(invitation_url(token), post()).status_code == 410
    assert not User.objects.get(pk=invitation.user_id).has_usable_password()


def test_a_replaced_link_answers_410_and_the_new_one_works(client, staff, live):
    invitation, old = live
    new = team.resend_invitation(user=invitation.user, actor=staff)
    response = client.get(invitation_url(old))
    assert response.status_code == 410
    assert "newer invitation" in response.content.decode()
    assert client.post(invitation_url(team.invitation_token(new)), post()).status_code == 200


def test_a_deactivated_persons_link_answers_410(client, staff, live):
    invitation, token = live
    team.deactivate_user(user=invitation.user, actor=staff)
    assert client.get(invitation_url(token)).status_code == 410
    assert client.post(invitation_url(token), post()).status_code == 410


def test_unknown_tokens_answer_404_then_429_from_one_address(client, live):
    _, token = live
    for i in range(10):
        response = client.get(invitation_url(f"{i:02d}" + "B" * 41))
        assert response.status_code == 404
    assert_link_headers(response)
    limited = client.get(invitation_url("C" * 43))
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert client.get(invitation_url(token)).status_code == 200  # a live link still opens
    other = HttpClient(REMOTE_ADDR="198.51.100.7")
    assert other.get(invitation_url("C" * 43)).status_code == 404
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert client.get(invitation_url("C" * 43)).status_code == 404


def test_only_get_head_and_post(client, live):
    _, token = live
    assert client.put(invitation_url(token)).status_code == 405
    assert client.delete(invitation_url(token)).status_code == 405


def test_the_token_is_stored_only_hashed(live):
    invitation, token = live
    stored = str(list(Invitation.objects.values()))
    assert token not in stored
    assert invitation.nonce in stored


def test_no_token_or_password_reaches_the_logs(client, live, caplog):
    _, token = live
    caplog.set_level(logging.INFO)
    client.get(invitation_url("Q" * 43))
    client.post(invitation_url(token), post())
    client.post(invitation_url(token), post())  # 410: Django logs the path
    redact = RedactSecretsFilter()
    logged = []
    for record in caplog.records:
        redact.filter(record)
        logged.append(record.getMessage())
    text = "\n".join(logged)
    assert "/invitation/[redacted]/" in text
    for secret in (token, "Q" * 43, PASSWORD):
        assert secret not in text

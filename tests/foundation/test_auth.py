import re
import time

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session as StoredSession
from django.core.exceptions import ValidationError
from django.test import Client as HttpClient
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def without_per_request_secrets(response) -> str:
    text = response.content.decode()
    text = re.sub(r'nonce="[^"]+"', "", text)
    return re.sub(r'"x-csrftoken": "[^"]+"', "", text)


def login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_page_and_login(therapist):
    client = HttpClient()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'<label for="id_username">Username</label>' in page.content
    response = login(client, "therapist", PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("scheduling:schedule")).status_code == 200


def test_login_rotates_the_session_key(therapist):
    client = HttpClient()
    client.get(reverse("login"))
    client.session["probe"] = 1
    before = client.session.session_key
    login(client, "therapist", PASSWORD)
    assert client.session.session_key != before


def test_logout_kills_the_session_server_side(therapist):
    client = HttpClient()
    login(client, "therapist", PASSWORD)
    key = client.session.session_key
    assert StoredSession.objects.filter(session_key=key).exists()
    client.post(reverse("logout"))
    assert not StoredSession.objects.filter(session_key=key).exists()


def test_logout_by_get_is_refused(therapist_client):
    assert therapist_client.get(reverse("logout")).status_code == 405


def test_sixth_failure_is_refused_the_same_for_real_and_unknown_usernames(therapist):
    real, unknown = HttpClient(REMOTE_ADDR="10.0.0.1"), HttpClient(REMOTE_ADDR="10.0.0.2")
    for _ in range(4):
        assert login(real, "therapist", "wrong-password").status_code == 200
        assert login(unknown, "nobody-here", "wrong-password").status_code == 200
    # the fifth failure is the last one allowed: from now on the username is locked
    assert login(real, "therapist", "wrong-password").status_code == 429
    assert login(unknown, "nobody-here", "wrong-password").status_code == 429
    sixth_real = login(real, "therapist", PASSWORD)  # even the right password
    sixth_unknown = login(unknown, "nobody-here", PASSWORD)
    assert sixth_real.status_code == sixth_unknown.status_code == 429
    assert without_per_request_secrets(sixth_real) == without_per_request_secrets(sixth_unknown)
    assert "_auth_user_id" not in real.session


def test_idle_timeout_logs_out(therapist_client, settings):
    assert therapist_client.get(reverse("clients:list")).status_code == 200
    session = therapist_client.session
    session["_opus_seen"] = time.time() - 31 * 60
    session.save()
    response = therapist_client.get(reverse("clients:list"))
    assert response.status_code == 302


def test_absolute_timeout_logs_out(therapist_client):
    therapist_client.get(reverse("clients:list"))
    session = therapist_client.session
    session["_opus_started"] = time.time() - 12 * 3600 - 1
    session.save()
    assert therapist_client.get(reverse("clients:list")).status_code == 302


def test_password_change_ends_the_other_sessions(therapist):
    here, elsewhere = HttpClient(), HttpClient()
    login(here, "therapist", PASSWORD)
    login(elsewhere, "therapist", PASSWORD)
    response = here.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-fresh-passphrase-42",
            "new_password2": "a-fresh-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert here.get(reverse("clients:list")).status_code == 200
    assert elsewhere.get(reverse("clients:list")).status_code == 302


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678901", "therapist-1"])
def test_weak_passwords_are_refused(therapist, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user=therapist)


def test_passwords_are_hashed_with_argon2(therapist):
    assert therapist.password.startswith("argon2")


# --- a fragment asked for after the session ended ---------------------------------------

HX_FROM_THE_SCHEDULE = {
    "HX-Request": "true",
    "HX-Current-URL": "http://testserver/schedule/?date=2026-12-07&view=week",
}


def test_a_fragment_after_logout_opens_the_login_page_in_full_and_comes_back(therapist):
    client = HttpClient()
    response = client.get(reverse("clients:list"), {"q": "ann"}, headers=HX_FROM_THE_SCHEDULE)
    assert response.status_code == 200 and response.content == b""
    assert (
        response["HX-Redirect"] == "/login/?next=%2Fschedule%2F%3Fdate%3D2026-12-07%26view%3Dweek"
    )
    landed = client.post(response["HX-Redirect"], {"username": "therapist", "password": PASSWORD})
    assert landed["Location"] == "/schedule/?date=2026-12-07&view=week"


def test_a_fragment_after_the_idle_timeout_opens_the_login_page_in_full(therapist_client):
    session = therapist_client.session
    session["_opus_started"] = session["_opus_seen"] = time.time() - 31 * 60
    session.save()
    response = therapist_client.get(reverse("clients:list"), headers=HX_FROM_THE_SCHEDULE)
    assert response["HX-Redirect"].startswith("/login/?next=%2Fschedule%2F")


def test_a_current_url_on_another_host_is_not_followed(therapist):
    headers = {"HX-Request": "true", "HX-Current-URL": "https://evil.example/phish"}
    response = HttpClient().get(reverse("clients:list"), {"q": "x"}, headers=headers)
    assert response["HX-Redirect"] == "/login/?next=%2Fclients%2F%3Fq%3Dx"


def test_without_htmx_the_login_redirect_is_a_plain_redirect(therapist):
    response = HttpClient().get(reverse("clients:list"), headers={"HX-Current-URL": "/x/"})
    assert response.status_code == 302 and "HX-Redirect" not in response


def test_a_form_posted_after_logout_comes_back_to_its_page_not_to_a_post_only_url(therapist):
    """Starting a transfer is POST-only: after logging in again the user is sent
    back to the page the form was on, not to a GET the URL refuses (405)."""
    client = HttpClient()
    response = client.post(
        reverse("scheduling:transfer-start"),
        {"subscription": "1", "date": "2026-12-07"},
        headers={"Referer": "http://testserver/clients/5/?tab=subscriptions"},
    )
    assert response["Location"] == "/login/?next=%2Fclients%2F5%2F%3Ftab%3Dsubscriptions"
    landed = client.post(response["Location"], {"username": "therapist", "password": PASSWORD})
    assert landed["Location"] == "/clients/5/?tab=subscriptions"


def test_a_form_posted_from_another_site_goes_to_the_plain_login_page(therapist):
    response = HttpClient().post(
        reverse("scheduling:transfer-start"), headers={"Referer": "https://evil.example/x"}
    )
    assert response["Location"] == "/login/"

import pytest
from django.urls import reverse

from tests.support.web import assert_security_headers

pytestmark = pytest.mark.django_db


def test_pages_carry_the_security_headers(therapist_client):
    response = therapist_client.get(reverse("scheduling:schedule"))
    assert_security_headers(response)
    assert "no-store" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"]


def test_the_login_page_and_a_404_carry_them_too(client, therapist_client):
    assert_security_headers(client.get(reverse("login")))
    assert_security_headers(therapist_client.get("/no-such-page/"))


def test_htmx_fragments_carry_them(therapist_client):
    response = therapist_client.get(reverse("scheduling:schedule"), headers={"HX-Request": "true"})
    assert_security_headers(response)


def test_the_script_tags_carry_the_nonce(therapist_client):
    response = therapist_client.get(reverse("scheduling:schedule"))
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert response.content.count(f'nonce="{nonce}"'.encode()) >= 2


def test_healthz_reports_database_and_broker(client):
    response = client.get(reverse("healthz"))
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] in {"ok", "unavailable"}
    assert response.status_code == (200 if body["broker"] == "ok" else 503)


def test_state_changing_post_needs_a_csrf_token(therapist):
    from django.test import Client as HttpClient

    client = HttpClient(enforce_csrf_checks=True)
    client.force_login(therapist)
    assert client.post(reverse("logout")).status_code == 403
    client.get(reverse("scheduling:schedule"))
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("logout"), headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 302


def test_a_500_is_the_products_page_with_the_headers(therapist, settings):
    from django.test import Client as HttpClient

    settings.ROOT_URLCONF = "tests.foundation.boom_urls"
    client = HttpClient(raise_request_exception=False)
    client.force_login(therapist)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"forced failure" not in response.content
    assert_security_headers(response)

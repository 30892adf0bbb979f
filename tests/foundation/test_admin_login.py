"""The Django admin has no login form of its own: /admin/login/ sends everyone to the
product's login (the one with the lockout, the messages and the session rules)."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client as HttpClient

from opus.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(username="boss", role=User.Role.STAFF, is_staff=True, is_superuser=True)


def test_anonymous_users_are_sent_to_the_product_login_with_where_they_were_going():
    client = HttpClient()
    response = client.get("/admin/login/", {"next": "/admin/opus/user/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/opus/user/"
    assert client.get("/admin/login/")["Location"] == "/login/?next=/admin/"


def test_the_admin_login_form_is_not_served_and_takes_no_password(admin_user):
    client = HttpClient()
    assert b'name="password"' not in client.get("/admin/login/", follow=False).content
    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert SESSION_KEY not in client.session


def test_an_unsafe_next_is_not_followed():
    response = HttpClient().get("/admin/login/", {"next": "https://evil.example/"})
    assert response["Location"] == "/login/?next=/admin/"


def test_from_the_admin_to_the_login_and_back(admin_user):
    client = HttpClient()
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/?next=/admin/"
    response = client.post(
        "/login/?next=/admin/", {"username": "boss", "password": PASSWORD, "next": "/admin/"}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # logged in, the admin's login URL goes straight on
    assert client.get("/admin/login/", {"next": "/admin/opus/user/"})["Location"] == (
        "/admin/opus/user/"
    )


def test_a_user_who_may_not_use_the_admin_is_refused_not_looped(therapist_client):
    assert therapist_client.get("/admin/login/").status_code == 403

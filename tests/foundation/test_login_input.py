"""Found by the fuzz test (issue 9 item 9g): a username longer than any account's
reached authenticate() and the lockout record (varchar 255): a 500. It is answered
as an unknown username is, before anyone is authenticated."""

import pytest
from axes.models import AccessAttempt
from django.test import Client as Browser
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("length", [151, 10_000])
def test_an_over_long_username_is_answered_as_an_unknown_one(length):
    response = Browser(raise_request_exception=True).post(
        reverse("login"), {"username": "x" * length, "password": "whatever-it-is"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not AccessAttempt.objects.exists()


def test_a_username_of_the_longest_length_is_still_checked(staff):
    response = Browser().post(reverse("login"), {"username": "x" * 150, "password": "wrong"})
    assert response.status_code == 200
    assert AccessAttempt.objects.get().failures_since_start == 1

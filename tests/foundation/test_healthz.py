"""issue 9 item 9f: /healthz answers 503 with its JSON while the database is down,
with a session cookie or without: nothing reads the session or the user first."""

from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import Client as Browser
from django.urls import reverse

from tests.support.broker import free_port


@contextmanager
def database_down():
    """The default connection points at a port where nothing listens (as when
    PostgreSQL is stopped) for the block; then back."""
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cookie", ["logged in", "stale", "none"])
def test_healthz_answers_503_with_its_json_while_the_database_is_down(therapist, cookie):
    browser = Browser(raise_request_exception=True)
    if cookie == "logged in":
        browser.force_login(therapist)
    elif cookie == "stale":
        browser.cookies["sessionid"] = "x" * 32
    with database_down():
        response = browser.get(reverse("healthz"))
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "degraded"
    assert response.json()["database"] == "unavailable"
    assert "no-store" in response["Cache-Control"]
    assert "Set-Cookie" not in response.headers  # the session was never read, nor ended


@pytest.mark.django_db
def test_healthz_with_a_session_reads_no_session(therapist, django_assert_num_queries):
    """Up, with a cookie: the probe asks the database one thing (SELECT 1) and the
    worker's heartbeat, and never loads the session or the user."""
    browser = Browser()
    browser.force_login(therapist)
    with django_assert_num_queries(2):
        response = browser.get(reverse("healthz"))
    assert response.json()["database"] == "ok"

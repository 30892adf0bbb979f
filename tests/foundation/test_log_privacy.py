"""docs/quality.md Security 12: what Opus logs while it transfers, migrates (with its
email), answers card links and fails holds no personal data or token."""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing.paylinks import ensure_pay_link
from billing.services import request_payment_card
from billing.tokens import pay_token_for, token_for
from opus import team
from opus.lib.logging import RedactSecretsFilter
from opus.models import OutboundEmail, User
from opus.services import send_outbound
from relationships.models import Relationship
from tests.factories import ClientFactory, RelationshipFactory, UserFactory
from tests.support.billing import open_invoice
from tests.support.broker import free_port
from tests.support.deployment import (
    ROOT,
    STRONG_KEY,
    compose_gunicorn_command,
    production_env,
)
from tests.support.transfer import build_world

pytestmark = pytest.mark.django_db


def test_logs_hold_no_personal_data_or_tokens(staff, staff_client, therapist, caplog, settings):
    caplog.set_level(logging.INFO)  # production's level; SQL stays at WARNING
    world = build_world(therapist)
    ava = world["subscription"].client
    oliver = ClientFactory(
        first_name="Oliverius",
        last_name="Grantham",
        email="oliverius@example.com",
        phone="07700 911222",
    )
    sam = ClientFactory(
        first_name="Samwise",
        last_name="Riverdale",
        email="samwise@example.com",
        phone="",
        date_of_birth=date(1996, 9, 14),
    )
    friend = RelationshipFactory(payer=oliver, attendee=sam, practitioner=therapist)

    # a transfer, through its pages
    start = staff_client.post(
        reverse("scheduling:transfer-start"),
        {"subscription": world["subscription"].pk, "date": world["next_monday"].isoformat()},
    )
    target = start["Location"]
    staff_client.post(target, {"session": world["wednesday"].pk})
    dates = target.replace("/target/", "/dates/")
    staff_client.post(
        dates,
        {
            "first_date": world["next_wednesday"].isoformat(),
            "end_date": world["next_monday"].isoformat(),
        },
    )
    finish = target.replace("/target/", "/finish/")
    assert staff_client.post(finish, {"how": "pay_later"}).status_code == 302

    # a migration with its card email, sent by the outbox
    staff_client.post(
        reverse("relationships:migrate", args=[friend.pk]),
        {"requested_by": "attendee", "request_note": "Samwise phoned"},
    )
    staff_client.post(
        reverse("relationships:migrate-details", args=[friend.pk]),
        {"phone": "07700 933444", "action": "confirm"},
    )
    assert Relationship.objects.filter(kind="first_party", attendee=sam).exists()
    for row in OutboundEmail.objects.all():
        assert send_outbound(row.pk) == "sent"
    card_request = sam.card_requests.get()
    token = token_for(card_request)

    # card links: good, unknown; and a forced 500
    anonymous = HttpClient(raise_request_exception=False)
    assert anonymous.get(reverse("billing:card-link", args=[token])).status_code == 200
    assert anonymous.get(reverse("billing:card-link", args=["Q" * 43])).status_code == 404
    # an invoice's pay link: good, unknown
    pay_token = pay_token_for(ensure_pay_link(open_invoice(payer=ava)))
    assert anonymous.get(reverse("billing:pay-link", args=[pay_token])).status_code == 200
    assert anonymous.get(reverse("billing:pay-link", args=["P" * 43])).status_code == 404
    settings.ROOT_URLCONF = "tests.foundation.boom_urls"
    failing = HttpClient(raise_request_exception=False)
    failing.force_login(staff)
    assert failing.get("/boom/", {"client": "whoever"}).status_code == 500

    redact = RedactSecretsFilter()
    lines = []
    for record in caplog.records:
        redact.filter(record)
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
    logged = "\n".join(lines)
    # what was logged: the outbox sends, the 404 path (redacted) and the 500's traceback
    assert "sending outbox row" in logged and "Not Found: /card/[redacted]/" in logged
    assert "Internal Server Error: /boom/" in logged
    assert "Not Found: /pay/[redacted]/" in logged
    secrets = [token, pay_token, "P" * 43, "Q" * 43, "07700 933444", "07700 911222", "1996-09-14"]
    for person in (ava, oliver, sam, world["relationship"].payer):
        secrets += [person.first_name, person.last_name, person.email]
    for secret in secrets:
        assert not re.search(re.escape(secret), logged), secret


# --- docs/quality.md Security 16: gunicorn's access log, run as production runs it ---------------
@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_as_compose_runs_it_holds_no_token_or_search(settings, tmp_path):
    settings.SECRET_KEY = STRONG_KEY  # the server's key: its links and sessions
    staff = UserFactory(username="staffer", role=User.Role.STAFF)
    pat = ClientFactory(first_name="Patricia", email="patricia.q@example.com")
    card_request = request_payment_card(client=pat, actor=staff, reason="Piano")
    token = token_for(card_request)
    invitation = team.invite_user(
        first_name="Ivy", last_name="Vited", email="ivy.q@example.com", role="staff", actor=staff
    )
    invitation_token = team.invitation_token(invitation)
    reset_uid = urlsafe_base64_encode(force_bytes(staff.pk))
    session = HttpClient()
    session.force_login(staff)
    staff.refresh_from_db()
    reset_token = default_token_generator.make_token(staff)  # after the login it depends on
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.cookies[settings.SESSION_COOKIE_NAME].value}"

    env = production_env(STATIC_ROOT=str(tmp_path / "static"))
    subprocess.run(  # as the production image is built
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 - read after the server stops
    server = subprocess.Popen(
        compose_gunicorn_command(port, tmp_path),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    https = {"X-Forwarded-Proto": "https"}  # as the TLS proxy in front of it says

    def get(path, **headers):
        request = urllib.request.Request(base + path, headers={**https, **headers})  # noqa: S310
        try:
            with no_redirects.open(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    no_redirects = urllib.request.build_opener(NoRedirect)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        statuses = {
            "live link": get(f"/card/{token}/"),
            "made-up link": get(f"/card/{'Q' * 43}/"),
            "invitation": get(f"/invitation/{invitation_token}/"),
            "made-up invitation": get(f"/invitation/{'Q' * 43}/"),
            "reset link": get(f"/password/reset/{reset_uid}/{reset_token}/"),
            "search by email": get("/clients/?q=patricia.q%40example.com", Cookie=cookie),
            "search by phone": get(
                "/clients/?q=07700+955666", Cookie=cookie, **{"HX-Request": "true"}
            ),
            "search, logged out": get("/clients/?q=patricia.q@example.com"),
            "from a search page": get(
                "/healthz", Referer=f"https://127.0.0.1/clients/?q=07700%20955666&t={token}"
            ),
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    log.seek(0)
    logged = log.read()
    log.close()

    assert '"GET /clients/ HTTP/1.1" 200' in logged, logged  # the access log is there
    assert '"GET /card/[redacted]/ HTTP/1.1" 200' in logged, logged
    assert '"GET /invitation/[redacted]/ HTTP/1.1" 200' in logged, logged
    assert '"GET /password/reset/[redacted]/ HTTP/1.1" 302' in logged, logged
    for secret in (
        token,
        invitation_token,
        reset_token.lower(),
        "ivy.q",
        "Q" * 43,
        "patricia",
        "%40example",
        "07700",
        "955666",
    ):
        assert secret not in logged.lower(), secret
    assert statuses == {
        "live link": 200,
        "made-up link": 404,
        "invitation": 200,
        "made-up invitation": 404,
        "reset link": 302,
        "search by email": 200,
        "search by phone": 200,
        "search, logged out": 302,
        "from a search page": 200,
    }


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

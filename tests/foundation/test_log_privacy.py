"""quality.md Security 12: what Opus logs while it transfers, migrates (with its
email), answers card links and fails holds no personal data or token."""

import logging
import re
from datetime import date

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from billing.tokens import token_for
from opus.lib.logging import RedactSecretsFilter
from opus.models import OutboundEmail
from opus.services import send_outbound
from relationships.models import Relationship
from tests.factories import ClientFactory, RelationshipFactory
from tests.transfer.conftest import build_world

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
    secrets = [token, "Q" * 43, "07700 933444", "07700 911222", "1996-09-14"]
    for person in (ava, oliver, sam, world["relationship"].payer):
        secrets += [person.first_name, person.last_name, person.email]
    for secret in secrets:
        assert not re.search(re.escape(secret), logged), secret

"""The old relationship's history says when it ended, never a time not yet come
(issue 9, minor): it said "Ended" at 23:59 of the day of the migration."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from frontdesk import relationship_flows as services
from relationships.models import Relationship
from tests.factories import ClientFactory, PaymentMethodFactory, RelationshipFactory

pytestmark = pytest.mark.django_db


def history_of(client, relationship) -> str:
    page = client.get(reverse("relationships:detail", args=[relationship.pk])).content.decode()
    return page.split('id="history-title"')[1].split("</ol>")[0]


def test_ended_says_the_time_of_the_migration(therapist_client, therapist):
    at = datetime(2026, 3, 5, 10, 15, tzinfo=ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(at, tick=False):
        attendee = ClientFactory(first_name="Sam", date_of_birth=date(1996, 9, 14))
        old = RelationshipFactory(
            payer=ClientFactory(first_name="Oliver"), attendee=attendee, practitioner=therapist
        )
        PaymentMethodFactory(client=attendee)
        migration = services.start_migration(
            relationship=old, actor=therapist, requested_by="attendee", request_note="phoned"
        )
        services.confirm_migration(migration=migration, actor=therapist)
        history = history_of(therapist_client, old)
    ended = [line for line in history.split("<li>") if "Ended:" in line]
    assert len(ended) == 1 and "5 Mar 2026, 10:15" in ended[0]
    assert "23:59" not in history


def test_an_end_without_a_migration_shows_the_day_alone(therapist_client, therapist):
    old = RelationshipFactory(practitioner=therapist, started_on=date(2026, 1, 5))
    Relationship.objects.filter(pk=old.pk).update(
        status=Relationship.Status.ENDED, ended_on=date(2026, 3, 5), end_reason="Moved away"
    )
    history = history_of(therapist_client, old)
    ended = [line for line in history.split("<li>") if "Ended: Moved away" in line]
    assert len(ended) == 1
    assert '<time datetime="2026-03-05">5 Mar 2026</time>' in ended[0]
    assert ", 23:59" not in history and ", 00:00" not in history

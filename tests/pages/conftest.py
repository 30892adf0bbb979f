import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction

from devkit.models import SimulatedGatewayCard, SimulatedGatewayCharge, SimulatedGatewayRefund
from tests.capacity import no_date_left_over_capacity  # noqa: F401 (autouse)

# A Wednesday in term: the demo builds its dates around "today" and has no Sunday
# sessions, so the module runs on this day, whatever day the suite runs on.
LARGE_PRACTICE_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(scope="module")
def large_practice(django_db_setup, django_db_blocker):
    """The large demo practice (seed_demo --size large), built once per module
    inside a transaction that is rolled back afterwards: every test of the module
    runs in a savepoint on top of it, and other modules never see it (nor the cards
    it left in the simulated gateway's ledger). Time stands
    still at LARGE_PRACTICE_NOW for the whole module."""
    with time_machine.travel(LARGE_PRACTICE_NOW, tick=False):
        with django_db_blocker.unblock():
            atomic = transaction.atomic()
            atomic.__enter__()
            call_command("seed_demo", size="large", stdout=io.StringIO())
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        try:
            yield
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                atomic.__exit__(None, None, None)
                # the seed's cards went to the simulated gateway's ledger through its
                # own connection, which the rollback does not reach
                SimulatedGatewayRefund.objects.all().delete()
                SimulatedGatewayCharge.objects.all().delete()
                SimulatedGatewayCard.objects.all().delete()


@pytest.fixture
def world(therapist):
    """A session of the therapist's with a coming date: Sam Rivera, paid for by
    Oliver Grant (third party), and Ava Adams (first party), both subscribed."""
    from types import SimpleNamespace

    from tests.factories import (
        ClientFactory,
        RelationshipFactory,
        SessionFactory,
        SubscriptionFactory,
        coming_date,
    )

    session = SessionFactory(
        practitioner=therapist, capacity=3, service__name="Piano, 30 min private"
    )
    session_date = coming_date(session)
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera", phone="07700 900456")
    third_party = RelationshipFactory(payer=oliver, attendee=sam)
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    return SimpleNamespace(
        session=session,
        date=session_date,
        oliver=oliver,
        sam=sam,
        ava=ava,
        third_party=third_party,
        sam_sub=SubscriptionFactory(relationship=third_party, session=session),
        ava_sub=SubscriptionFactory(relationship=RelationshipFactory(payer=ava), session=session),
    )

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.factories import (
    BookingFactory,
    ClientFactory,
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)

# Tuesday 3 March 2026, noon in the practice's time zone: the Tuesday 10:00 session's
# date of today has started; next Tuesday's has not.
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def lesson(therapist, frozen):
    """The therapist's Tuesday 10:00 piano session: today's date (started) with
    Sam (paid for by Oliver) and Ava subscribed and Mia booked once; next
    Tuesday's date (to come)."""
    session = SessionFactory(
        practitioner=therapist,
        capacity=4,
        weekday=1,
        service__name="Piano, 30 min private",
        first_date=datetime(2026, 2, 3).date(),
    )
    today = SessionDateFactory(session=session, date=NOW.date())
    coming = SessionDateFactory(session=session, date=datetime(2026, 3, 10).date())
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    mia = ClientFactory(first_name="Mia", last_name="Moss")
    third_party = RelationshipFactory(payer=oliver, attendee=sam)
    return SimpleNamespace(
        session=session,
        service=session.service,
        today=today,
        coming=coming,
        oliver=oliver,
        sam=sam,
        ava=ava,
        mia=mia,
        third_party=third_party,
        sam_sub=SubscriptionFactory(relationship=third_party, session=session),
        ava_sub=SubscriptionFactory(relationship=RelationshipFactory(payer=ava), session=session),
        mia_booking=BookingFactory(relationship=RelationshipFactory(payer=mia), session_date=today),
    )

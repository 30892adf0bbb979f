from datetime import date, datetime, time
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine

from scheduling.services import generate_session_dates
from tests.factories import ClientFactory, RelationshipFactory, ServiceFactory, SessionFactory
from tests.support.web import logged_in

# A Wednesday: the Monday session's last date was 30 Nov, its next is 7 Dec
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/London"))
TODAY = NOW.date()


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def w(frozen, therapist):
    """Tess's Monday piano session (2 places) with dates from 2 Nov 2026 to Feb
    2027; Ava pays for herself, Oliver pays for Sam (third party)."""
    service = ServiceFactory(name="Piano, 30 min private", price=Decimal("30.00"))
    session = SessionFactory(
        service=service,
        practitioner=therapist,
        weekday=0,
        start_time=time(17, 0),
        capacity=2,
        first_date=date(2026, 11, 2),
    )
    generate_session_dates(session=session, until=date(2027, 2, 28))
    ava = ClientFactory(first_name="Ava", last_name="Adams")
    oliver = ClientFactory(first_name="Oliver", last_name="Grant")
    sam = ClientFactory(first_name="Sam", last_name="Rivera", date_of_birth=date(2016, 5, 1))
    return SimpleNamespace(
        service=service,
        session=session,
        ava=ava,
        ava_rel=RelationshipFactory(payer=ava, practitioner=therapist),
        oliver=oliver,
        sam=sam,
        sam_rel=RelationshipFactory(payer=oliver, attendee=sam, practitioner=therapist),
        next_monday=date(2026, 12, 7),
        last_monday=date(2026, 11, 30),
    )


@pytest.fixture
def desk(w, staff):
    """Staff, logged in at the frozen time."""
    return logged_in(staff)


@pytest.fixture
def tess(w, therapist):
    """The session's practitioner, logged in at the frozen time."""
    return logged_in(therapist)

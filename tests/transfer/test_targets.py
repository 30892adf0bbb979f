"""The transfer's list of sessions: those of the client's own service first
(issue 9, minor), each saying how many places its next date has left."""

from decimal import Decimal

import pytest

from frontdesk import selectors
from tests.factories import ServiceFactory, SessionFactory
from tests.support.transfer import start, step

pytestmark = pytest.mark.django_db


def test_sessions_of_the_same_service_come_first(world, staff, therapist):
    """Ava is in piano. "Guitar group" sorts before "Piano" by name: on main the
    guitar group came first and the other piano sessions last."""
    cello = ServiceFactory(name="Cello, 30 min", price=Decimal(30))
    SessionFactory(service=cello, practitioner=therapist, weekday=1)
    later_piano = SessionFactory(service=world["monday"].service, practitioner=therapist, weekday=5)
    sessions = selectors.transfer_targets(staff, world["subscription"])
    names = [(s.service.name, s.weekday) for s in sessions]
    assert names == [
        ("Piano, 30 min", 2),  # same service, in the existing order (weekday, time)
        ("Piano, 30 min", 5),
        ("Cello, 30 min", 1),  # then the others, by name
        ("Guitar group", 4),
    ]
    assert later_piano in sessions


def test_the_list_shows_places_as_people_say_them_same_service_first(staff_client, world):
    _, draft = start(staff_client, world)
    page = staff_client.get(step(draft, "target")).content.decode()
    assert "Places next time" in page
    assert "1 place free" in page  # Wednesday's piano: a private slot, free
    assert "2 of 2 places free" in page  # Friday's guitar group
    wednesday = page.index('<span class="visually-hidden"> Piano, 30 min, Wednesdays 10:00')
    friday = page.index('<span class="visually-hidden"> Guitar group, Fridays 10:00')
    assert wednesday < friday

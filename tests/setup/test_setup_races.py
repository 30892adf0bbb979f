"""Two staff creating sessions in the same room at the same time at once: the
room's lock makes one wait, so the second sees the first and is refused."""

from datetime import date, time

import pytest
import time_machine

from opus.lib.errors import BusinessRuleError
from scheduling import setup
from scheduling.models import Session
from tests.factories import RoomFactory, ServiceFactory, UserFactory
from tests.support.threads import run_together


@pytest.mark.django_db(transaction=True)
def test_two_clashing_sessions_created_at_once_one_is_refused():
    with time_machine.travel("2026-12-02 08:00 +00:00", tick=False):
        staff = UserFactory(role="staff")
        room = RoomFactory(name="Studio 1")
        service = ServiceFactory()
        teachers = [UserFactory(), UserFactory()]

        def create(teacher):
            return lambda: setup.create_session(
                service=service,
                practitioner=teacher,
                room=room,
                start_time=time(17, 0),
                duration_minutes=30,
                capacity=1,
                first_date=date(2026, 12, 7),
                last_date=None,
                actor=staff,
            )

        results = run_together([create(t) for t in teachers])
        assert sum(isinstance(r, Session) for r in results) == 1, results
        refused = [r for r in results if isinstance(r, BusinessRuleError)]
        assert len(refused) == 1 and "Studio 1 is taken" in refused[0].message
        assert Session.objects.count() == 1

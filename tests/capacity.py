"""docs/quality.md Reliability 14, checked after every test of the modules that call
the services: no coming session date is left over capacity. The conftests of
tests/transfer, tests/relationships and tests/pages use the fixture below."""

import pytest


@pytest.fixture(autouse=True)
def no_date_left_over_capacity(request):
    yield
    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if not uses_db:
        return
    from scheduling.selectors import overbooked_dates

    over = [
        f"{d.session.service.name} on {d.date}: {d.enrolled} for {d.session.capacity}"
        for d in overbooked_dates()
    ]
    assert not over, "left over capacity: " + "; ".join(over)


class Meeting:
    """Makes a step that runs after a service's checks, inside its transaction,
    wait until every racing party has got that far, or until one of them waits
    on a lock. Without a shared lock all get there and commit what each checked
    alone; with one, the others wait on it and the first goes on: the race is
    played out the same way every run, however slow the machine."""

    def __init__(self, parties: int, wait: float):
        import threading

        self.parties, self.wait = parties, wait
        self.condition = threading.Condition()
        self.count = 0

    def arrived(self, at_least: int = 1, timeout: float = 30) -> bool:
        """For a party that must start after another has passed its checks."""
        with self.condition:
            return self.condition.wait_for(lambda: self.count >= at_least, timeout=timeout)

    def _someone_waits_on_a_lock(self) -> bool:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return cursor.fetchone()[0] > 0

    def __call__(self, step):
        import time

        def meeting(*args, **kwargs):
            with self.condition:
                self.count += 1
                self.condition.notify_all()
            deadline = time.monotonic() + self.wait
            # polled with sleep, not a timed Condition.wait: under faketime (make
            # test-any-day) a timed wait on the faked monotonic clock never times out
            while time.monotonic() < deadline:
                with self.condition:
                    if self.count >= self.parties:
                        break
                if self._someone_waits_on_a_lock():
                    break
                time.sleep(0.05)
            return step(*args, **kwargs)

        return meeting


def meet_after_the_checks(monkeypatch, module, name: str, *, parties: int = 2, wait: float = 30):
    """Patch ``module.name`` to run as a ``Meeting`` of ``parties``."""
    meeting = Meeting(parties, wait)
    monkeypatch.setattr(module, name, meeting(getattr(module, name)))
    return meeting

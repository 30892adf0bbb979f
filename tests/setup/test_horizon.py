"""The rolling horizon (issue 11): the daily task keeps every session that is not
finished generated OPUS_SCHEDULE_HORIZON_WEEKS ahead, idempotent, also when two
workers run it at once, and the schedule never runs dry."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from scheduling import tasks
from scheduling.models import SessionDate
from scheduling.services import (
    extend_schedule,
    generate_session_dates,
    horizon,
    session_dates_to,
)
from tests.factories import SessionFactory
from tests.support.threads import run_together

START = "2026-12-02 08:00 +00:00"  # a Wednesday


def dates_of(session) -> list[date]:
    return list(session.dates.order_by("date").values_list("date", flat=True))


@pytest.mark.django_db
def test_the_horizon_is_a_setting(settings):
    settings.OPUS_SCHEDULE_HORIZON_WEEKS = 4
    assert horizon(date(2026, 12, 2)) == date(2026, 12, 30)


@pytest.mark.django_db
def test_the_task_generates_to_the_horizon_and_running_twice_adds_nothing():
    with time_machine.travel(START, tick=False):
        open_ended = SessionFactory(weekday=0, first_date=date(2026, 12, 7))
        started = SessionFactory(weekday=1, first_date=date(2026, 10, 6))
        generate_session_dates(session=started, until=date(2026, 12, 31))
        tasks.extend_schedule()
        assert dates_of(open_ended)[-1] == date(2027, 5, 31)  # the last Monday by 2 Jun 2027
        assert dates_of(started)[0] == date(2026, 10, 6)
        assert dates_of(started)[-1] == date(2027, 6, 1)
        count = SessionDate.objects.count()
        assert tasks.extend_schedule() == 0
        assert SessionDate.objects.count() == count


@pytest.mark.django_db
def test_a_session_with_a_last_date_gets_nothing_past_it():
    with time_machine.travel(START, tick=False):
        ending = SessionFactory(weekday=0, first_date=date(2026, 12, 7), last_date=date(2027, 1, 4))
        one_off = SessionFactory(
            weekday=0, first_date=date(2026, 12, 14), last_date=date(2026, 12, 14)
        )
        later = SessionFactory(weekday=0, first_date=date(2028, 1, 3))  # beyond the horizon
        tasks.extend_schedule()
        assert dates_of(ending) == [date(2026, 12, 7) + timedelta(weeks=i) for i in range(5)]
        assert dates_of(one_off) == [date(2026, 12, 14)]
        assert dates_of(later) == []


@pytest.mark.django_db
def test_dates_are_not_regenerated_before_the_last_generated_one():
    """A date removed on purpose (a session ended, then extended) stays removed:
    only dates after the last generated one are added."""
    with time_machine.travel(START, tick=False):
        session = SessionFactory(weekday=0, first_date=date(2026, 12, 7))
        generate_session_dates(session=session, until=date(2027, 1, 31))
        session.dates.filter(date=date(2026, 12, 14)).delete()
        extend_schedule(until=date(2027, 3, 1))
        assert date(2026, 12, 14) not in dates_of(session)
        assert dates_of(session)[-1] == date(2027, 3, 1)


@pytest.mark.django_db
def test_the_task_works_in_chunks_of_sessions():
    with time_machine.travel(START, tick=False):
        sessions = [SessionFactory(weekday=i % 7, first_date=date(2026, 12, 7)) for i in range(7)]
        extend_schedule(until=date(2027, 1, 31), chunk=3)
        assert all(dates_of(s)[-1] > date(2027, 1, 24) for s in sessions)


@pytest.mark.django_db
def test_the_run_is_a_few_queries_whatever_the_number_of_sessions(django_assert_max_num_queries):
    with time_machine.travel(START, tick=False):
        for i in range(30):
            SessionFactory(weekday=i % 7, first_date=date(2026, 12, 7), start_time=time(9, i))
        with django_assert_max_num_queries(8):  # read, one bulk insert (and its savepoint)
            tasks.extend_schedule()
        with django_assert_max_num_queries(1):  # nothing to add: one query
            tasks.extend_schedule()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_add_each_date_once():
    with time_machine.travel(START, tick=False):
        sessions = [SessionFactory(weekday=i % 7, first_date=date(2026, 12, 7)) for i in range(20)]
        results = run_together([tasks.extend_schedule, tasks.extend_schedule])
        assert not [r for r in results if isinstance(r, Exception)], results
        assert SessionDate.objects.count() == sum(len(dates_of(s)) for s in sessions)
        for session in sessions:
            days = dates_of(session)
            assert len(days) == len(set(days))
            assert len(days) == len(session_dates_to(session, horizon()))


@pytest.mark.django_db
@pytest.mark.parametrize("weeks", [26, 30])
def test_the_schedule_shows_the_horizon_after_a_run_a_year_later(client, staff, settings, weeks):
    """Created with dates to its horizon; a year passes with no run (the schedule
    ran dry); one run later the schedule shows the session ``weeks`` ahead."""
    settings.OPUS_SCHEDULE_HORIZON_WEEKS = weeks
    with time_machine.travel(START, tick=False):
        session = SessionFactory(weekday=0, first_date=date(2026, 12, 7))
        tasks.extend_schedule()
    with time_machine.travel("2027-12-01 08:00 +00:00", tick=False):  # a Wednesday
        ahead = date(2027, 12, 1) + timedelta(weeks=weeks)
        client.force_login(staff)
        schedule = reverse("scheduling:schedule")
        monday = ahead - timedelta(days=ahead.weekday())
        assert not session.dates.filter(date__gte=date(2027, 12, 1)).exists()  # ran dry
        tasks.extend_schedule()
        week = client.get(schedule, {"date": f"{ahead:%Y-%m-%d}"})
        assert week.status_code == 200
        shown = reverse("scheduling:session-date", args=[session.dates.get(date=monday).pk])
        assert shown.encode() in week.content

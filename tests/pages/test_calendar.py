"""The calendar: the week and day views on a time grid (blocks placed by
classes, coloured by service, fill, the now line, columns by practitioner or
room), the phone's agenda, the stylesheet's placement classes, and a query count
that does not grow with the week's sessions."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.calendar import MAX_ROWS, time_grid
from scheduling.calendar_css import stylesheet
from tests.factories import RoomFactory, ServiceFactory, SessionDateFactory, SessionFactory

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
# a Wednesday, mid-morning: the week runs Mon 7 to Sun 13 December 2026
NOW = datetime(2026, 12, 9, 10, 40, tzinfo=LONDON)
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def at(day: date, hour: int, minute: int = 0, *, minutes: int = 30, session=None, **kwargs):
    session = session or SessionFactory(
        weekday=day.weekday(), start_time=time(hour, minute), **kwargs
    )
    starts = datetime.combine(day, time(hour, minute), tzinfo=LONDON)
    return SessionDateFactory(
        session=session, date=day, starts_at=starts, ends_at=starts + timedelta(minutes=minutes)
    )


def body(client, **params) -> str:
    """The page with its whitespace runs made single spaces."""
    return " ".join(
        client.get(reverse("scheduling:schedule"), params).content.decode().split()
    ).replace(" >", ">")


def test_a_block_is_placed_and_sized_by_its_time(staff_client):
    sd = at(date(2026, 12, 10), 10, 15, minutes=45, service=ServiceFactory(name="Cello"))
    page = body(staff_client)
    # 08:00 is the grid's first row: 10:15 is row 10 (15-minute rows), 45 minutes span 3
    colour = f"svc-{sd.session.service_id % 8}"
    assert f'class="cal-block r-10 s-3 {colour}"' in page
    assert (
        f'<a class="slot" href="/schedule/dates/{sd.pk}/" hx-get="/schedule/dates/{sd.pk}/">'
        in page
    )
    assert '<span class="cal-count" aria-hidden="true">0/2</span>' in page
    assert "style=" not in page.split('id="schedule"')[1]  # the CSP forbids inline styles


def test_the_grid_grows_to_hold_an_early_and_a_late_session(staff_client):
    at(date(2026, 12, 8), 6, 30)
    at(date(2026, 12, 8), 21, 0, minutes=60)
    page = body(staff_client)
    assert ">06:00</span>" in page and ">21:00</span>" in page and ">22:00</span>" not in page
    assert 'class="cal-block r-3 s-2' in page  # 06:30, the grid starting at 06:00


def test_the_week_opens_on_this_week_with_today_and_the_now_line(staff_client):
    page = body(staff_client)
    assert "Week of 7 December 2026" in page
    assert 'class="cal-col today" aria-labelledby="c20261209"' in page
    # 10:40 is in the row of 10:30 (the 11th from 08:00); one now line, on today alone
    assert page.count('class="cal-now') == 1 and '<span class="cal-now r-11">' in page
    assert ">Next week →</a>" in page and 'data-shortcut="n"' in page
    # the phone's agenda of the coming days leaves out Monday and Tuesday
    assert page.count('class="cal-col past"') == 2


def test_no_now_line_and_no_past_days_on_another_week(staff_client):
    page = body(staff_client, date="2026-12-16")
    assert "cal-now" not in page and "cal-col past" not in page and "cal-col today" not in page


def test_the_day_view_puts_practitioners_or_rooms_across(staff_client, therapist, other_therapist):
    day = date(2026, 12, 9)
    at(day, 9, practitioner=therapist, room=RoomFactory(name="Studio A"))
    at(day, 9, practitioner=other_therapist, room=RoomFactory(name="Blue room"))
    at(day, 11, practitioner=therapist, room=None)
    people = body(staff_client, view="day", date="2026-12-09")
    titles = [
        h.split("</h2>")[0].split(">", 1)[1].strip()
        for h in people.split('class="cal-head" id="c')[1:]
    ]
    assert titles == ["Otto Two", "Tess One"]  # a column each, by name
    rooms = body(staff_client, view="day", date="2026-12-09", across="room")
    titles = [
        h.split("</h2>")[0].split(">", 1)[1].strip()
        for h in rooms.split('class="cal-head" id="c')[1:]
    ]
    assert titles == ["Blue room", "Studio A", "No room"]
    assert 'aria-current="page">Rooms</a>' in rooms


def test_a_day_without_sessions_still_shows_its_hours(staff_client):
    page = body(staff_client, view="day", date="2026-12-20")
    assert "No sessions" in page and ">08:00</span>" in page


def test_the_month_view_sets_other_months_apart_and_more_opens_the_day(staff_client):
    session = SessionFactory(weekday=2, start_time=time(9, 0))
    for hour in range(9, 15):
        at(date(2026, 12, 2), hour, session=session if hour == 9 else None)
    page = body(staff_client, view="month")
    assert "mday outside" in page  # 30 November
    assert ">+2 more</a>" in page
    assert "view=day&amp;date=2026-12-02" in page


def test_a_practitioner_sees_only_their_blocks(therapist_client, therapist, other_therapist):
    mine = at(date(2026, 12, 10), 9, practitioner=therapist)
    theirs = at(date(2026, 12, 10), 9, practitioner=other_therapist)
    page = body(therapist_client)
    assert f"/schedule/dates/{mine.pk}/" in page and f"/schedule/dates/{theirs.pk}/" not in page
    day = body(therapist_client, view="day", date="2026-12-10", across="room")
    assert f"/schedule/dates/{theirs.pk}/" not in day


def test_the_fragment_is_the_calendar_alone(staff_client):
    at(date(2026, 12, 10), 9)
    response = staff_client.get(reverse("scheduling:schedule"), {"view": "day"}, headers=HX)
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="schedule"') and "<html" not in text
    assert 'class="cal cal-day"' in text and "HX-Request" in response["Vary"]


@pytest.mark.parametrize("across", ["room", "practitioner", "nobody", "<script>", ""])
def test_any_columns_choice_is_safe(staff_client, across):
    response = staff_client.get(reverse("scheduling:schedule"), {"view": "day", "across": across})
    assert response.status_code == 200


def count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("scheduling:schedule"), params).status_code == 200
    return len(queries)


@pytest.mark.parametrize("view", ["week", "day"])
def test_the_query_count_does_not_grow_with_the_sessions(staff_client, view):
    def add(count):
        for i in range(count):
            at(date(2026, 12, 9 + i % 3), 8 + i % 10, 15 * (i % 4))

    add(3)
    count_queries(staff_client, {})  # the session's first write happens here
    small = count_queries(staff_client, {"view": view, "date": "2026-12-09"})
    add(30)
    large = count_queries(staff_client, {"view": view, "date": "2026-12-09"})
    assert small == large <= 9  # session, user, the filters' choices, the dates


def test_the_layout_sits_overlapping_dates_in_one_column_and_clips_the_day():
    slots = [
        {
            "pk": 1,
            "date": date(2026, 12, 9),
            "start_minute": 9 * 60,
            "end_minute": 10 * 60,
            "service_id": 9,
        },
        {
            "pk": 2,
            "date": date(2026, 12, 9),
            "start_minute": 9 * 60 + 30,
            "end_minute": 24 * 60,
            "service_id": 3,
        },
    ]
    grid = time_grid(slots, days=[date(2026, 12, 9)], now=NOW)
    assert grid.rows == (24 - 8) * 4
    first, second = grid.columns[0].blocks
    assert first["place"] == "r-5 s-4 svc-1"
    assert second["place"] == "r-7 s-58 svc-3"  # clipped at midnight, inside the grid
    assert grid.columns[0].now_row == 11


def test_the_stylesheet_holds_every_placement_class_and_is_up_to_date():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static/css/calendar.css").read_text()
    assert css == stylesheet(), "run: PYTHONPATH=. python scheduling/calendar_css.py"
    assert f".r-{MAX_ROWS}{{" in css and f".s-{MAX_ROWS}{{" in css

"""The calendar, Today and the quick search in the browser, by the labels a user
reads: the week opens on today with "Next week" one click away, a block opens its
session date, arrow keys move between blocks, "/" focuses the search and a
result opens a client, Today shows what is waiting."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling.selectors import week_start
from tests.factories import (
    PASSWORD,
    ClientFactory,
    InvoiceFactory,
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
)
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MONDAY = date(2030, 1, 7)  # a week of its own, whatever today is


def block(day: date, hour: int, name: str, minutes: int = 60):
    session = SessionFactory(
        weekday=day.weekday(), start_time=time(hour), service__name=name, first_date=day
    )
    starts = datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())
    return SessionDateFactory(
        session=session, date=day, starts_at=starts, ends_at=starts + timedelta(minutes=minutes)
    )


def title(day: date) -> str:
    return f"Week of {day.day} {day:%B %Y}"


def test_the_week_opens_on_today_and_next_week_is_one_click(
    page, live_server, staff, console_errors
):
    log_in(page, live_server, "staff", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Schedule").click()
    monday = week_start(timezone.localdate())
    expect(page.get_by_role("heading", level=1)).to_have_text(title(monday))
    today = page.locator(".cal-col.today")
    expect(today).to_be_visible()
    expect(today.get_by_text("Today", exact=True)).to_be_visible()
    page.get_by_role("link", name="Next week →").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title(monday + timedelta(days=7)))
    page.keyboard.press("p")  # the shortcut for the previous week
    expect(page.get_by_role("heading", level=1)).to_have_text(title(monday))
    page.keyboard.press("n")
    expect(page.get_by_role("heading", level=1)).to_have_text(title(monday + timedelta(days=7)))
    page.keyboard.press("t")
    expect(page.get_by_role("heading", level=1)).to_have_text(title(monday))
    assert console_errors == []


def test_arrow_keys_move_between_blocks_and_a_block_opens_its_date(
    page, live_server, staff, console_errors
):
    block(MONDAY, 9, "Piano")
    block(MONDAY, 11, "Cello")
    block(MONDAY + timedelta(days=1), 10, "Violin")
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={MONDAY:%Y-%m-%d}")
    piano = page.locator("a.slot", has_text="Piano")
    cello = page.locator("a.slot", has_text="Cello")
    violin = page.locator("a.slot", has_text="Violin")
    piano.focus()
    page.keyboard.press("ArrowDown")
    expect(cello).to_be_focused()
    page.keyboard.press("ArrowRight")  # Tuesday's block nearest in time
    expect(violin).to_be_focused()
    page.keyboard.press("ArrowLeft")  # 10:00-11:00: as near 09:00 as 11:00, the earlier wins
    expect(piano).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(cello).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(piano).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=1)).to_contain_text("Piano")
    assert console_errors == []


def test_slash_focuses_the_search_and_a_result_opens_the_client(
    page, live_server, staff, console_errors
):
    sam = ClientFactory(first_name="Sam", last_name="Rivera")
    RelationshipFactory(payer=ClientFactory(first_name="Oliver", last_name="Grant"), attendee=sam)
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/")
    page.keyboard.press("/")
    box = page.get_by_role("searchbox", name="Search clients, relationships and invoices")
    expect(box).to_be_focused()
    page.keyboard.type("rive")
    results = page.locator("#quick-results")
    expect(results.get_by_role("heading", name="Clients")).to_be_visible()
    results.get_by_role("link", name="Sam Rivera").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sam Rivera")
    assert console_errors == []


def test_today_shows_what_is_waiting(page, live_server, staff, console_errors):
    today = timezone.localdate()
    InvoiceFactory(
        payer=ClientFactory(first_name="Olga", last_name="Owes"),
        status="open",
        number=41,
        issued_on=today - timedelta(days=40),
        due_on=today - timedelta(days=10),
        total=Decimal("60.00"),
    )
    log_in(page, live_server, "staff", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    waiting = page.get_by_role("region", name="Waiting")
    overdue = waiting.get_by_role("region", name="Invoices overdue")
    expect(overdue).to_contain_text("Olga Owes")
    overdue.get_by_role("link", name="INV-000041").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("INV-000041")
    assert console_errors == []


def test_on_a_phone_the_week_is_an_agenda(page, live_server, staff, console_errors):
    block(MONDAY, 9, "Piano")
    block(MONDAY + timedelta(days=2), 10, "Violin")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={MONDAY:%Y-%m-%d}")
    expect(page.locator(".cal-hours")).to_be_hidden()  # no time grid: a list of days
    piano = page.locator("a.slot", has_text="Piano")
    violin = page.locator("a.slot", has_text="Violin")
    expect(piano).to_contain_text("2 of 2 places free")
    assert piano.bounding_box()["y"] < violin.bounding_box()["y"]  # the days run down
    widest = page.evaluate("() => document.documentElement.scrollWidth")
    assert widest <= 390
    assert console_errors == []

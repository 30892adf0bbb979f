"""Issue 11's proof, in a real browser, by the labels a user reads: from a practice
with nothing in it but one staff user, set the practice up and run it without the
Django admin. Add a room, a service and a weekly session; add a child whose parent
pays (third party) and an adult who pays for themselves; enrol both; see them on
the schedule's coming weeks; close the practice for a week and see those dates
cancelled; withdraw one client."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clients.models import Client
from frontdesk.models import Withdrawal
from relationships.models import Relationship
from scheduling.models import Room, Service, Session, SessionDate, Subscription
from tests.factories import PASSWORD, next_weekday
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_client(page, first: str, last: str, born: str, email: str) -> None:
    page.get_by_role("link", name="Clients", exact=True).first.click()
    page.get_by_role("link", name="Add client").click()
    page.get_by_label("First name", exact=True).fill(first)
    page.get_by_label("Last name", exact=True).fill(last)
    page.get_by_label("Date of birth").fill(born)
    if email:
        page.get_by_label("Email address (optional)", exact=True).fill(email)


def enrol_from_profile(page, name: str, first_date) -> None:
    page.get_by_role("link", name="Clients", exact=True).first.click()
    page.get_by_role("link", name=name).click()
    page.get_by_role("link", name="Enrol", exact=True).click()
    page.get_by_label("Session").select_option(index=1)
    page.get_by_label("First date").fill(first_date.isoformat())
    page.get_by_role("button", name="Enrol", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("is enrolled")


def test_an_empty_practice_is_set_up_and_run_without_the_admin(page, live_server, staff):
    # a coming Monday at least two days away, so every date below is still to come
    first = next_weekday(0, timezone.localdate() + timedelta(days=2))
    closed = first + timedelta(weeks=2)  # the Monday of the closed week
    assert not (Client.objects.exists() or Service.objects.exists() or Room.objects.exists())
    log_in(page, live_server, "staff", PASSWORD)
    visited = []
    page.on("request", lambda request: visited.append(request.url))

    # the setup: a room, a service, a weekly session
    page.get_by_role("link", name="Setup").click()
    page.get_by_role("link", name="Rooms").click()
    page.get_by_role("link", name="Add room").click()
    page.get_by_label("Name").fill("Studio Blue")
    page.get_by_role("button", name="Save room").click()
    expect(page.get_by_role("status").first).to_contain_text("Room saved: Studio Blue.")

    page.get_by_role("link", name="Services").click()
    page.get_by_role("link", name="Add service").click()
    page.get_by_label("Name").fill("Piano, 30 min")
    page.get_by_label("Per session").check()
    page.get_by_label("Price").fill("30.00")
    page.get_by_role("button", name="Save service").click()
    expect(page.get_by_role("status").first).to_contain_text("Service saved: Piano, 30 min.")

    page.get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="Add session").click()
    page.get_by_label("Service").select_option(label="Piano, 30 min")
    page.get_by_label("First date").fill(first.isoformat())
    page.get_by_label("Start time").fill("16:00")
    page.get_by_label("Duration (minutes)").fill("30")
    page.get_by_label("Practitioner").select_option(label=staff.display_name)
    page.get_by_label("Room").select_option(label="Studio Blue")
    page.get_by_label("Capacity").fill("4")
    page.get_by_role("button", name="Create the session").click()
    expect(page.get_by_role("status").first).to_contain_text("Its dates are on the schedule")
    session = Session.objects.get()

    # a child whose parent pays (the parent created on the way), and an adult who pays
    add_client(page, "Lily", "Adams", "2016-05-04", "")
    page.get_by_label("Someone else pays").check()
    page.get_by_label("New organiser's first name").fill("Helen")
    page.get_by_label("New organiser's last name").fill("Adams")
    page.get_by_label("New organiser's email address").fill("helen@example.com")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_text("Helen Adams pays for their sessions")).to_be_visible()

    add_client(page, "Omar", "Okafor", "1985-09-12", "omar@example.com")
    page.get_by_label("The client pays for themselves").check()
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Omar Okafor")
    kinds = sorted(Relationship.objects.values_list("kind", flat=True))
    assert kinds == ["first_party", "third_party"]

    # both enrolled from their profiles
    enrol_from_profile(page, "Adams, Lily", first)
    enrol_from_profile(page, "Okafor, Omar", first)
    assert Subscription.objects.filter(session=session).count() == 2

    # the schedule's coming weeks show them: four weeks on, both on the roster
    later = first + timedelta(weeks=4)
    page.goto(f"{live_server.url}/schedule/?date={later:%Y-%m-%d}&view=week")
    page.locator("a.slot", has_text="Piano, 30 min").first.click()
    roster = page.locator("article.session-date")
    expect(roster.get_by_role("link", name="Lily Adams")).to_be_visible()
    expect(roster.get_by_role("link", name="Omar Okafor")).to_be_visible()
    page.keyboard.press("Escape")  # the session's panel closes

    # the practice closes for a week: the preview names both, the date is cancelled
    page.get_by_role("link", name="Closures").click()
    page.get_by_role("link", name="Add closure").click()
    page.get_by_label("The whole practice").check()
    page.get_by_label("First date").fill(closed.isoformat())
    page.get_by_label("Last date").fill((closed + timedelta(days=6)).isoformat())
    page.get_by_label("Reason").fill("Half term")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("section.closure-preview")
    expect(preview).to_contain_text("1 session date cancelled")
    expect(preview).to_contain_text("Lily Adams")
    expect(preview).to_contain_text("Omar Okafor")
    page.get_by_role("button", name="Confirm closure").click()
    expect(page.get_by_role("status").first).to_contain_text("Closed: Half term.")
    page.goto(f"{live_server.url}/schedule/?date={closed:%Y-%m-%d}&view=week")
    expect(page.locator("a.slot", has_text="Piano, 30 min")).to_contain_text("Cancelled: Half term")
    assert SessionDate.objects.get(session=session, date=closed).cancelled

    # Omar withdraws (schedule) after his first date
    page.goto(f"{live_server.url}/schedule/?date={first:%Y-%m-%d}&view=week")
    page.locator("a.slot", has_text="Piano, 30 min").first.click()
    roster = page.locator("article.session-date")
    roster.locator("summary", has_text="Actions for Omar Okafor").click()
    roster.get_by_role("link", name="Withdraw").click()
    expect(page.get_by_role("heading", name="Withdraw Omar Okafor")).to_be_visible()
    page.get_by_label("Schedule").check()
    page.get_by_role("button", name="Withdraw", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(
        re.compile(r"Omar Okafor is withdrawn from Piano, 30 min")
    )
    assert Withdrawal.objects.get().reason == "schedule"
    omar = Subscription.objects.get(client__first_name="Omar")
    assert omar.end_date == first + timedelta(weeks=1)
    assert Subscription.objects.get(client__first_name="Lily").end_date is None

    # and at no point did the user go near the admin
    assert not [url for url in visited if "/admin/" in url]

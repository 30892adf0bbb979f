"""The staff pages in a real browser, walked by the labels a user reads, as staff
and as a practitioner, with axe-core checking each page (no violation of any
impact) and no console errors (CSP violations included)."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from devkit.management.commands.seed_demo import DEMO_PASSWORD
from tests.support.browser import log_in
from tests.support.browser_setup import AXE_RUN

# the roster's badge says whether the absence was told in time, by the service's policy
ABSENT_BADGE = re.compile(r"^Absent by request, (told in time|late)$")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def axe_page(page):
    """axe-core is injected by the browser (tests/e2e/conftest.py, an init script),
    not served by Opus: the page's strict CSP stays on, so CSP violations still show
    as console errors."""
    return page


def assert_accessible(page, where: str) -> None:
    violations = page.evaluate(AXE_RUN)
    assert violations == [], f"{where}: {violations}"


def actions_for(scope, name: str):
    """The "X" next to a client on the roster: a disclosure (summary) whose
    accessible name is "Actions for <name>"."""
    return scope.locator("summary", has_text=f"Actions for {name}")


def slot(page, text: str):
    return page.locator("a.slot", has_text=text)


def test_staff_walk_the_schedule_roster_and_clients(axe_page, live_server, demo, console_errors):
    page = axe_page
    log_in(page, live_server, "frontdesk", DEMO_PASSWORD)
    page.get_by_role("link", name="Schedule", exact=True).click()  # login lands on Today
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Week of")
    assert_accessible(page, "week")
    this_week = heading.inner_text()

    page.get_by_role("link", name="Next week →").click()
    expect(heading).not_to_have_text(this_week)
    expect(page).to_have_url(re.compile(r"date=\d{4}-\d{2}-\d{2}"))

    page.get_by_label("Practitioner").select_option(label="Maria Lopez")
    page.get_by_label("Service").select_option(label="Counselling, 50 min")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"service=\d+"))
    expect(slot(page, "Counselling")).not_to_have_count(0)
    expect(slot(page, "Piano")).to_have_count(0)
    expect(page.get_by_role("link", name="Next week →")).to_have_attribute(
        "href", re.compile("service=")
    )

    sams = slot(page, "11:30").first  # Sam Rivera's counselling, paid by Oliver Grant
    expect(sams).to_contain_text("Full")
    sams.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Counselling, 50 min")).to_be_visible()
    expect(dialog.get_by_text("Third party")).to_be_visible()
    expect(dialog.get_by_text("Oliver Grant")).to_be_visible()
    expect(dialog.get_by_role("link", name="Sam Rivera", exact=True)).to_be_visible()
    assert_accessible(page, "session-date panel")

    actions_for(dialog, "Sam Rivera").click()
    transfer = dialog.get_by_role("button", name="Transfer to another session")
    expect(transfer).to_be_in_viewport(ratio=1)  # not cut off by the panel's edge
    dialog.get_by_role("button", name="Unenroll from this date only").click()
    expect(dialog.get_by_text(ABSENT_BADGE)).to_be_visible()
    expect(dialog.get_by_role("status")).to_contain_text("unenrolled from this date only")
    expect(slot(page, "11:30").first).to_contain_text("1 place free")  # the schedule refreshed
    dialog.get_by_role("button", name="Undo absence of Sam Rivera").click()
    expect(dialog.get_by_text(ABSENT_BADGE)).to_have_count(0)
    expect(dialog.get_by_role("status")).to_contain_text("back on the roster")

    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(slot(page, "11:30").first).to_contain_text("Full")
    expect(slot(page, "11:30").first).to_be_focused()  # back where the user was

    page.get_by_role("link", name="Clients", exact=True).click()
    expect(heading).to_have_text("Clients")
    page.wait_for_load_state()  # htmx is ready
    assert_accessible(page, "clients list")
    page.get_by_label("Search by name, email or phone").fill("rivera")
    expect(page.get_by_role("status")).to_contain_text("1 client match")
    expect(page).to_have_url(re.compile(r"q=rivera"))
    assert_accessible(page, "clients search")
    page.get_by_role("link", name="Rivera, Sam").click()

    expect(heading).to_have_text("Sam Rivera")
    for section in ("Contact details", "Subscriptions", "Coming sessions", "Relationships"):
        expect(page.get_by_role("heading", name=re.compile(f"^{section}"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Update"))).to_be_visible()
    page.get_by_role("link", name="Edit contact details").click()
    page.get_by_label("Phone").fill("07700 900999")
    page.get_by_role("button", name="Save contact details").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: phone.")
    assert_accessible(page, "client profile")
    assert console_errors == []


def test_a_practitioner_walks_their_own_schedule_and_clients(
    axe_page, live_server, demo, console_errors
):
    page = axe_page
    log_in(page, live_server, "maria", DEMO_PASSWORD)
    page.get_by_role("link", name="Schedule", exact=True).click()  # login lands on Today
    expect(page.get_by_role("heading", level=1)).to_contain_text("Week of")
    expect(page.get_by_label("Practitioner")).to_have_count(0)
    metas = page.locator("a.slot .meta").all_inner_texts()
    assert metas and all(m.startswith("Maria Lopez") for m in metas)

    page.get_by_role("link", name="Next week →").click()
    expect(page).to_have_url(re.compile(r"date="))
    page.get_by_label("Service").select_option(label="Counselling, 50 min")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"service=\d+"))
    expect(slot(page, "Piano")).to_have_count(0)
    expect(slot(page, "Counselling")).not_to_have_count(0)

    slot(page, "11:30").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Third party")).to_be_visible()
    expect(dialog.get_by_role("link", name="Sam Rivera", exact=True)).to_be_visible()
    actions_for(dialog, "Sam Rivera").click()
    expect(dialog.get_by_role("button", name="Transfer to another session")).to_have_count(0)
    dialog.get_by_role("button", name="Unenroll from this date only").click()
    expect(dialog.get_by_text(ABSENT_BADGE)).to_be_visible()
    assert_accessible(page, "practitioner panel")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="Clients", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clients")
    page.wait_for_load_state()  # htmx is ready
    page.get_by_label("Search by name, email or phone").fill("okafor")
    expect(page.get_by_role("status")).to_contain_text("2 clients match")
    page.get_by_role("link", name="Okafor, Grace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Okafor")
    expect(page.get_by_role("button", name="Save contact details")).to_have_count(0)
    expect(page.get_by_text("Staff keep contact details up to date.")).to_be_visible()
    assert_accessible(page, "practitioner profile")
    page.get_by_role("link", name="Schedule", exact=True).click()
    page.get_by_role("link", name="Month", exact=True).click()
    expect(page).to_have_url(re.compile("view=month"))
    expect(page.get_by_role("heading", level=1)).not_to_contain_text("Week of")
    assert_accessible(page, "month")
    page.get_by_role("link", name="Day", exact=True).click()
    expect(page).to_have_url(re.compile("view=day"))
    assert_accessible(page, "day")
    assert console_errors == []


def test_the_roster_actions_work_from_the_keyboard(page, live_server, demo, console_errors):
    log_in(page, live_server, "frontdesk", DEMO_PASSWORD)
    page.get_by_role("link", name="Schedule", exact=True).click()  # login lands on Today
    page.get_by_role("link", name="Next week →").click()
    expect(page).to_have_url(re.compile(r"date="))
    for _ in range(60):  # Tab through the page to the first session date
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('slot')"):
            break
    shadow = page.evaluate("getComputedStyle(document.activeElement).boxShadow")
    assert "255, 191, 71" in shadow  # the visible focus ring
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    summary = dialog.locator("summary.x-button").first
    summary.focus()
    page.keyboard.press("Enter")
    expect(dialog.locator("details[open] .menu")).to_be_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert "Transfer to another session" in focused or "Unenroll" in focused
    assert console_errors == []


def test_without_javascript_a_session_date_opens_as_its_own_page(browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server, "frontdesk", DEMO_PASSWORD)
    page.get_by_role("link", name="Schedule", exact=True).click()  # login lands on Today
    page.get_by_role("link", name="Next week →").click()
    page.locator("a.slot").first.click()
    expect(page).to_have_url(re.compile(r"/schedule/dates/\d+/$"))
    expect(page.get_by_role("link", name="← Back to the schedule")).to_be_visible()
    expect(page.get_by_role("heading", name="Roster")).to_be_visible()
    page.locator("summary.x-button").first.click()
    page.get_by_role("button", name="Unenroll from this date only").first.click()
    expect(page.get_by_text(ABSENT_BADGE)).to_be_visible()
    page.goto(f"{live_server.url}/clients/?q=okafor")
    expect(page.get_by_text("2 clients match")).to_be_visible()
    context.close()

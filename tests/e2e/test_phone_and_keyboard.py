"""A phone (390 px wide) and a keyboard: long names wrap, the navigation fits, the
transfer's session list stacks, and each wizard step takes the focus to its heading."""

import re

import pytest
from playwright.sync_api import expect

from relationships.models import Relationship
from tests.factories import PASSWORD, ClientFactory, RelationshipFactory
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# 60 letters without a break, then words: 200 characters in all with the space
LONG_WORD = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewiss"[:60]
LONG_FIRST = f"{LONG_WORD} Anna-Maria Josephine Theodora Wilhelmina"[:100]
LONG_LAST = "de la Cruz Montgomery-Fitzwilliam Hohenzollern Castellanos y Villanueva Ortega"
LONG_LAST = (LONG_LAST + " Beaumont-Delacroix Sinclair")[:99]

OVERFLOW = """() => {
  const widest = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  const dialog = document.querySelector("dialog[open]");
  return {page: widest, dialog: dialog ? dialog.scrollWidth - dialog.clientWidth : 0};
}"""


@pytest.fixture
def world(staff, transfer_world):
    return transfer_world


def assert_fits(page, where: str) -> None:
    widths = page.evaluate(OVERFLOW)
    assert widths["page"] <= PHONE["width"], f"{where}: the page is {widths['page']} px wide"
    assert widths["dialog"] <= 0, f"{where}: the panel scrolls sideways by {widths['dialog']} px"


def test_a_very_long_name_wraps_on_every_page_at_390_px(page, live_server, world):
    ava = world["subscription"].client
    ava.first_name, ava.last_name = LONG_FIRST, LONG_LAST
    ava.save()
    assert len(ava.full_name) >= 200
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "staff", PASSWORD)

    page.goto(f"{live_server.url}/clients/{ava.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(LONG_WORD)
    assert_fits(page, "profile")

    page.goto(f"{live_server.url}/clients/")
    expect(page.get_by_role("link", name=re.compile(LONG_WORD)).first).to_be_visible()
    assert_fits(page, "client list")

    page.goto(f"{live_server.url}/relationships/{world['relationship'].pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(LONG_WORD)
    assert_fits(page, "relationship page")

    page.goto(f"{live_server.url}/schedule/?date={world['next_monday']:%Y-%m-%d}&view=day")
    page.locator("a.slot", has_text="Piano, 30 min").filter(has_text="10:00").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(LONG_WORD).first).to_be_visible()
    assert_fits(page, "schedule panel")

    dialog.locator("summary", has_text="Actions for").click()
    dialog.get_by_role("button", name="Transfer to another session").click()
    expect(page.get_by_role("heading", name="Choose the new session")).to_be_visible()
    assert_fits(page, "transfer wizard")


def test_on_a_phone_the_menu_reaches_every_link_of_the_navigation(
    page, live_server, world, settings, console_errors
):
    settings.DEV_MAILBOX_ENABLED = True
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/")
    assert_fits(page, "clients")
    nav = page.get_by_role("navigation", name="Main")
    names = ["Today", "Schedule", "Clients", "Relationships", "Invoices", "Sent mail"]

    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    menu.focus()
    page.keyboard.press("Enter")  # the keyboard opens it
    for name in names:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], (name, box)
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Today")).to_be_focused()
    page.keyboard.press("Escape")
    expect(nav.get_by_role("link", name="Sent mail")).to_be_hidden()

    menu.click()
    nav.get_by_role("link", name="Sent mail").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sent mail")
    assert console_errors == []


def test_on_a_wide_screen_the_navigation_shows_without_a_menu(page, live_server, world, settings):
    settings.DEV_MAILBOX_ENABLED = True
    log_in(page, live_server, "staff", PASSWORD)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    for name in ["Schedule", "Clients", "Relationships", "Invoices", "Sent mail"]:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_on_a_phone_the_transfer_sessions_stack_with_their_choose_buttons_in_view(
    page, live_server, world
):
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    expect(page.get_by_role("heading", name="Choose the new session")).to_be_visible()
    assert_fits(page, "target step")
    sideways = page.evaluate(
        "() => Array.from(document.querySelectorAll('#wizard *'))"
        ".filter((el) => el.scrollWidth > el.clientWidth + 1"
        " && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))"
        ".map((el) => el.className)"
    )
    assert sideways == [], f"scrolls sideways: {sideways}"
    buttons = page.get_by_role("button", name=re.compile("^Choose"))
    assert buttons.count() == 2
    for i in range(buttons.count()):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    row = page.get_by_role("row").filter(has_text="Guitar group")
    expect(row).to_contain_text("Fridays")
    expect(row.get_by_text("Tess One")).to_be_visible()  # the practitioner shows again


def test_each_transfer_step_moves_the_focus_to_its_heading(page, live_server, world):
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/clients/{world['subscription'].client_id}/")
    page.get_by_role("button", name=re.compile("^Update")).click()
    target = page.get_by_role("heading", name="Choose the new session")
    expect(target).to_be_visible()

    row = page.get_by_role("row").filter(has_text="Piano, 30 min").filter(has_text="Wednesdays")
    row.get_by_role("button", name=re.compile("^Choose")).click()
    expect(page.get_by_role("heading", name=re.compile("^New: Piano"))).to_be_focused()

    page.get_by_role("button", name="Payment").click()
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_focused()

    page.get_by_label("Amount or percentage").fill("5")
    page.get_by_label("Reason").fill("Loyalty")
    page.get_by_role("button", name="Add a discount").click()
    expect(page.get_by_role("button", name="Remove discount: Loyalty")).to_be_visible()
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_focused()

    page.get_by_role("link", name="New session").click()
    expect(target).to_be_focused()
    # a filter keeps the focus where it is
    page.get_by_label("Service").focus()
    page.get_by_label("Service").select_option(label="Guitar group")
    expect(page.get_by_role("row").filter(has_text="Piano")).to_have_count(0)
    expect(page.get_by_label("Service")).to_be_focused()


def test_the_migration_step_moves_the_focus_to_its_heading(page, live_server, staff):
    relationship = RelationshipFactory(
        payer=ClientFactory(first_name="Oliver", last_name="Grant"),
        attendee=ClientFactory(first_name="Sam", last_name="Rivera", phone=""),
    )
    assert relationship.kind == Relationship.Kind.THIRD_PARTY
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/relationships/{relationship.pk}/migrate/")
    page.get_by_label("The attendee").check()
    page.get_by_label("How did they ask?").fill("Sam phoned on Monday.")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm Migration").click()  # the phone number is missing
    expect(page.get_by_label("Phone number")).to_have_attribute("aria-invalid", "true")
    expect(
        page.get_by_role("heading", name="Migrate to first party relationship", level=1)
    ).to_be_focused()

"""The transfer by keyboard alone, from the schedule to the finished transfer,
counting every key pressed (the figure is printed and bounded)."""

import re

import pytest
from playwright.sync_api import expect

from frontdesk.models import Transfer
from tests.factories import PASSWORD
from tests.support.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MOST_KEYS = 27
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el) return "";
  const label = el.labels && el.labels[0] ? el.labels[0].innerText : "";
  const name = el.getAttribute("aria-label") || el.innerText || label || "";
  return name.replace(/\\s+/g, " ").trim();
}"""


class Keyboard:
    def __init__(self, page):
        self.page, self.presses, self.steps = page, 0, []

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.presses += 1

    def tab_to(self, name: str | re.Pattern, most: int = 40) -> None:
        """Tab until the focused element's name matches, as a user would."""
        seen = []
        for _ in range(most):
            self.press("Tab")
            focused = self.page.evaluate(FOCUSED)
            seen.append(focused[:60])
            if name.search(focused) if isinstance(name, re.Pattern) else focused == name:
                self.steps.append(len(seen))
                return
        raise AssertionError(f"{name!r} not reached by {most} presses of Tab: {seen}")


def test_a_transfer_by_keyboard_alone_from_the_schedule(page, live_server, staff, transfer_world):
    monday = transfer_world["next_monday"]
    log_in(page, live_server, "staff", PASSWORD)
    page.goto(f"{live_server.url}/schedule/?date={monday:%Y-%m-%d}")
    keys = Keyboard(page)

    keys.tab_to("Skip to the calendar")  # past the navigation, the views and the filters
    keys.press("Enter")
    keys.tab_to(re.compile(r"10:00.*Piano, 30 min"))
    keys.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    keys.tab_to(re.compile("^Transfer Ava"))
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Choose the new session")).to_be_focused()
    keys.tab_to(re.compile(r"^Choose Piano, 30 min, Wednesdays"))
    keys.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^New: Piano"))).to_be_focused()
    keys.press("Tab")  # the first date: Enter in a field takes the form's first button
    keys.press("Enter")
    expect(page.get_by_role("heading", name="The new subscription's invoice")).to_be_focused()
    keys.tab_to("Due date")  # Enter in the field takes its form's button, "Enroll and Pay Later"
    keys.press("Enter")

    expect(page.get_by_role("status").first).to_contain_text("moved to")
    assert Transfer.objects.count() == 1
    print(f"\nkey presses for the transfer: {keys.presses} (Tabs per step {keys.steps})")
    assert keys.presses <= MOST_KEYS, f"{keys.presses} key presses"

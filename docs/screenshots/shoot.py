"""Screenshots of the staff pages at 1280x800 and 390x844, with a check for
sideways scrolling and an axe-core run on each, against a running Opus with
the demo practice (`make run`). With --readme it also refreshes the few
screenshots README.md shows (README below), next to this script.

    .venv/bin/python docs/screenshots/shoot.py [--readme] [http://127.0.0.1:8000] [/tmp/opus-shots]

Writes <name>-1280.png and <name>-390.png (full page) to the output folder and
prints, per page and width, whether the page scrolls sideways (and the widest
elements if so) and axe-core's violations (all impacts). Nothing is changed in
the practice except a closure preview (not confirmed) and the empty form posts
that show the error messages."""

import json
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "e2e" / "vendor" / "axe.min.js"
DEMO_PASSWORD = "opus-demo-2026"  # noqa: S105 - the demo login given in README.md
WIDTHS = {1280: 800, 390: 844}
# The few that README.md shows (docs/screenshots/<name>-<width>.png), cut to a height.
README = {
    (name, width): 800 if width == 1280 else 1100
    for name in (
        "today",
        "calendar-week",
        "calendar-day",
        "calendar-month",
        "clients",
        "client-profile",
        "client-add",
        "relationships",
        "transfer-payment",
        "invoices",
        "invoice",
        "billing-run",
        "setup-sessions",
        "setup-session-new",
        "closure-preview",
        "reports",
        "team",
        "search",
    )
    for width in (1280, 390)
}

OVERFLOW = """() => {
  const w = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > w + 1)
    .filter((el) => !el.closest('.visually-hidden, [hidden], dialog:not([open])'))
    .slice(0, 6)
    .map((el) => el.tagName.toLowerCase()
      + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
      + ' ' + Math.round(el.getBoundingClientRect().right));
  return {scroll: document.documentElement.scrollWidth, width: w, wide};
}"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length}): `
    + v.nodes.slice(0, 3).map((n) => n.html.slice(0, 100)).join(" | "));
}"""


def first_href(page, pattern: str) -> str:
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        if re.fullmatch(pattern, href.split("?")[0]):
            return href
    raise LookupError(f"no link like {pattern} on {page.url}")


def pages(page, base: str):
    """(name, how to get there) in order; each step leaves the page to shoot."""

    def go(path):
        return lambda: page.goto(base + path)

    def via(list_path, pattern):
        def step():
            page.goto(base + list_path)
            page.goto(base + first_href(page, pattern))

        return step

    def post_empty(path, button):
        def step():
            page.goto(base + path)
            page.get_by_role("button", name=button).first.click()
            page.wait_for_load_state()

        return step

    def closure_preview():
        page.goto(base + "/schedule/closures/new/")
        page.get_by_label("The whole practice").check()
        page.get_by_label("First date").fill(_in_weeks(page, 2))
        page.get_by_label("Last date").fill(_in_weeks(page, 3))
        page.get_by_label("Reason").fill("Spring break")
        page.get_by_role("button", name="Preview").click()
        page.locator("section.closure-preview").wait_for()

    def session_date_page(suffix):
        def step():
            page.goto(base + "/schedule/?view=week")
            href = first_href(page, r"/schedule/dates/\d+/")
            page.goto(base + href.split("?")[0] + suffix)

        return step

    def chain(start, *patterns):
        def step():
            page.goto(base + start)
            for pattern in patterns:
                page.goto(base + first_href(page, pattern))

        return step

    def subscribed_client(*patterns):
        """The first client on the list whose profile has a Withdraw link."""

        def step():
            page.goto(base + "/clients/")
            hrefs = page.eval_on_selector_all(
                "a[href]", "els => els.map(e => e.getAttribute('href'))"
            )
            for href in [h for h in hrefs if re.fullmatch(r"/clients/\d+/", h)]:
                page.goto(base + href)
                if page.locator("a", has_text="Withdraw").count():
                    break
            for pattern in patterns:
                page.goto(base + first_href(page, pattern))

        return step

    def transfer_payment():
        """A transfer's payment step: the first roster of the week with a Transfer
        button, its first session with a free place, then "Payment" (a draft, not finished)."""
        page.goto(base + "/schedule/?view=week")
        hrefs = page.eval_on_selector_all("a.slot", "els => els.map(e => e.getAttribute('href'))")
        for href in hrefs:
            page.goto(base + href)
            transfer = page.get_by_role("button", name=re.compile("^Transfer "))
            if transfer.count():
                transfer.first.click()
                break
        rows = page.locator("tbody tr").filter(has_not=page.locator(".badge.warn, .muted"))
        rows.get_by_role("button", name=re.compile("^Choose")).first.click()
        page.get_by_role("button", name="Payment").click()
        page.get_by_role("heading", name="The new subscription's invoice").wait_for()

    session = r"/schedule/setup/sessions/\d+/"
    return [
        ("today", go("/")),
        ("calendar-week", go("/schedule/")),
        ("calendar-day", go("/schedule/?view=day")),
        ("calendar-day-rooms", go("/schedule/?view=day&across=room")),
        ("calendar-month", go("/schedule/?view=month")),
        ("search", go("/search/?q=ava")),
        ("clients", go("/clients/")),
        ("relationships", go("/relationships/")),
        ("transfer-payment", transfer_payment),
        ("setup-sessions", go("/schedule/setup/")),
        ("setup-session-new", go("/schedule/setup/sessions/new/")),
        (
            "setup-session-new-errors",
            post_empty("/schedule/setup/sessions/new/", re.compile("Create")),
        ),
        ("setup-session", via("/schedule/setup/", r"/schedule/setup/sessions/\d+/")),
        ("setup-session-edit", chain("/schedule/setup/", session, session + "edit/")),
        ("setup-session-end", chain("/schedule/setup/", session, session + "end/")),
        ("setup-services", go("/schedule/setup/services/")),
        ("setup-service-new", go("/schedule/setup/services/new/")),
        ("setup-service-edit", via("/schedule/setup/services/", r"/schedule/setup/services/\d+/")),
        ("setup-rooms", go("/schedule/setup/rooms/")),
        ("setup-room-new", go("/schedule/setup/rooms/new/")),
        ("closures", go("/schedule/closures/")),
        ("closure-new", go("/schedule/closures/new/")),
        ("closure-preview", closure_preview),
        ("client-add", go("/clients/add/")),
        ("client-add-errors", post_empty("/clients/add/", re.compile("Add client|Save|Add"))),
        ("client-profile", subscribed_client()),
        ("client-enrol", subscribed_client(r"/clients/\d+/enrol/")),
        ("relationship-end", subscribed_client(r"/relationships/\d+/", r"/relationships/\d+/end/")),
        ("withdraw", subscribed_client(r"/schedule/subscriptions/\d+/withdraw/")),
        ("add-client-to-date", session_date_page("add-client/")),
        ("book-once", session_date_page("book-once/")),
        ("team", go("/team/")),
        ("team-invite-errors", post_empty("/team/", re.compile("invit", re.I))),
        ("team-member", via("/team/", r"/team/\d+/")),
        ("practice-settings", go("/practice/")),
        ("two-factor", go("/account/two-factor/")),
        ("billing-run", go("/billing/run/")),
        ("invoices", go("/billing/invoices/")),
        ("invoice", via("/billing/invoices/", r"/billing/invoices/\d+/")),
        ("reports", go("/reports/")),
        ("report-aging", go("/reports/aging/")),
        ("report-revenue", go("/reports/revenue/")),
        ("report-enrolments", go("/reports/enrolments/")),
    ]


def _in_weeks(page, weeks: int) -> str:
    return page.evaluate(
        "(w) => { const d = new Date(); d.setDate(d.getDate() + 7 * w);"
        " return d.toISOString().slice(0, 10); }",
        weeks,
    )


def cut(page, name: str, width: int) -> int:
    """The README's height for the shot, or the page's own if shorter."""
    return min(README[name, width], page.evaluate("document.documentElement.scrollHeight"))


def shoot(base: str, out: Path, readme: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        for width, height in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            page.goto(base + "/login/")
            page.get_by_label("Username").fill("owner")
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
            for name, step in pages(page, base):
                try:
                    step()
                except Exception as error:  # a page not reached is reported
                    report.setdefault(name, {})[width] = f"not reached: {error}"[:300]
                    continue
                page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
                if readme and (name, width) in README:
                    page.screenshot(
                        path=str(Path(__file__).parent / f"{name}-{width}.png"),
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": cut(page, name, width)},
                    )
                report.setdefault(name, {})[width] = {
                    "url": page.url,
                    "overflow": page.evaluate(OVERFLOW),
                    "axe": page.evaluate(AXE_RUN),
                }
            context.close()
        # The public pages (no login).
        for width, height in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            context.add_init_script(path=str(AXE))
            page = context.new_page()
            for name, path in [("password-reset", "/password/reset/"), ("login", "/login/")]:
                page.goto(base + path)
                page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
                if readme and (name, width) in README:
                    page.screenshot(
                        path=str(Path(__file__).parent / f"{name}-{width}.png"),
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": cut(page, name, width)},
                    )
                report.setdefault(name, {})[width] = {
                    "url": page.url,
                    "overflow": page.evaluate(OVERFLOW),
                    "axe": page.evaluate(AXE_RUN),
                }
            context.close()
        browser.close()
    return report


if __name__ == "__main__":
    readme = "--readme" in sys.argv
    args = [arg for arg in sys.argv[1:] if arg != "--readme"]
    base = (args[0] if args else "http://127.0.0.1:8000").rstrip("/")
    out = Path(args[1] if len(args) > 1 else Path(tempfile.gettempdir()) / "opus-shots")
    print(json.dumps(shoot(base, out, readme), indent=1))

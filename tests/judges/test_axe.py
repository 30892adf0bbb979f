"""axe-core (vendored, the engine of Lighthouse's accessibility audits) finds no
violation of any impact on the pages Lighthouse audits (tests/support/judges.py),
on a phone (390 x 844) and a desktop (1280 x 800), with the rules Lighthouse adds
(target-size: what a finger can hit) switched on."""

import os

import pytest
from django.core.management import call_command

from devkit.management.commands.seed_demo import DEMO_PASSWORD
from tests.support.browser_setup import AXE
from tests.support.judges import public_pages, staff_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_ALL = """async () => {
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    rules: {"target-size": {enabled: true}},
  });
  return result.violations.map((v) => `${v.impact} ${v.id}: `
    + v.nodes.slice(0, 4).map((n) => n.html.slice(0, 140)).join(" | "));
}"""
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}


def test_the_judged_pages_have_no_axe_violation(browser, live_server):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    staff, public = staff_pages(), public_pages()
    found = []
    for form, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        for name, path in public.items():
            page.goto(live_server.url + path)
            found += [f"{name} ({form}): {v}" for v in page.evaluate(AXE_ALL)]
        page.goto(live_server.url + "/login/")
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(live_server.url + "/")
        for name, path in staff.items():
            page.goto(live_server.url + path)
            assert page.url == live_server.url + path, f"{name}: {page.url}"
            found += [f"{name} ({form}): {v}" for v in page.evaluate(AXE_ALL)]
        context.close()
    assert found == [], "\n".join(found)

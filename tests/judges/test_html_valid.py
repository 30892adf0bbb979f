"""The Nu Html Checker (vnu.jar, one Java process) finds no error on the pages of
the demo practice: the pages Lighthouse audits (tests/support/judges.py: the
public ones, the transfer's payment step, every setup, billing and report page)
and every page linked from them, one of each kind, crawled as the front desk
sees them."""

import json
import re
import subprocess
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.support.judges import node_package, public_pages, staff_pages

pytestmark = pytest.mark.django_db

SKIP = re.compile(r"logout|export|download|\.csv|\.pdf|/pdf/|/static/|/admin/|/dev/mail/\d")
MOST = 120
# htmx's own attributes (hx-get, hx-target...) are not HTML's: the checker's only
# accepted complaint (htmx also reads data-hx-*, but every template writes hx-*).
HTMX_ATTRIBUTE = re.compile(r"^Attribute “hx-[a-z-]+” not allowed on element")


def kind(path: str) -> str:
    """One page of each kind: numbers and ids stand for any."""
    return re.sub(r"\d+|[0-9a-f]{8}-[0-9a-f-]{27}", "N", urlsplit(path).path)


def crawl(client: Client, start: list[str]) -> dict[str, str]:
    """The start pages (each must answer 200) and the pages they link to."""
    pages, seen, queue = {}, set(), list(start)
    while queue and len(pages) < MOST:
        path = queue.pop(0)
        if kind(path) in seen and path not in start:
            continue
        seen.add(kind(path))
        response = client.get(path, follow=True)
        if path in start:
            assert response.status_code == 200, f"{path}: {response.status_code}"
            assert response.redirect_chain == [], f"{path}: {response.redirect_chain}"
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        pages[path] = html
        for href in re.findall(r'href="(/[^"#]*)', html):
            href = href.replace("&amp;", "&")
            if not SKIP.search(href) and kind(href) not in seen:
                queue.append(href)
    return pages


def test_the_staff_pages_have_no_html_errors(tmp_path):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    start = list(staff_pages().values())
    public = list(public_pages().values())
    client = Client()
    client.force_login(get_user_model().objects.get(username="frontdesk"))
    pages = crawl(client, start)
    anonymous = Client()
    for path in public:
        response = anonymous.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        pages[path] = response.content.decode()
    assert set(start + public) <= set(pages), sorted(pages)
    files = {}
    for i, (path, html) in enumerate(sorted(pages.items())):
        file = tmp_path / f"page{i}.html"
        file.write_text(html)
        files[str(file)] = path
    jar = node_package("vnu-jar") / "build" / "dist" / "vnu.jar"
    result = subprocess.run(
        ["java", "-jar", str(jar), "--errors-only", "--format", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [
        f"{files.get(urlsplit(m.get('url', '')).path)}:{m.get('lastLine')}: {m['message']}"
        for m in messages
        if m["type"] == "error" and not HTMX_ATTRIBUTE.match(m["message"])
    ]
    assert errors == [], "\n".join(errors)

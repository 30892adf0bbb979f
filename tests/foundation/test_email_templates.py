"""Every email's text parts are plain text: a subject or text body rendered with
HTML escaping would show "Smith &amp; Co" or "O&#x27;Brien" now that staff type the
practice's name and closure reasons. And every email to a client carries the
practice's details (the practice settings) at its foot, in both parts."""

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string

from tests.factories import ClientFactory

EMAILS = Path(__file__).resolve().parents[2] / "templates" / "emails"
TEXT_PARTS = sorted([*EMAILS.glob("*/subject.txt"), *EMAILS.glob("*/body.txt")])
CLIENT_EMAILS = [
    "autopay_declined",
    "card_request",
    "closure",
    "invoice",
    "invoice_reminder",
    "moved_sessions_notice",
    "receipt",
    "withdrawal",
]  # staff get the others


@pytest.mark.parametrize("path", TEXT_PARTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_text_part_is_rendered_without_html_escaping(path):
    text = re.sub(r"^(\{% load [^%]+%\})+", "", path.read_text().strip())
    assert text.startswith("{% autoescape off %}"), path
    assert "{% endautoescape %}" in text, path


@pytest.mark.parametrize("name", CLIENT_EMAILS)
def test_each_client_email_ends_with_the_practice_details(name):
    assert (
        (EMAILS / name / "body.txt")
        .read_text()
        .rstrip()
        .endswith('{% include "emails/_footer.txt" %}')
    )
    assert '{% extends "emails/_layout.html" %}' in (EMAILS / name / "body.html").read_text()


@pytest.mark.django_db
def test_the_layout_shows_the_practice_name_and_details_unescaped_once():
    practice = {"name": "Smith & Co", "address": "1 High St", "email": "", "phone": ""}
    html = render_to_string(
        "emails/withdrawal/body.html",
        {
            "practice": practice,
            "practice_name": "Smith & Co",
            "first_name": ClientFactory.build().first_name,
            "service_name": "Piano",
            "for_self": True,
        },
    )
    assert html.count("Smith &amp; Co") == 3  # above, in the text, and in the footer
    assert "1 High St" in html
    subject = render_to_string(
        "emails/closure/subject.txt", {"closure": {"reason": "Owner's holiday & more"}}
    )
    assert subject.strip() == "Cancelled: Owner's holiday & more"

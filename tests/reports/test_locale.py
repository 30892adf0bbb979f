"""Money and dates in the practice's locale (Babel): a setting on "Practice
settings", used by the one money filter (pages, invoices, emails, reports)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from babel.numbers import format_currency
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.emails import invoice_context
from opus import practice as practices
from opus.lib.actors import SYSTEM
from opus.lib.money import format_day, format_money, round_money
from opus.mail import build_message
from opus.models import PracticeChange
from tests.factories import RelationshipFactory
from tests.support.practice import assume_practice, settings_form

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("en_GB", "GBP", "£1,234.50"),
        ("de_DE", "EUR", f"1.234,50{NBSP}€"),
        ("en_US", "USD", "$1,234.50"),
        ("en_GB", "EUR", "€1,234.50"),
        ("de_DE", "GBP", f"1.234,50{NBSP}£"),
        ("en_GB", "JPY", "JP¥1,235"),  # no minor unit: rounded half up first
    ],
)
def test_format_money_in_a_locale(locale, currency, expected):
    assert format_money(Decimal("1234.5"), currency, locale) == expected


@pytest.mark.parametrize("locale", ["en_GB", "en_US", "de_DE", "de_AT", "fr_FR", "nl_NL", "it_IT"])
def test_the_fast_path_writes_what_babel_writes(locale):
    for currency in ("GBP", "EUR", "USD", "JPY", "KWD", "SEK", "XYZ"):
        for text in ("0", "0.004", "1234.5", "-1234.567", "1234567.891", "-12.5"):
            value = round_money(Decimal(text), currency)
            expected = format_currency(value, currency, locale=locale)
            assert format_money(value, currency, locale) == expected, (locale, currency, text)


def test_rounding_happens_once_half_up_before_formatting():
    assert format_money(Decimal("0.005"), "GBP", "en_GB") == "£0.01"
    assert format_money(Decimal("-2.345"), "EUR", "de_DE") == f"-2,35{NBSP}€"
    assert format_money(None, "GBP", "en_GB") == ""
    with pytest.raises(TypeError):
        format_money(1.5, "GBP", "en_GB")


def test_the_filter_follows_the_practice_setting():
    template = Template("{% load opus %}{{ amount|money:currency }} · {{ when|day:'long' }}")
    context = {"amount": Decimal("1234.5"), "when": date(2026, 3, 1)}
    assume_practice(locale="de_DE")
    assert template.render(Context({**context, "currency": "EUR"})) == (
        f"1.234,50{NBSP}€ · 1. März 2026"
    )
    assume_practice(locale="en_US")
    assert template.render(Context({**context, "currency": "USD"})) == ("$1,234.50 · March 1, 2026")
    assume_practice(locale="en_GB")
    assert template.render(Context({**context, "currency": "GBP"})) == ("£1,234.50 · 1 March 2026")


def test_a_datetime_is_written_as_its_day_in_the_practice_time_zone():
    late = timezone.make_aware(datetime(2026, 7, 1, 0, 30))  # 23:30 UTC the day before
    assert format_day(late, "en_GB") == "1 Jul 2026"
    assert format_day(date(2026, 2, 28), "de_DE") == "28.02.2026"


@pytest.mark.django_db
def test_the_invoice_page_and_email_of_a_german_practice(staff, staff_client):
    assume_practice(locale="de_DE")
    relationship = RelationshipFactory()
    invoice = billing.create_draft(
        actor=SYSTEM, payer=relationship.payer, relationship=relationship, currency="EUR"
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Klavier",
        unit_price=Decimal("1234.50"),
        quantity=Decimal(1),
    )
    invoice = billing.issue_invoice(
        invoice=invoice, issued_on=date(2026, 3, 2), due_on=date(2026, 3, 16), actor=staff
    )
    page = staff_client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()
    assert f"1.234,50{NBSP}€" in page
    assert "2. März 2026" in page
    context = invoice_context(SimpleNamespace(context={"invoice_id": invoice.pk}))
    message = build_message("invoice", to="payer@example.com", context=context)
    html = message.alternatives[0][0]
    assert f"1.234,50{NBSP}€" in message.body and f"1.234,50{NBSP}€" in html
    assert "Montag, 16. März 2026" in message.body


@pytest.mark.django_db
def test_staff_choose_the_locale_on_practice_settings(staff, staff_client):
    response = staff_client.get(reverse("practice-settings"))
    assert b"Format of money and dates" in response.content
    assert b"Deutsch (Deutschland)" in response.content
    staff_client.post(reverse("practice-settings"), settings_form(locale="de_DE"))
    practices.forget()
    assert practices.current().locale == "de_DE"
    change = PracticeChange.objects.get()
    assert change.changes[0]["field"] == "locale"
    assert change.changes[0]["from"] == "en_GB" and change.changes[0]["to"] == "de_DE"
    bad = staff_client.post(reverse("practice-settings"), settings_form(locale="xx_YY"))
    assert bad.status_code == 200
    assert b"Choose one of the formats listed." in bad.content

"""Money is a Decimal and a currency. Rounding to the currency's minor unit
happens here, and only here; so does writing an amount for people to read, in the
practice's locale (Babel): £1,234.50 in en_GB, 1.234,50 € in de_DE, $1,234.50 in
en_US. Every page, invoice, PDF and email shows money through ``format_money``
(the ``money`` template filter calls it) and dates through ``format_day``."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from django.utils import timezone

# ISO 4217 minor units for the currencies a practice is likely to use;
# anything else is assumed to have two.
MINOR_DIGITS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}
CURRENCY_SYMBOLS = {
    "GBP": "£",
    "EUR": "€",
    "USD": "$",
    "JPY": "¥",
    "AUD": "A$",
    "CAD": "C$",
    "NZD": "NZ$",
    "CHF": "CHF ",
}

MAX_DIGITS = 14
DECIMAL_PLACES = 3  # storage precision: enough for every currency above


def minor_digits(currency: str) -> int:
    return MINOR_DIGITS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """Round half up to the currency's minor unit. Never takes a float."""
    if isinstance(amount, float):
        raise TypeError("money is never a float")
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def practice_locale() -> str:
    """The practice's locale (Practice settings), read through its cached accessor."""
    # here, not at the top: opus.practice imports the models, which import this module
    from opus import practice

    return practice.current().locale


@lru_cache(maxsize=32)
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def format_money(amount: Decimal | None, currency: str, locale: str | None = None) -> str:
    """``amount`` rounded to ``currency``'s minor unit and written as ``locale`` (by
    default the practice's) writes it: ``1.234,50 €`` for de_DE and EUR."""
    if amount is None:
        return ""
    value = round_money(amount, currency)
    return format_currency(
        value,
        currency.upper(),
        locale=_locale(locale or practice_locale()),
        format_type="standard",
    )


def format_day(value: date | None, locale: str | None = None, *, length: str = "medium") -> str:
    """A date as ``locale`` (by default the practice's) writes it; ``length`` medium:
    30 Nov 2026 (en_GB), 30.11.2026 (de_DE), Nov 30, 2026 (en_US); long: 30 November
    2026, 30. November 2026, November 30, 2026."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return format_date(value, format=length, locale=_locale(locale or practice_locale()))

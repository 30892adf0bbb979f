"""Money is a Decimal and a currency. Rounding to the currency's minor unit
happens here, and only here; so does writing an amount for people to read, in the
practice's locale (Babel): £1,234.50 in en_GB, 1.234,50 € in de_DE, $1,234.50 in
en_US. Every page, invoice, PDF and email shows money through ``format_money``
(the ``money`` template filter calls it) and dates through ``format_day``."""

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
    parse_pattern,
)
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

DEFAULT_LOCALE = "en_GB"  # until opus.practice registers the practice's own
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


_locale_sources: list[Callable[[], str]] = []


def register_locale_source(source: Callable[[], str]) -> None:
    """opus.practice tells where the practice's locale is read (its cached row):
    this module sits below it and cannot import it."""
    _locale_sources[:] = [source]


def practice_locale() -> str:
    """The practice's locale (Practice settings); en_GB before any is registered."""
    return _locale_sources[0]() if _locale_sources else DEFAULT_LOCALE


@lru_cache(maxsize=32)
def _locale(code: str) -> Locale:
    return Locale.parse(code)


@lru_cache(maxsize=256)
def _money_format(locale: str, currency: str) -> tuple[int, dict, tuple[str, str], tuple[str, str]]:
    """What Babel writes around and inside an amount of ``currency`` in ``locale``:
    the digits after the separator, the separators (as a str.translate table), and
    the positive and negative prefix and suffix. Worked out once: a report writes
    thousands of amounts, and Babel's own ``format_currency`` parses its pattern on
    every call (tests check both agree)."""
    code = _locale(locale)
    pattern = parse_pattern(code.currency_formats["standard"])
    symbol = get_currency_symbol(currency, locale=code)
    minus = get_minus_sign_symbol(locale=code)

    def sides(index: int) -> tuple[str, str]:
        prefix, suffix = pattern.prefix[index], pattern.suffix[index]
        return (
            prefix.replace("¤", symbol).replace("-", minus),
            suffix.replace("¤", symbol).replace("-", minus),
        )

    separators = str.maketrans(
        {",": get_group_symbol(locale=code), ".": get_decimal_symbol(locale=code)}
    )
    return minor_digits(currency), separators, sides(0), sides(1)


def format_money(amount: Decimal | None, currency: str, locale: str | None = None) -> str:
    """``amount`` rounded to ``currency``'s minor unit and written as ``locale`` (by
    default the practice's) writes it: ``1.234,50 €`` for de_DE and EUR."""
    if amount is None:
        return ""
    value = round_money(amount, currency)
    digits, separators, positive, negative = _money_format(
        locale or practice_locale(), currency.upper()
    )
    prefix, suffix = negative if value < 0 else positive
    return prefix + f"{abs(value):,.{digits}f}".translate(separators) + suffix


def format_day(value: date | None, locale: str | None = None, *, length: str = "medium") -> str:
    """A date as ``locale`` (by default the practice's) writes it; ``length`` medium:
    30 Nov 2026 (en_GB), 30.11.2026 (de_DE), Nov 30, 2026 (en_US); long: 30 November
    2026, 30. November 2026, November 30, 2026."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return format_date(value, format=length, locale=_locale(locale or practice_locale()))

"""Money is a Decimal and a currency. Rounding to the currency's minor unit
happens here, and only here."""

from decimal import ROUND_HALF_UP, Decimal

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


def format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    value = round_money(amount, currency)
    sign = "-" if value < 0 else ""
    digits = minor_digits(currency)
    text = f"{abs(value):,.{digits}f}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"

"""Contact details' rules shared by every app: a phone number, a postal address.

Clients (clients/fields.py) and the practice's own details (opus/practice.py) check
them the same way; the foundation holds them because it imports no app.
"""

import re

from django.core.exceptions import ValidationError

PHONE_MAX_LENGTH = 40
PHONE_DIGITS = (7, 15)  # a local number has at least 7; E.164 allows at most 15
ADDRESS_MAX_LENGTH = 500
EMAIL_MAX_LENGTH = 254

_PHONE = re.compile(r"\+?[0-9()\- ]+")  # ASCII digits: int() would take other scripts' too


def validate_phone(value: str) -> None:
    value = value.strip()
    digits = sum(ch in "0123456789" for ch in value)
    if not _PHONE.fullmatch(value) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        raise ValidationError(
            "Enter a phone number of 7 to 15 digits, with spaces, brackets or hyphens "
            "if you like and a + only at the start, e.g. 07700 900123 or +44 7700 900123.",
            code="phone",
        )


def validate_address(value: str) -> None:
    if not any(ch.isalnum() for ch in value):
        raise ValidationError("Enter a postal address: street, town and postcode.", code="address")

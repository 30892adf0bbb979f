"""What each client detail may hold: the one definition of names, email, phone,
date of birth and postal address.

The model's fields carry these validators; every form that edits a client (the
contact form, the missing details of a migration) builds its fields here; the
services that write a client check what they are given with ``clean_details``,
by the same fields, so a value refused in one place is refused in all.
"""

from collections.abc import Callable
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from opus.lib import contact
from opus.lib.contact import ADDRESS_MAX_LENGTH, EMAIL_MAX_LENGTH, PHONE_MAX_LENGTH
from opus.lib.errors import BusinessRuleError

NAME_MAX_LENGTH = 100
NOTES_MAX_LENGTH = 5000
OLDEST_AGE = 120

# What the user reads when a detail is named in a sentence ("add the date of birth")
LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "email": "email address",
    "phone": "phone number",
    "date_of_birth": "date of birth",
    "address": "postal address",
    "notes": "notes for staff",
}


def validate_name(value: str) -> None:
    if not any(ch.isalpha() for ch in value):
        raise ValidationError("A name needs at least one letter.", code="name")


def validate_phone(value: str) -> None:
    """The rule is shared with the practice's own phone (opus.lib.contact); named
    here too, as the migrations know it."""
    contact.validate_phone(value)


def earliest_date_of_birth(today: date) -> date:
    return date(today.year - OLDEST_AGE, 1, 1)


def validate_date_of_birth(value: date) -> None:
    today = timezone.localdate()
    earliest = earliest_date_of_birth(today)
    if not earliest <= value <= today:
        raise ValidationError(
            f"Enter a date of birth between {earliest.year} and today.", code="date_of_birth"
        )


def validate_address(value: str) -> None:
    contact.validate_address(value)


# --- the form fields: one builder per detail -----------------------------------------------


def name_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=NAME_MAX_LENGTH,
        validators=[validate_name],
        error_messages={
            "required": f"Enter the {label.lower()}.",
            "max_length": f"Shorten the {label.lower()} to {NAME_MAX_LENGTH} characters.",
        },
    )


def email_field(**kwargs) -> forms.EmailField:
    return forms.EmailField(
        label="Email address",
        max_length=EMAIL_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Enter an email address.",
            "invalid": "Enter a valid email address, e.g. name@example.com.",
            "max_length": f"An email address has at most {EMAIL_MAX_LENGTH} characters.",
        },
        **kwargs,
    )


def phone_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label="Phone number",
        max_length=PHONE_MAX_LENGTH,
        validators=[validate_phone],
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        error_messages={
            "required": "Enter a phone number.",
            "max_length": f"A phone number has at most {PHONE_MAX_LENGTH} characters.",
        },
        **kwargs,
    )


def date_of_birth_field(**kwargs) -> forms.DateField:
    return forms.DateField(
        label="Date of birth",
        validators=[validate_date_of_birth],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": "Enter the date of birth.",
            "invalid": "Enter a real date, e.g. 14/09/1996.",
        },
        **kwargs,
    )


def address_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label="Postal address",
        max_length=ADDRESS_MAX_LENGTH,
        validators=[validate_address],
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
        error_messages={
            "required": "Enter a postal address.",
            "max_length": f"Shorten the address to {ADDRESS_MAX_LENGTH} characters.",
        },
        **kwargs,
    )


def notes_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label="Notes for staff",
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Seen by staff only.",
        error_messages={"max_length": f"Shorten the notes to {NOTES_MAX_LENGTH} characters."},
        **kwargs,
    )


FIELDS: dict[str, Callable[[], forms.Field]] = {
    "first_name": lambda: name_field("First name"),
    "last_name": lambda: name_field("Last name"),
    "email": email_field,
    "phone": phone_field,
    "date_of_birth": date_of_birth_field,
    "address": address_field,
    "notes": notes_field,
}


def clean_details(data: dict, *, required=()) -> dict:
    """The client details in ``data`` (typed strings, or values a form has cleaned)
    checked and converted by the same fields the forms show; the first refused one
    raises a BusinessRuleError naming its field. Names not in ``FIELDS`` are left out."""
    cleaned = {}
    for name, build in FIELDS.items():
        if name not in data and name not in required:
            continue
        field = build()
        field.required = name in required
        try:
            cleaned[name] = field.clean(data.get(name))
        except ValidationError as error:
            raise BusinessRuleError(error.messages[0], field=name) from error
    return cleaned

"""The practice's details and policies: one accessor, their rules, and the one
service that changes them.

``current()`` is what every page, email and service reads (the invoice, the
footer of client emails, their Reply-To, the card link's lifetime, the invoice
due days). It costs no query most of the time: each process keeps the row for
CACHE_SECONDS and forgets it as soon as it saves a change itself; another
process (a second web worker, the email worker) sees the change within
CACHE_SECONDS. Until staff first save, the environment's values stand in
(``from_settings``): reading never writes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from email.utils import parseaddr

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django_otp import user_has_device

from opus.lib.actors import person, require_actor
from opus.lib.contact import (
    ADDRESS_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    PHONE_MAX_LENGTH,
    validate_address,
    validate_phone,
)
from opus.lib.errors import BusinessRuleError
from opus.lib.money import register_locale_source
from opus.models import (
    BILLING_DAY_RANGE,
    CARD_LINK_DAYS_RANGE,
    DEFAULT_LOCALE,
    DUE_DAYS_RANGE,
    LATE_FEE_DAYS_RANGE,
    LOCALES,
    MAKEUP_WEEKS_RANGE,
    NOTICE_HOURS_RANGE,
    PRACTICE_ID,
    Practice,
    PracticeChange,
    parse_day_steps,
)

logger = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
TEXT_MAX_LENGTH = 1000

_lock = threading.Lock()
_cached: tuple[float, Practice] | None = None  # (expires at, on time.monotonic), the row


def from_settings() -> Practice:
    """The practice as the environment describes it (unsaved): the first values."""
    return Practice(
        id=PRACTICE_ID,
        name=settings.OPUS_PRACTICE_NAME,
        reply_to=parseaddr(settings.OPUS_REPLY_TO)[1] if settings.OPUS_REPLY_TO else "",
        invoice_due_days=settings.OPUS_INVOICE_DUE_DAYS,
        card_link_days=settings.OPUS_CARD_REQUEST_TTL.days,
        locale=settings.OPUS_LOCALE if settings.OPUS_LOCALE in LOCALES else DEFAULT_LOCALE,
    )


def current() -> Practice:
    """The practice's details: the saved row, or the environment's first values.
    Treat it as read-only (change it through ``update_practice``)."""
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now < cached[0]:
        return cached[1]
    try:
        practice = Practice.objects.filter(pk=PRACTICE_ID).first() or from_settings()
    except DatabaseError:  # the database is down, or this transaction is broken
        logger.warning("practice settings unreadable; using the last known ones")
        return cached[1] if cached is not None else from_settings()
    with _lock:
        _cached = (now + CACHE_SECONDS, practice)
    return practice


register_locale_source(lambda: current().locale)


def saved() -> Practice:
    """The practice as the database holds it now (no cache): for the settings form."""
    return Practice.objects.filter(pk=PRACTICE_ID).first() or from_settings()


def forget(*, assume: Practice | None = None) -> None:
    """Drop this process's copy, so the next read asks the database. ``assume``
    keeps the given practice instead, until the next forget (tests use it: a
    fresh test database holds no row, so it reads as ``from_settings()``)."""
    global _cached
    with _lock:
        _cached = (math.inf, assume) if assume is not None else None


# --- the rules of each field: the form shows them, the service checks by them ---------------


def _text(label: str, max_length: int, *, required=False, validators=(), **kwargs):
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        validators=list(validators),
        error_messages={
            "required": f"Enter the {label.lower()}.",
            "max_length": f"Shorten the {label.lower()} to {max_length} characters.",
        },
        **kwargs,
    )


def _email(label: str, help_text: str = "") -> forms.EmailField:
    return forms.EmailField(
        label=label,
        max_length=EMAIL_MAX_LENGTH,
        required=False,
        help_text=help_text,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        error_messages={
            "invalid": "Enter a valid email address, e.g. office@example.com.",
            "max_length": f"An email address has at most {EMAIL_MAX_LENGTH} characters.",
        },
    )


def _days(label: str, bounds: tuple[int, int], help_text: str) -> forms.IntegerField:
    low, high = bounds
    message = f"Enter a number of days from {low} to {high}."
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        help_text=help_text,
        error_messages={
            "required": message,
            "invalid": message,
            "min_value": message,
            "max_value": message,
        },
    )


def _number(label: str, bounds: tuple[int, int], unit: str, help_text: str):
    low, high = bounds
    message = f"Enter a number of {unit} from {low} to {high}."
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        help_text=help_text,
        error_messages={
            "required": message,
            "invalid": message,
            "min_value": message,
            "max_value": message,
        },
    )


def _yes_no(label: str, help_text: str) -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


def _has_a_letter_or_digit(value: str) -> None:
    if not any(ch.isalnum() for ch in value):
        raise ValidationError("The practice's name needs at least one letter or digit.")


def _tax_number(value: str) -> None:
    if not all(ch.isalnum() or ch in " -./" for ch in value):
        raise ValidationError("A tax or VAT number has letters, digits, spaces, - . and / only.")


def _retry_days(value: str) -> None:
    if parse_day_steps(value, allow_negative=False) is None:
        raise ValidationError(
            "Enter increasing whole days from 1 to 365, separated by commas, e.g. 3,7."
        )


def _reminder_days(value: str) -> None:
    if parse_day_steps(value, allow_negative=True) is None:
        raise ValidationError(
            "Enter increasing whole days from -365 to 365, separated by commas, e.g. -3,7,14."
        )


TEXTAREA = {"rows": 3}
FIELDS: dict[str, Callable[[], forms.Field]] = {
    "name": lambda: _text("Practice name", 200, required=True, validators=[_has_a_letter_or_digit]),
    "address": lambda: _text(
        "Postal address",
        ADDRESS_MAX_LENGTH,
        validators=[validate_address],
        widget=forms.Textarea(attrs={**TEXTAREA, "autocomplete": "street-address"}),
    ),
    "email": lambda: _email("Contact email"),
    "phone": lambda: _text(
        "Contact phone",
        PHONE_MAX_LENGTH,
        validators=[validate_phone],
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    ),
    "tax_number": lambda: _text("Tax or VAT number", 50, validators=[_tax_number]),
    "invoice_footer": lambda: _text(
        "Invoice footer",
        TEXT_MAX_LENGTH,
        help_text="Printed at the bottom of every invoice, e.g. your terms.",
        widget=forms.Textarea(attrs=TEXTAREA),
    ),
    "payment_instructions": lambda: _text(
        "Payment instructions",
        TEXT_MAX_LENGTH,
        help_text="How to pay by bank transfer: account name, sort code, account number.",
        widget=forms.Textarea(attrs=TEXTAREA),
    ),
    "invoice_due_days": lambda: _days(
        "Invoice due after (days)",
        DUE_DAYS_RANGE,
        "The due date an issued invoice gets by default.",
    ),
    "card_link_days": lambda: _days(
        "Card link lifetime (days)",
        CARD_LINK_DAYS_RANGE,
        "How long an emailed link to add a payment card works.",
    ),
    "reply_to": lambda: _email(
        "Reply-to address of client emails",
        "Where a client's reply to an email from Opus goes. Empty: no reply-to.",
    ),
    # the default cancellation policy; a service may set its own (Setup, the service)
    "cancel_notice_hours": lambda: _number(
        "Notice for a cancellation in time (hours)",
        NOTICE_HOURS_RANGE,
        "hours",
        "A client who cancels at least this long before a session's start told you in time.",
    ),
    "charge_late_cancellations": lambda: _yes_no(
        "Charge late cancellations", "A late cancellation is billed as if attended."
    ),
    "charge_no_shows": lambda: _yes_no("Charge no-shows", "A no-show is billed as if attended."),
    "makeup_credits": lambda: _yes_no(
        "Make-up credit for a cancellation in time",
        "The client may book one session of the service instead, within the weeks below.",
    ),
    "makeup_weeks": lambda: _number(
        "Make-up credit valid for (weeks)", MAKEUP_WEEKS_RANGE, "weeks", ""
    ),
    "require_two_factor": lambda: _yes_no(
        "Require two-factor authentication for the team",
        "Staff and practitioners log in with a code from an authenticator app as well as "
        "their password. Anyone without one is asked to set it up at their next page.",
    ),
    # the monthly billing run (the Billing page)
    "billing_timing": lambda: forms.ChoiceField(
        label="Bill",
        choices=Practice.BillingTiming.choices,
        help_text="Which month the monthly billing run bills.",
        error_messages={
            "required": "Choose in advance or in arrears.",
            "invalid_choice": "Choose in advance or in arrears.",
        },
    ),
    "billing_day": lambda: _number(
        "Billing run on day of the month",
        BILLING_DAY_RANGE,
        "days",
        "The run's drafts are prepared on this day, for approval on the Billing page.",
    ),
    "billing_auto_approve": lambda: _yes_no(
        "Approve the billing run automatically",
        "Issue the run's invoices as soon as they are prepared, without waiting for staff.",
    ),
    # autopay (billing.services.collection)
    "autopay_enabled": lambda: _yes_no(
        "Autopay",
        "Charge an issued invoice to the payer's card on file (each payer can be turned off).",
    ),
    "autopay_retry_days": lambda: _text(
        "Autopay retries (days after a decline)",
        50,
        validators=[_retry_days],
        help_text="Comma-separated days after the first attempt, e.g. 3,7. Empty: no retries.",
    ),
    "reminder_days": lambda: _text(
        "Reminders (days from the due date)",
        50,
        validators=[_reminder_days],
        help_text="For invoices without autopay: negative before the due date, positive after, "
        "e.g. -3,7,14. Empty: no reminders.",
    ),
    "late_fee": lambda: forms.DecimalField(
        label="Late fee",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        help_text="Billed once, on an invoice of its own, for an invoice without autopay still "
        "unpaid the days below after its due date. Empty: no late fee.",
        error_messages={
            "invalid": "Enter an amount such as 10.00, or leave it empty for no late fee.",
            "min_value": "A late fee is more than zero; leave it empty for no late fee.",
            "max_digits": "That amount is too large.",
            "max_whole_digits": "That amount is too large.",
            "max_decimal_places": "Enter an amount with at most two decimals.",
        },
    ),
    "late_fee_days": lambda: _days(
        "Late fee after (days past the due date)",
        LATE_FEE_DAYS_RANGE,
        "How long after the due date an unpaid invoice gets the late fee.",
    ),
    "locale": lambda: forms.ChoiceField(
        label="Format of money and dates",
        choices=list(LOCALES.items()),
        help_text="How amounts and dates are written in Opus, on invoices and in emails, "
        "e.g. 1.234,50 € in German.",
        error_messages={
            "required": "Choose how money and dates are written.",
            "invalid_choice": "Choose one of the formats listed.",
        },
    ),
}


def clean_practice(data: dict) -> dict:
    """Every field of ``data`` checked and converted by FIELDS; the first refused
    one raises a BusinessRuleError naming its field. Missing fields are refused
    as empty values would be."""
    cleaned = {}
    for name, build in FIELDS.items():
        field = build()
        try:
            value = field.clean(data.get(name))
        except ValidationError as error:
            raise BusinessRuleError(error.messages[0], field=name) from error
        cleaned[name] = value.strip() if isinstance(value, str) else value
    return cleaned


def _shown(value) -> str:
    return "" if value is None else str(value)


def _locked_practice() -> Practice:
    """The row, locked; created from the environment's values on the first save."""
    practice = Practice.objects.select_for_update().filter(pk=PRACTICE_ID).first()
    if practice is not None:
        return practice
    try:
        with transaction.atomic():
            from_settings().save(force_insert=True)
    except IntegrityError:  # another save created it meanwhile
        pass
    return Practice.objects.select_for_update().get(pk=PRACTICE_ID)


def update_practice(*, data: dict, actor) -> PracticeChange | None:
    """Staff change the practice's details: checked by FIELDS, saved, and one
    history row (who, when, each field from and to), which is returned. Saving
    what is already there changes nothing and writes no history: None (a double
    submit does one thing)."""
    require_actor(actor)
    if not actor.is_practice_staff:
        raise PermissionDenied("Only staff can change the practice settings.")
    cleaned = clean_practice(data)
    turning_on = cleaned["require_two_factor"] and not saved().require_two_factor
    if turning_on and not user_has_device(actor):
        raise BusinessRuleError(
            "Turn on two-factor authentication for your own account first (Two-factor "
            "authentication, in your account menu): then nobody can require it before "
            "it works for you.",
            field="require_two_factor",
        )
    try:
        with transaction.atomic():
            practice = _locked_practice()
            changes, change = [], None
            for name, value in cleaned.items():
                before = getattr(practice, name)
                if before != value:
                    changes.append(
                        {
                            "field": name,
                            "label": str(FIELDS[name]().label),
                            "from": _shown(before),
                            "to": _shown(value),
                        }
                    )
                    setattr(practice, name, value)
            if changes:
                now = timezone.now()
                practice.updated_at = now
                practice.updated_by = person(actor)
                practice.save()
                change = PracticeChange.objects.create(
                    changed_at=now, changed_by=person(actor), changes=changes
                )
                transaction.on_commit(forget)
    finally:
        forget()  # saved or rolled back: the next read asks the database
    return change

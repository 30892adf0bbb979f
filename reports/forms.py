"""The reports' filters: read from the address (a GET form), so a report is a link.
Whatever is typed, a report renders: a refused value is shown with its error
and the report falls back to the default for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from opus.lib.money import CURRENCY_SYMBOLS
from opus.lib.parsing import parse_id
from opus.models import User
from scheduling.models import Service

MAX_DAYS = 3700  # about ten years: the month axis stays readable, the queries bounded


def default_range(today: date) -> tuple[date, date]:
    """The twelve months up to today: the first of the month eleven months back."""
    month = today.month - 11
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, 1), today


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def _date(label: str) -> forms.DateField:
    bounds = f"Enter a date from {EARLIEST.year} to {LATEST.year}."
    return forms.DateField(
        label=label,
        required=False,
        widget=DateInput(),
        validators=[MinValueValidator(EARLIEST), MaxValueValidator(LATEST)],
        error_messages={
            "invalid": "Enter a date such as 2026-03-31.",
            "min_value": bounds,
            "max_value": bounds,
        },
    )


class IdChoiceField(forms.ModelChoiceField):
    """A choice by id that refuses what no id looks like (99999999999999999999
    would overflow the database's bigint) as an invalid choice, never a 500."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if parse_id(str(value)) is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


@dataclass
class Filters:
    first: date
    last: date
    as_of: date
    by: str = ""
    service_id: int | None = None
    practitioner_id: int | None = None
    currency: str = ""


class ReportForm(forms.Form):
    """Every report's filters; each report shows the fields it names."""

    first = _date("From")
    last = _date("To")
    as_of = _date("As of")
    by = forms.ChoiceField(label="By", required=False, choices=[])
    service = IdChoiceField(
        label="Service",
        required=False,
        queryset=Service.objects.order_by("name"),
        empty_label="All services",
        error_messages={"invalid_choice": "Choose a service from the list."},
    )
    practitioner = IdChoiceField(
        label="Practitioner",
        required=False,
        queryset=User.objects.filter(role=User.Role.PRACTITIONER).order_by(
            "last_name", "first_name", "pk"
        ),
        empty_label="All practitioners",
        error_messages={"invalid_choice": "Choose a practitioner from the list."},
    )
    currency = forms.ChoiceField(label="Currency", required=False, choices=[])

    def __init__(self, data, *, fields: tuple[str, ...], groups=(), currencies=()):
        super().__init__(data or None)
        self.today = timezone.localdate()
        for name in list(self.fields):
            if name not in fields:
                del self.fields[name]
        if "by" in self.fields:
            self.fields["by"].choices = list(groups)
        if "currency" in self.fields:
            known = sorted({*currencies, *CURRENCY_SYMBOLS})
            self.fields["currency"].choices = [("", "All currencies")] + [(c, c) for c in known]
        if "practitioner" in self.fields:
            self.fields["practitioner"].label_from_instance = lambda user: user.display_name

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last:
            if first > last:
                self.add_error("last", "The end of the range comes before its start.")
            elif (last - first).days > MAX_DAYS:
                self.add_error("first", "Choose a range of at most ten years.")
        return data

    def filters(self) -> Filters:
        """The filters to run the report on: the valid values, defaults elsewhere."""
        first, last = default_range(self.today)
        if not self.is_bound:
            data = {}
        else:
            self.is_valid()
            data = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        chosen_first, chosen_last = data.get("first"), data.get("last")
        if chosen_first and chosen_last:
            first, last = chosen_first, chosen_last
        elif chosen_first and not chosen_last and chosen_first <= last:
            first = chosen_first
        elif chosen_last and not chosen_first:
            first, last = default_range(chosen_last)
        by = (data.get("by") or self.fields["by"].choices[0][0]) if "by" in self.fields else ""
        return Filters(
            first=first,
            last=last,
            as_of=data.get("as_of") or self.today,
            by=by,
            service_id=data["service"].pk if data.get("service") else None,
            practitioner_id=data["practitioner"].pk if data.get("practitioner") else None,
            currency=data.get("currency") or "",
        )

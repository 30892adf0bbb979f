from datetime import date

from django import forms
from django.db.models import Exists, OuterRef

from scheduling.models import Room, Service, Session
from scheduling.selectors import practitioners_for

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def id_choice_field(empty_label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, choices=[("", empty_label)]
    )


class SchedulePeriodForm(forms.Form):
    """The part of the schedule's query string read without a query: which view,
    which date (enough to know what the cached rendering depends on)."""

    VIEWS = [("day", "Day"), ("week", "Week"), ("month", "Month")]

    ACROSS = [("practitioner", "Practitioners"), ("room", "Rooms")]

    view = forms.ChoiceField(choices=VIEWS, required=False, widget=forms.HiddenInput)
    across = forms.ChoiceField(choices=ACROSS, required=False, widget=forms.HiddenInput)
    date = forms.DateField(required=False, label="Date")

    def clean_date(self):
        day = self.cleaned_data.get("date")
        if day is not None and not EARLIEST <= day <= LATEST:
            raise forms.ValidationError("Pick a date between 2000 and 2100.")
        return day

    def value(self, name: str):
        """The cleaned value of one field, or None when it was missing or invalid."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)


class ScheduleForm(SchedulePeriodForm):
    """The schedule's query string: which view, which date, which filters. Every
    field is optional; an invalid one is reported and left out, never a 500.

    The filter choices are (id, label) pairs read with one query each: the
    schedule renders them by hand, since widget templates for every option of
    a large practice cost more than the week itself."""

    practitioner = id_choice_field("All practitioners")
    service = id_choice_field("All services")
    room = id_choice_field("All rooms")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if user.is_practice_staff:
            self.fields["practitioner"].choices += [
                (pk, f"{first} {last}".strip() or username)
                for pk, first, last, username in practitioners_for(user).values_list(
                    "pk", "first_name", "last_name", "username"
                )
            ]
        else:
            # a practitioner sees only their own sessions: nothing to choose
            del self.fields["practitioner"]
        services = Service.objects.all()
        if not user.is_practice_staff:  # the services of their own sessions
            services = services.filter(
                Exists(Session.objects.visible_to(user).filter(service=OuterRef("pk")))
            )
        self.fields["service"].choices += list(services.values_list("pk", "name"))
        self.fields["room"].choices += list(Room.objects.values_list("pk", "name"))

    def filter_fields(self):
        """(field, chosen id) of each filter shown, for the hand-rendered selects."""
        return [
            (self[name], self.value(name))
            for name in ("practitioner", "service", "room")
            if name in self.fields
        ]


MAX_SKIPPED = 200


def parse_skipped(value: str) -> list[date]:
    """The full dates a user accepted to skip, as the forms post them:
    ``2026-12-07,2026-12-14``. Raises ValueError on anything else."""
    days = [date.fromisoformat(part.strip()) for part in value.split(",") if part.strip()]
    if len(days) > MAX_SKIPPED:
        raise ValueError("too many dates")
    return days


class SkippedDatesField(forms.Field):
    """The full dates listed to the user, posted by the button that accepts them
    skipped (its value), never typed; so it renders empty, and one message
    covers anything else a browser may send."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def bound_data(self, data, initial):
        return ""

    def to_python(self, value):
        value = str(value or "").strip()
        try:
            if len(value) > 11 * MAX_SKIPPED:
                raise ValueError("too long")
            return parse_skipped(value)
        except ValueError:
            raise forms.ValidationError(
                "The dates to skip were not understood: choose the first date again."
            ) from None


class AcceptsSkippedDates:
    """For forms with a ``skip`` field: being hidden, its error (a mangled post)
    shows with the form's own errors."""

    def clean(self):
        cleaned = super().clean()
        if "skip" in self._errors:
            self.add_error(None, list(self._errors.pop("skip")))
        return cleaned

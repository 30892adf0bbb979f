"""The closure form (add, preview, confirm) and the one-date cancel form."""

import uuid

from django import forms

from opus.models import User
from scheduling.closures import REASON_MAX
from scheduling.forms import EARLIEST, LATEST
from scheduling.models import Closure, Room
from scheduling.selectors import practitioners_for


class ClosureForm(forms.Form):
    """What to close, when, and why. The preview posts it; the confirm form
    posts it again, hidden, with ``key`` (a double submit makes one closure)
    and ``notify``."""

    scope = forms.ChoiceField(
        label="Close",
        choices=Closure.Scope.choices,
        initial=Closure.Scope.PRACTICE,
        widget=forms.RadioSelect,
    )
    room = forms.ModelChoiceField(
        label="Room", queryset=Room.objects.none(), required=False, empty_label="Choose a room"
    )
    practitioner = forms.ModelChoiceField(
        label="Practitioner",
        queryset=User.objects.none(),
        required=False,
        empty_label="Choose a practitioner",
    )
    first_date = forms.DateField(label="First date", widget=forms.DateInput(attrs={"type": "date"}))
    last_date = forms.DateField(
        label="Last date",
        help_text="Inclusive: sessions on this date are cancelled too.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        help_text="Shown on every cancelled date, and in the emails.",
    )
    notify = forms.BooleanField(
        label="Tell the affected clients and payers by email", required=False
    )
    key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["room"].queryset = Room.objects.all()
        self.fields["practitioner"].queryset = practitioners_for(user).order_by(
            "first_name", "last_name", "pk"
        )
        self.fields["practitioner"].label_from_instance = lambda u: u.display_name

    def _clean_day(self, name):
        day = self.cleaned_data.get(name)
        if day is not None and not EARLIEST <= day <= LATEST:
            raise forms.ValidationError("Pick a date between 2000 and 2100.")
        return day

    def clean_first_date(self):
        return self._clean_day("first_date")

    def clean_last_date(self):
        return self._clean_day("last_date")

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            name: data.get(name)
            for name in ("scope", "room", "practitioner", "first_date", "last_date", "reason")
        }

    def hidden_values(self) -> list[tuple[str, str]]:
        """What the confirm form posts again, as typed and checked."""
        data = self.cleaned_data
        return [
            ("scope", data["scope"]),
            ("room", str(data["room"].pk) if data.get("room") else ""),
            ("practitioner", str(data["practitioner"].pk) if data.get("practitioner") else ""),
            ("first_date", f"{data['first_date']:%Y-%m-%d}"),
            ("last_date", f"{data['last_date']:%Y-%m-%d}"),
            ("reason", data["reason"]),
            ("key", str(uuid.uuid4())),  # fresh for each preview: one closure per confirm form
        ]


class CancelDateForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=REASON_MAX)

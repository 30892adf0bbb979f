from django import forms

from frontdesk.models import Withdrawal
from frontdesk.withdrawals import NOTE_MAX_LENGTH
from scheduling.forms import EARLIEST, LATEST, AcceptsSkippedDates, SkippedDatesField


def _session_label(session) -> str:
    return (
        f"{session.service.name}: {session.get_weekday_display()}s "
        f"{session.start_time:%H:%M} with {session.practitioner.display_name}"
    )


def _relationship_label(relationship) -> str:
    if relationship.kind == relationship.Kind.FIRST_PARTY:
        who = f"{relationship.attendee.full_name} (pays for their own sessions)"
    else:
        who = f"{relationship.payer.full_name} (third party)"
    if relationship.practitioner_id:
        who += f", with {relationship.practitioner.display_name}"
    return who


class RelationshipChoice(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            label="Who pays",
            queryset=None,
            empty_label="Choose who pays",
            error_messages={
                "required": "Choose who pays (the relationship).",
                "invalid_choice": "Choose who pays (the relationship).",
            },
            **kwargs,
        )

    def label_from_instance(self, obj) -> str:
        return _relationship_label(obj)


def _in_range(day, field: str):
    if day is not None and not EARLIEST <= day <= LATEST:
        raise forms.ValidationError("Pick a date between 2000 and 2100.")
    return day


class EnrolForm(AcceptsSkippedDates, forms.Form):
    """Enrol a client: the session (unless fixed, from a roster), who pays, the
    first date. ``request_key`` makes a double submit one enrolment."""

    session = forms.ModelChoiceField(
        label="Session",
        queryset=None,
        empty_label="Choose a session",
        error_messages={"required": "Choose a session.", "invalid_choice": "Choose a session."},
    )
    relationship = RelationshipChoice()
    first_date = forms.DateField(
        label="First date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Choose the first date.", "invalid": "Enter a real date."},
    )
    skip = SkippedDatesField()
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, sessions, relationships, fixed_session=False, **kwargs):
        super().__init__(*args, **kwargs)
        if fixed_session:
            del self.fields["session"]
        else:
            self.fields["session"].queryset = sessions
            self.fields["session"].label_from_instance = _session_label
        self.fields["relationship"].queryset = relationships

    def clean_first_date(self):
        return _in_range(self.cleaned_data.get("first_date"), "first_date")


class BookOnceForm(forms.Form):
    relationship = RelationshipChoice()
    use_makeup = forms.BooleanField(label="Use a make-up credit", required=False)

    def __init__(self, *args, relationships, makeup_credits=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["relationship"].queryset = relationships
        if makeup_credits:
            first = makeup_credits[0]
            self.fields["use_makeup"].initial = True
            self.fields["use_makeup"].help_text = (
                f"For the date missed on {first.missed.date:%a %-d %b %Y}, valid until "
                f"{first.expires_on:%a %-d %b %Y}"
                + (f" ({len(makeup_credits)} credits in all)" if len(makeup_credits) > 1 else "")
                + ". Nothing is invoiced."
            )
        elif not self.data.get("use_makeup"):
            del self.fields["use_makeup"]
        # else: asked for a credit that is gone meanwhile: clean_use_makeup says so

    def clean_use_makeup(self) -> bool:
        wanted = self.cleaned_data["use_makeup"]
        if wanted and not self.fields["use_makeup"].help_text:
            raise forms.ValidationError(
                "The make-up credit is no longer available (used or expired meanwhile): "
                "untick it to book the date and invoice it."
            )
        return wanted


class WithdrawForm(forms.Form):
    last_date = forms.DateField(
        label="Last date attended",
        help_text="The client attends up to this date; the subscription ends after it.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": "Choose the last date attended.",
            "invalid": "Enter a real date.",
        },
    )
    reason = forms.ChoiceField(
        label="Reason",
        choices=Withdrawal.Reason.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose the reason for the withdrawal.",
            "invalid_choice": "Choose the reason for the withdrawal.",
        },
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        help_text="Needed when the reason is Other.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    email_payer = forms.BooleanField(label="Email the payer to confirm", required=False)

    def clean_last_date(self):
        return _in_range(self.cleaned_data.get("last_date"), "last_date")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == Withdrawal.Reason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", "Say why, in a note, when the reason is Other.")
        return cleaned

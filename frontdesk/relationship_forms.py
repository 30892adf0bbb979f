from django import forms

from clients import fields
from relationships.models import RelationshipMigration
from scheduling.forms import AcceptsSkippedDates, SkippedDatesField


class MigrationRequestForm(forms.Form):
    requested_by = forms.ChoiceField(
        label="Who asked for the attendee to pay for their own sessions?",
        choices=RelationshipMigration.RequestedBy.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Say who asked for the migration."},
    )
    request_note = forms.CharField(
        label="How did they ask?",
        help_text="For the record, e.g. 'Sam phoned on Monday; Oliver agreed by email'.",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        error_messages={"required": "Note how the client asked."},
    )


class PayingDetailsForm(forms.Form):
    """The details the attendee lacks to pay for their own sessions that the user may
    add (``missing``); each field's rule is clients.fields'."""

    email = fields.email_field(help_text="Where the link to add a payment card is sent.")
    date_of_birth = fields.date_of_birth_field()
    phone = fields.phone_field()
    address = fields.address_field()

    def __init__(self, *args, missing: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in missing:
                del self.fields[name]


class CreateSessionForm(AcceptsSkippedDates, forms.Form):
    REPEAT_CHOICES = [("once", "This date only"), ("weekly", "Every week from this date")]

    session = forms.ModelChoiceField(
        label="Session",
        queryset=None,
        empty_label="Choose a session",
        error_messages={"required": "Choose a session.", "invalid_choice": "Choose a session."},
    )
    date = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Choose a date.", "invalid": "Enter a real date."},
    )
    repeat = forms.ChoiceField(
        label="How often", choices=REPEAT_CHOICES, initial="once", widget=forms.RadioSelect
    )
    # posted by "Create Session with those dates skipped", never typed
    skip = SkippedDatesField()

    def __init__(self, *args, sessions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = sessions
        self.fields["session"].label_from_instance = lambda s: (
            f"{s.service.name}: {s.get_weekday_display()}s {s.start_time:%H:%M} "
            f"with {s.practitioner.display_name}"
        )

    def clean(self):
        cleaned = super().clean()
        session, day = cleaned.get("session"), cleaned.get("date")
        if session and day and day.weekday() != session.weekday:
            self.add_error(
                "date", f"This session runs on {session.get_weekday_display()}s: pick one of those."
            )
        return cleaned

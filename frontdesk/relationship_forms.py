from django import forms

from clients.forms import ClientForm
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


class PayingDetailsForm(ClientForm):
    """The details the attendee lacks to pay for their own sessions that the user may
    add (``missing``), all required: ClientForm's fields, so each rule is the same as
    on "Add client" and on the profile (clients.fields)."""

    def __init__(self, *args, missing: list[str], **kwargs):
        super().__init__(*args, only=missing, required=missing, **kwargs)
        if "email" in self.fields:
            self.fields["email"].help_text = "Where the link to add a payment card is sent."


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


class EndRelationshipForm(forms.Form):
    ended_on = forms.DateField(
        label="Last day of the relationship",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Choose the end date.", "invalid": "Enter a real date."},
    )
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        help_text="For the record, e.g. 'Family moved away'.",
        error_messages={"required": "Say why the relationship ends."},
    )
    coming = forms.ChoiceField(
        label="Sessions still booked after the end date",
        required=False,
        widget=forms.RadioSelect,
        choices=[
            ("move", "Move them to another relationship of the attendee"),
            ("end", "End them too"),
        ],
    )
    move_to = forms.ModelChoiceField(
        label="Move them to",
        required=False,
        queryset=None,
        empty_label="Choose a relationship",
        error_messages={"invalid_choice": "Choose a relationship from the list."},
    )

    def __init__(self, *args, others, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move_to"].queryset = others
        self.fields["move_to"].label_from_instance = lambda r: (
            f"{r.get_kind_display()}: "
            + (f"{r.payer.full_name} pays" if r.is_third_party else "pays for themselves")
            + (f", with {r.practitioner.display_name}" if r.practitioner_id else "")
        )

"""The setup's forms: they read and check the input; the rules live in
scheduling.setup, whose BusinessRuleError the views put by the field it names."""

from django import forms
from django.db.models import Q

from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS
from opus.models import User
from scheduling.forms import EARLIEST, LATEST
from scheduling.models import Room, Service
from scheduling.policy import MAKEUP_WEEKS_RANGE, NOTICE_HOURS_MAX, policy_for

PRICE_HELP = (
    "A new price applies to new subscriptions only: existing subscriptions keep the price "
    "they were created with."
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self):
        super().__init__(format="%H:%M")


def bounded_date(label: str, *, required=True, help_text="") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text,
        widget=DateInput(),
    )


class BoundedDates:
    """Dates between 2000 and 2100, whatever was typed."""

    date_fields: tuple = ()

    def clean(self):
        cleaned = super().clean()
        for name in self.date_fields:
            day = cleaned.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(name, "Pick a date between 2000 and 2100.")
        return cleaned


def _yes_no_default(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        required=False,
        choices=[("", "Practice default"), ("yes", "Yes"), ("no", "No")],
        coerce=lambda value: value == "yes",
        empty_value=None,
    )


YES_NO = {True: "yes", False: "no", None: ""}


class PolicyFields(forms.Form):
    """A service's cancellation policy: each part left empty takes the practice's."""

    cancel_notice_hours = forms.IntegerField(
        label="Notice for a cancellation in time (hours)",
        required=False,
        min_value=0,
        max_value=NOTICE_HOURS_MAX,
    )
    charge_late_cancellations = _yes_no_default("Charge late cancellations")
    charge_no_shows = _yes_no_default("Charge no-shows")
    makeup_credits = _yes_no_default("Make-up credit for a cancellation in time")
    makeup_weeks = forms.IntegerField(
        label="Make-up credit valid for (weeks)",
        required=False,
        min_value=MAKEUP_WEEKS_RANGE[0],
        max_value=MAKEUP_WEEKS_RANGE[1],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = policy_for(None)
        shown = {
            "cancel_notice_hours": f"{default.notice_hours} hours",
            "charge_late_cancellations": "yes" if default.charge_late_cancellations else "no",
            "charge_no_shows": "yes" if default.charge_no_shows else "no",
            "makeup_credits": "yes" if default.makeup_credits else "no",
            "makeup_weeks": f"{default.makeup_weeks} weeks",
        }
        for name, text in shown.items():
            self.fields[name].help_text = f"Empty: the practice's default ({text})."

    @staticmethod
    def initial_for(service) -> dict:
        return {
            "cancel_notice_hours": service.cancel_notice_hours,
            "makeup_weeks": service.makeup_weeks,
            **{
                name: YES_NO[getattr(service, name)]
                for name in ("charge_late_cancellations", "charge_no_shows", "makeup_credits")
            },
        }


class ServiceForm(PolicyFields):
    field_order = ["name", "description", "billing_basis", "price", "sessions_per_month"]

    name = forms.CharField(max_length=150)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)
    billing_basis = forms.ChoiceField(
        label="Billing basis", choices=Service.BillingBasis.choices, widget=forms.RadioSelect
    )
    price = forms.DecimalField(
        max_digits=MAX_DIGITS,
        decimal_places=DECIMAL_PLACES,
        min_value=0,
        help_text=f"Per session, or per month for a monthly service. {PRICE_HELP}",
    )
    sessions_per_month = forms.IntegerField(
        label="Sessions a month",
        required=False,
        min_value=1,
        max_value=31,
        help_text="For a monthly service: how many sessions a month its price covers.",
    )


class RoomForm(forms.Form):
    name = forms.CharField(max_length=100)


def practitioner_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="Practitioner",
        queryset=User.objects.filter(is_active=True).order_by("first_name", "last_name", "pk"),
    )


def room_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label="Room",
        required=False,
        empty_label="No room",
        queryset=Room.objects.filter(is_active=True).order_by("name"),
    )


class SlotFields(forms.Form):
    start_time = forms.TimeField(label="Start time", widget=TimeInput())
    duration_minutes = forms.IntegerField(label="Duration (minutes)", min_value=5, max_value=1440)
    practitioner = practitioner_field()
    room = room_field()
    capacity = forms.IntegerField(label="Capacity", min_value=1, max_value=500, initial=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["practitioner"].queryset = practitioner_field().queryset
        self.fields["room"].queryset = room_field().queryset


class SessionForm(BoundedDates, SlotFields):
    """A new session. Its weekday is the first date's."""

    date_fields = ("first_date", "last_date")
    service = forms.ModelChoiceField(
        label="Service", queryset=Service.objects.filter(is_active=True).order_by("name")
    )
    first_date = bounded_date(
        "First date", help_text="The session repeats every week on this date's weekday."
    )
    one_off = forms.BooleanField(
        label="One-off appointment", required=False, help_text="Held once, on the first date."
    )
    last_date = bounded_date(
        "Last date", required=False, help_text="Leave empty for a session with no end."
    )
    field_order = ["service", "first_date", "one_off", "last_date", "start_time"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.filter(is_active=True).order_by("name")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("one_off") and cleaned.get("first_date"):
            cleaned["last_date"] = cleaned["first_date"]
        return cleaned


class SessionChangeForm(BoundedDates, SlotFields):
    date_fields = ("effective_date",)
    effective_date = bounded_date(
        "From", help_text="Dates from this one on change; earlier dates keep what they were."
    )
    field_order = ["effective_date"]

    def __init__(self, *args, session=None, **kwargs):
        super().__init__(*args, **kwargs)
        if session is not None and session.room_id:  # a retired room may stay
            self.fields["room"].queryset = Room.objects.filter(
                Q(is_active=True) | Q(pk=session.room_id)
            ).order_by("name")


class SessionEndForm(BoundedDates, forms.Form):
    date_fields = ("last_date",)
    last_date = bounded_date("Last date", help_text="The session is held up to this date.")

from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils import timezone

from billing import services as billing
from billing.models import Payment
from frontdesk import transfers
from scheduling.forms import AcceptsSkippedDates, SkippedDatesField


class DatesForm(AcceptsSkippedDates, forms.Form):
    first_date = forms.DateField(
        label="First session date of the new subscription",
        error_messages={"required": "Choose the first date.", "invalid": "Choose a date."},
    )
    end_date = forms.DateField(
        label="The current subscription ends on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Enter the end date.", "invalid": "Enter a real date."},
    )
    skip = SkippedDatesField()

    def __init__(self, *args, first_dates, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_dates = first_dates
        overlap = settings.OPUS_TRANSFER_MAX_OVERLAP_DAYS
        self.fields["end_date"].help_text = (
            "The first date the client no longer attends the current session: at the latest "
            f"{'1 day' if overlap == 1 else f'{overlap} days'} after the new subscription's "
            "first date."
        )


class DiscountForm(forms.Form):
    KINDS = [("amount", "An amount"), ("percent", "A percentage")]

    kind = forms.ChoiceField(
        label="Discount", choices=KINDS, initial="amount", widget=forms.RadioSelect
    )
    value = forms.DecimalField(
        label="Amount or percentage",
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        error_messages={
            "required": "Enter the discount.",
            "invalid": "Enter a number, e.g. 10 or 12.50.",
            "min_value": "A discount is more than zero.",
        },
    )
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        error_messages={"required": "Give a reason for the discount."},
    )


class FinishForm(forms.Form):
    how = forms.ChoiceField(choices=list(transfers.FINISHES.items()))
    method = forms.ChoiceField(
        label="Payment",
        required=False,
        choices=[
            (transfers.PAY_BY_CARD, "Card on file"),
            *[
                (value, label)
                for value, label in Payment.Method.choices
                if value != Payment.Method.CARD
            ],
        ],
    )
    reference = forms.CharField(label="Reference", required=False, max_length=200)
    due_on = forms.DateField(
        label="Due date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a real date."},
    )
    close_reason = forms.CharField(
        label="Why nothing more is expected", required=False, max_length=300
    )

    @staticmethod
    def default_due_on():
        return billing.default_due_on(timezone.localdate())

    def finish(self) -> transfers.Finish:
        data = self.cleaned_data
        return transfers.Finish(
            how=data["how"],
            method=data.get("method") or transfers.PAY_BY_CARD,
            reference=data.get("reference", ""),
            due_on=data.get("due_on"),
            close_reason=data.get("close_reason", ""),
        )

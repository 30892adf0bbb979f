from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from billing.gateway import CardDetails
from billing.models import Invoice, Payment, Refund
from billing.plans import EXCESS_TO_CREDIT_LABEL, MAX_AMOUNT
from billing.selectors import InvoiceFilters
from opus.lib.money import DECIMAL_PLACES, MAX_DIGITS, format_money, minor_digits, quantum
from opus.lib.parsing import ascii_digits


class SecretTextInput(forms.TextInput):
    """A text box that never renders its value back: after an error the card
    number and security code are typed again, never echoed into the page."""

    def format_value(self, value):
        return None


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Invoice.Status.choices], required=False
    )
    payer = forms.CharField(
        label="Payer or number",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or INV-000123"}),
    )
    overdue = forms.BooleanField(label="Overdue only", required=False)
    follow_up = forms.BooleanField(label="Needs follow-up", required=False)

    def filters(self):

        if not self.is_valid():
            return InvoiceFilters()
        data = self.cleaned_data
        return InvoiceFilters(
            status=data["status"],
            payer=data["payer"].strip(),
            overdue=data["overdue"],
            follow_up=data["follow_up"],
        )


def money_field(label: str, currency: str) -> forms.DecimalField:
    """An amount in ``currency``: at least one minor unit, in minor units. Django
    draws the input's ``min`` and ``step`` from these, so what the browser lets
    through is exactly what the form accepts (both 0.01 for pounds, 1 for yen)."""
    unit = quantum(currency)
    places = minor_digits(currency)
    return forms.DecimalField(
        label=label,
        min_value=unit,
        max_value=MAX_AMOUNT,
        decimal_places=places,
        max_digits=MAX_DIGITS - DECIMAL_PLACES + places,
        widget=forms.NumberInput(attrs={"inputmode": "decimal"}),
        error_messages={
            "min_value": f"Enter at least {format_money(unit, currency)}.",
            "max_decimal_places": (
                f"Enter at most {places} decimal places." if places else "Enter a whole amount."
            ),
        },
    )


class PaymentForm(forms.Form):
    method = forms.ChoiceField(
        label="Paid by",
        choices=[c for c in Payment.Method.choices if c[0] != Payment.Method.CARD],
    )
    reference = forms.CharField(
        label="Reference",
        required=False,
        max_length=200,
        help_text="A receipt number, the bank transfer's reference…",
    )
    excess_to_credit = forms.BooleanField(
        label=EXCESS_TO_CREDIT_LABEL,
        required=False,
        help_text="Only when more than the balance was received: the rest pays the payer's "
        "next invoices.",
    )
    field_order = ["amount", "method", "reference", "excess_to_credit"]

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = money_field("Amount received", currency)
        self.order_fields(self.field_order)


class ChargeForm(forms.Form):
    """The key is made when the page is drawn: submitting the same page twice is
    one attempt (each attempt sends the processor an idempotency key of its own)."""

    request_key = forms.CharField(widget=forms.HiddenInput, max_length=100)


class SendForm(forms.Form):
    """Nothing to fill in: the invoice goes to the payer's email address."""


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", max_length=300)


class IssueForm(forms.Form):
    due_on = forms.DateField(
        label="Due on", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean_due_on(self):
        due_on = self.cleaned_data["due_on"]
        if due_on < timezone.localdate():
            raise forms.ValidationError("The due date is in the past.")
        if due_on > timezone.localdate() + timedelta(days=366):
            raise forms.ValidationError("The due date is more than a year away.")
        return due_on


class CardRequestForm(forms.Form):
    reason = forms.CharField(
        label="Why the card is needed",
        max_length=300,
        help_text="The email tells the client this.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "card-request-%s")  # unique on a client's profile
        super().__init__(*args, **kwargs)


def _month_choices():
    return [("", "Month")] + [(m, f"{m:02d}") for m in range(1, 13)]


def _year_choices():
    year = date.today().year
    return [("", "Year")] + [(y, str(y)) for y in range(year, year + 16)]


class CardForm(forms.Form):
    """The card form of the emailed link (simulated gateway: the card is posted to
    Opus and handed straight to the gateway; nothing of it is stored)."""

    name = forms.CharField(
        label="Name on card",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )
    number = forms.CharField(
        label="Card number",
        max_length=30,
        widget=SecretTextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    exp_month = forms.TypedChoiceField(
        label="Expiry month",
        coerce=int,
        choices=_month_choices,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-month"}),
    )
    exp_year = forms.TypedChoiceField(
        label="Expiry year",
        coerce=int,
        choices=_year_choices,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-year"}),
    )
    cvc = forms.CharField(
        label="Security code",
        max_length=4,
        min_length=3,
        help_text="3 digits on the back; 4 on the front of an American Express card.",
        widget=SecretTextInput(
            attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "size": "4"}
        ),
    )

    def clean_number(self):
        number = "".join(ch for ch in self.cleaned_data["number"] if ch not in " -")
        if not ascii_digits(number) or not 12 <= len(number) <= 19:
            raise forms.ValidationError("Enter the card number: 12 to 19 digits.")
        return number

    def clean_cvc(self):
        cvc = self.cleaned_data["cvc"].strip()
        if not ascii_digits(cvc):
            raise forms.ValidationError("Enter the 3 or 4 digits of the security code.")
        return cvc

    def card(self) -> CardDetails:
        data = self.cleaned_data
        return CardDetails(
            number=data["number"],
            exp_month=data["exp_month"],
            exp_year=data["exp_year"],
            cvc=data["cvc"],
            name=data["name"],
        )


class PayForm(CardForm):
    """The card form of an invoice's pay link: the card, and whether to keep it
    (with the consent text beside the box). The key is made when the page is drawn:
    the same page submitted twice is one charge."""

    save_card = forms.BooleanField(label="Save this card for my next invoices", required=False)
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=100)


class StripePayForm(forms.Form):
    """The pay link's form when Stripe.js takes the card in the page: only the
    SetupIntent it confirmed comes back to Opus, with the name, the choice to keep
    the card, and the page's key."""

    name = forms.CharField(label="Name on card", max_length=100, required=False)
    setup_intent = forms.CharField(
        widget=forms.HiddenInput,
        max_length=100,
        error_messages={"required": "The card was not confirmed. Enter it again."},
    )
    save_card = forms.BooleanField(label="Save this card for my next invoices", required=False)
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=100)


class AccountCreditForm(forms.Form):
    """ "Add account credit": a goodwill credit entered by staff, with a reason."""

    reason = forms.CharField(
        label="Reason", max_length=300, help_text="Shown in the account and the history."
    )
    field_order = ["amount", "reason"]

    def __init__(self, *args, currency: str, **kwargs):
        kwargs.setdefault("auto_id", "account-credit-%s")
        super().__init__(*args, **kwargs)
        self.fields["amount"] = money_field("Amount", currency)
        self.order_fields(self.field_order)


class ApplyCreditForm(forms.Form):
    """ "Apply account credit": as much as possible unless an amount is given."""

    def __init__(self, *args, currency: str, **kwargs):
        kwargs.setdefault("prefix", "apply")
        super().__init__(*args, **kwargs)
        self.fields["amount"] = money_field("Amount", currency)
        self.fields["amount"].required = False
        self.fields["amount"].help_text = "Leave empty to apply as much as possible."


class RefundForm(forms.Form):
    """A refund of one payment of the invoice. The key is made when the page is
    drawn: the same page submitted twice is one refund."""

    payment = forms.TypedChoiceField(coerce=int, widget=forms.HiddenInput, choices=())
    reason = forms.CharField(label="Reason", max_length=300)
    method = forms.ChoiceField(label="Paid back", choices=Refund.Method.choices)
    from_account = forms.BooleanField(
        label="Pay it out of the account credit",
        required=False,
        help_text="The refund uses the payer's account credit instead of this invoice's money.",
    )
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    field_order = ["payment", "amount", "method", "reason", "from_account", "request_key"]

    def __init__(self, *args, currency: str, payments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment"].choices = [(p.pk, str(p.pk)) for p in payments]
        self.fields["amount"] = money_field("Amount", currency)
        self.order_fields(self.field_order)


class StatementForm(forms.Form):
    """The statement's dates, read from the address: whatever is typed, a statement
    renders (a refused date shows its error, and the default stands)."""

    start = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date such as 2026-03-31."},
    )
    end = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date such as 2026-03-31."},
    )

    EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)

    @staticmethod
    def default_range(today: date) -> tuple[date, date]:
        """From the first of the month two months back to today."""
        month = today.month - 2
        year = today.year + (month - 1) // 12
        return date(year, (month - 1) % 12 + 1, 1), today

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            value = data.get(name)
            if value is not None and not self.EARLIEST <= value <= self.LATEST:
                self.add_error(name, "Enter a date from 1900 to 2999.")
        start, end = data.get("start"), data.get("end")
        if start and end and end < start and not self.errors:
            self.add_error("end", "The last day is before the first.")
        return data

    def dates(self, today: date) -> tuple[date, date]:
        """The dates to show: those given and valid, the defaults otherwise."""
        start, end = self.default_range(today)
        if self.is_valid():
            start = self.cleaned_data.get("start") or start
            end = self.cleaned_data.get("end") or end
            if end < start:
                start = end
        return start, end

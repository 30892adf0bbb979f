from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce

from opus.lib.fields import currency_field, money_field
from opus.lib.visibility import practitioner_scope
from relationships.models import Relationship


class InvoiceSequence(models.Model):
    """The counter row locked by the issuing transaction: gapless numbering."""

    name = models.CharField(max_length=30, primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_number}"


# The practitioner whose session an invoice line bills or credits (None: no session)
LINE_PRACTITIONER = Coalesce(
    "subscription__session__practitioner_id", "booking__session_date__session__practitioner_id"
)


class InvoiceQuerySet(models.QuerySet):
    def visible_to(self, user) -> "InvoiceQuerySet":
        """Staff see all. A practitioner sees the invoices of the relationships they
        can see that are about no other practitioner's sessions: no line bills or
        credits another's session, and no transfer it settles moved the client out
        of another's (its credit names that session; the front desk registers that
        rule). An invoice that also bills another's sessions is staff's alone: its
        total, discounts and payments would tell one practitioner what the other
        charges (docs/quality.md Security 17)."""
        others_lines = (
            InvoiceLine.objects.filter(invoice_id=OuterRef("pk"))
            .annotate(practitioner_id=LINE_PRACTITIONER)
            .filter(practitioner_id__isnull=False)
            .exclude(practitioner_id=user.pk)
        )
        return practitioner_scope(
            self,
            user,
            Exists(Relationship.objects.visible_to(user).filter(pk=OuterRef("relationship_id")))
            & ~Exists(others_lines),
        )


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        CLOSED = "closed", "Closed"

    number = models.PositiveIntegerField(null=True, blank=True, unique=True)
    payer = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="invoices")
    relationship = models.ForeignKey(
        "relationships.Relationship",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    currency = currency_field()
    total = money_field(default=0)
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    close_reason = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-number", "-pk"]
        indexes = [models.Index(fields=["payer", "status"], name="invoice_payer_status_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                condition=Q(status="draft", number__isnull=True, issued_on__isnull=True)
                | (~Q(status="draft") & Q(number__isnull=False, issued_on__isnull=False)),
                name="invoice_issued_has_number",
            ),
            models.CheckConstraint(
                condition=~Q(status="open") | Q(due_on__isnull=False),
                name="invoice_open_has_due_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="void") | ~Q(void_reason=""), name="invoice_void_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | ~Q(close_reason=""),
                name="invoice_closed_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(number__gte=1), name="invoice_number_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"INV-{self.number:06d}" if self.number else f"Draft #{self.pk}"


class InvoiceLine(models.Model):
    """A charge, a discount (a price cut) or a credit (money owed back). Amounts are
    stored positive; the kind gives the sign."""

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        DISCOUNT = "discount", "Discount"
        CREDIT = "credit", "Credit"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=8, decimal_places=2, default=1)
    unit_price = money_field(default=0)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount = money_field()
    reason = models.CharField(max_length=300, blank=True)
    subscription = models.ForeignKey(
        "scheduling.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    booking = models.ForeignKey(
        "scheduling.Booking",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="line_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="line_unit_price_not_negative"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(kind="charge") | ~Q(reason=""), name="line_adjustment_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True)
                | Q(kind="discount", percent__gt=0, percent__lte=100),
                name="line_percent_only_on_discount",
            ),
        ]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    # Set by record_payment, not stored: what of this payment went to the account as credit.
    excess: Any = None

    class Method(models.TextChoices):
        CARD = "card", "Card on file"
        CASH = "cash", "Cash"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD_TERMINAL = "card_terminal", "Card terminal"
        OTHER = "other", "Other"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = money_field()
    currency = currency_field()
    method = models.CharField(max_length=20, choices=Method.choices)
    reference = models.CharField(max_length=200, blank=True)
    payment_method = models.ForeignKey(
        "billing.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    gateway_charge_id = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    disputed_at = models.DateTimeField(
        null=True, blank=True, help_text="The payer's bank told the processor of a dispute."
    )
    dispute_reason = models.CharField(max_length=100, blank=True)
    refunded = money_field(
        default=0,
        help_text="Refunded or being refunded (pending refunds reserve their amount).",
    )
    received_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0, refunded__lte=models.F("amount")),
                name="payment_refunded_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(method="card")
                | (Q(payment_method__isnull=False) & ~Q(gateway_charge_id="")),
                name="payment_card_has_charge",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.invoice}"

    @property
    def dispute_label(self) -> str:
        """``product_not_received`` as people read it."""
        return self.dispute_reason.replace("_", " ")


class PaymentAttempt(models.Model):
    """One try at charging a card on file, recorded (committed) before the processor
    is asked, and settled after with what it answered. Its idempotency key is its
    own: a retry of this attempt sends the same key (the processor charges once);
    a new try is a new attempt with a new key (a processor answers a reused key
    with the first answer, a decline included). An attempt left pending (the
    processor did not answer, or the process died after asking) is settled by
    ``billing.services.reconcile_payment_attempts``."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"
        FAILED = "failed", "Failed: nothing charged"
        ACTION = "action", "Awaiting the payer's confirmation"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="attempts")
    payment_method = models.ForeignKey(
        "billing.PaymentMethod", on_delete=models.PROTECT, related_name="attempts"
    )
    amount = money_field()
    currency = currency_field()
    idempotency_key = models.CharField(max_length=100, unique=True)
    request_key = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="The key of the submission that asked (the page's form, a transfer): "
        "the same submission again finds this attempt instead of starting another.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    gateway_reference = models.CharField(
        max_length=100,
        blank=True,
        help_text="The processor's payment (Stripe: a PaymentIntent) awaiting the payer's "
        "confirmation (3-D Secure).",
    )
    decline_code = models.CharField(max_length=50, blank=True)
    decline_message = models.CharField(max_length=300, blank=True)
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="attempt"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # a double click, or two tabs, cannot start two charges of one invoice
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status="pending"),
                name="payment_attempt_one_pending_per_invoice",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_attempt_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "declined", "failed", "action"]),
                name="payment_attempt_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "action"], settled_at__isnull=True)
                | (~Q(status__in=["pending", "action"]) & Q(settled_at__isnull=False)),
                name="payment_attempt_settled_unless_pending",
            ),
            models.CheckConstraint(
                condition=Q(status="succeeded", payment__isnull=False)
                | (~Q(status="succeeded") & Q(payment__isnull=True)),
                name="payment_attempt_payment_iff_succeeded",
            ),
            models.CheckConstraint(
                condition=~Q(status="declined") | ~Q(decline_code=""),
                name="payment_attempt_declined_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} charge of {self.amount} {self.currency}"

    @property
    def decline_reason(self) -> str:
        """``insufficient_funds`` as people read it: "insufficient funds"."""
        return self.decline_code.replace("_", " ")


class PaymentMethodQuerySet(models.QuerySet):
    def usable(self, today=None) -> "PaymentMethodQuerySet":
        """Not removed and not expired: a card works to the end of its expiry month."""
        from django.utils import timezone

        today = today or timezone.localdate()
        return self.filter(removed_at__isnull=True).filter(
            Q(exp_year__gt=today.year) | Q(exp_year=today.year, exp_month__gte=today.month)
        )


class PaymentMethod(models.Model):
    """A card on file: the gateway's token and what may be shown. Never a card
    number or a security code."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="payment_methods"
    )
    gateway = models.CharField(max_length=30)
    token = models.CharField(max_length=200, unique=True)
    brand = models.CharField(max_length=30)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    expiry_notice_at = models.DateTimeField(
        null=True, blank=True, help_text="When the payer was emailed a link to replace it."
    )
    # What the payer agreed to when they saved it through a link (the card link, or
    # the pay link with "save my card"): the text shown (billing/consent.py), its
    # version and when. The payer is ``client``. The one record of a card's consent;
    # all three set or none (a card staff entered by other means has none).
    consent_text = models.TextField(blank=True)
    consent_version = models.CharField(max_length=20, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)

    objects = PaymentMethodQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(last4__regex=r"^[0-9]{4}$"), name="payment_method_last4_is_four_digits"
            ),
            models.CheckConstraint(
                condition=Q(exp_month__gte=1, exp_month__lte=12),
                name="payment_method_exp_month_valid",
            ),
            models.CheckConstraint(
                condition=Q(exp_year__gte=2000, exp_year__lte=2200),
                name="payment_method_exp_year_valid",
            ),
            models.CheckConstraint(
                condition=Q(consent_text="", consent_version="", consented_at__isnull=True)
                | (~Q(consent_text="") & ~Q(consent_version="") & Q(consented_at__isnull=False)),
                name="payment_method_consent_whole_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class PaymentCardRequest(models.Model):
    """A single-use, expiring link emailed to a client to add a card. The token
    is never stored: only its SHA-256 hash, and a nonce from which the worker
    re-derives it with the server's key when it sends the email."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.CASCADE, related_name="card_requests"
    )
    relationship = models.ForeignKey(
        "relationships.Relationship",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="card_requests",
    )
    reason = models.CharField(max_length=300)
    nonce = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    email_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="The provider refused the email for good."
    )
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="When the link's page was first shown (reports)."
    )
    used_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    payment_method = models.OneToOneField(
        PaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="card_request"
    )
    setup_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The processor's card setup this link's page uses (Stripe: a SetupIntent).",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=Q(used_at__isnull=True, superseded_at__isnull=True),
                name="card_request_one_live_per_client",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="card_request_expires_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True) | Q(payment_method__isnull=False),
                name="card_request_used_has_card",
            ),
        ]

    def __str__(self) -> str:
        return f"Card request for {self.client}"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Email could not be delivered"
        EXPIRED = "expired", "Expired"
        USED = "used", "Card added"
        SUPERSEDED = "superseded", "Replaced by a newer request"

    def state_at(self, now) -> str:
        """Where this request stands; the link works only while pending or sent."""
        if self.used_at:
            return self.State.USED
        if self.superseded_at:
            return self.State.SUPERSEDED
        if self.expires_at <= now:
            return self.State.EXPIRED
        if self.email_failed_at:
            return self.State.FAILED
        if self.sent_at:
            return self.State.SENT
        return self.State.PENDING

    def is_live_at(self, now) -> bool:
        return self.used_at is None and self.superseded_at is None and self.expires_at > now


class ChargedDate(models.Model):
    """One session date a charge line bills: what the line covers, as a fact.

    A date of a subscription (or a one-off booking) is charged at most once while
    its invoice stands: the partial unique constraints below hold that in the
    database, whoever writes the line (the billing run, from two workers at once, a
    transfer's first-month invoice). Voiding an invoice releases its dates
    (``live`` turns false, the row stays as the record of what the void line had
    billed), so that they can be billed again."""

    line = models.ForeignKey(InvoiceLine, on_delete=models.CASCADE, related_name="charged_dates")
    subscription = models.ForeignKey(
        "scheduling.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charged_dates",
    )
    booking = models.ForeignKey(
        "scheduling.Booking",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charged_dates",
    )
    session_date = models.ForeignKey(
        "scheduling.SessionDate", on_delete=models.PROTECT, related_name="charged_dates"
    )
    date = models.DateField()
    live = models.BooleanField(default=True)

    class Meta:
        ordering = ["date", "pk"]
        indexes = [models.Index(fields=["date"], name="charged_date_date_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(subscription__isnull=False, booking__isnull=True)
                | Q(subscription__isnull=True, booking__isnull=False),
                name="charged_date_subscription_or_booking",
            ),
            models.UniqueConstraint(
                fields=["subscription", "session_date"],
                condition=Q(live=True, subscription__isnull=False),
                name="charged_date_once_per_subscription_date",
            ),
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(live=True, booking__isnull=False),
                name="charged_date_once_per_booking",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%d %b %Y} on {self.line}"


class BillingRun(models.Model):
    """One month's billing run: prepared (its drafts waiting for approval), then
    issued. One run per month: preparing the same month again finds it."""

    class Status(models.TextChoices):
        PREPARED = "prepared", "Waiting for approval"
        ISSUING = "issuing", "Issuing"
        ISSUED = "issued", "Issued"

    period_start = models.DateField(unique=True)
    period_end = models.DateField(help_text="The first day after the period.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREPARED)
    invoices = models.ManyToManyField(Invoice, blank=True, related_name="billing_runs")
    to_issue = models.PositiveIntegerField(default=0)
    issued_count = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=500, blank=True)
    prepared_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=models.F("period_start")),
                name="billing_run_period_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["prepared", "issuing", "issued"]),
                name="billing_run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Billing run for {self.period_start:%B %Y}"


# --- collecting issued invoices: the pay link, autopay, the invoice's history ---------------


class InvoicePayLink(models.Model):
    """The public link of an issued invoice ("Pay this invoice"), emailed with it.
    Like the card link, only the token's SHA-256 and a nonce are kept (the worker
    re-derives the token from the nonce: ``billing.tokens.pay_token_for``). The
    link works while the invoice is open; once paid it says so; void or closed:
    gone (410)."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="pay_link")
    nonce = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    setup_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The processor's card setup the page uses (Stripe: a SetupIntent); "
        "cleared once a card was taken through it.",
    )

    def __str__(self) -> str:
        return f"Pay link of {self.invoice_id}"


class AutopayPlan(models.Model):
    """Autopay of one issued invoice: when the next attempt is due, how many were
    made, and, after the last of the practice's retry ladder, when it was handed
    to staff for follow-up. One per invoice; made when the invoice is issued to a
    payer with autopay."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="autopay")
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ladder = models.CharField(max_length=50, blank=True, help_text="The retry days it follows.")
    follow_up_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(next_attempt_at__isnull=True),
                name="autopay_finished_has_no_next_attempt",
            ),
            models.CheckConstraint(
                condition=Q(follow_up_at__isnull=True) | Q(next_attempt_at__isnull=True),
                name="autopay_follow_up_has_no_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"Autopay of {self.invoice_id}"


class InvoiceEvent(models.Model):
    """The invoice's own history: autopay attempts and retries, the follow-up,
    reminders, receipts, a payment through the pay link."""

    class Kind(models.TextChoices):
        AUTOPAY = "autopay", "Autopay"
        FOLLOW_UP = "follow_up", "Needs follow-up"
        PAY_LINK = "pay_link", "Paid through the link"
        RECEIPT = "receipt", "Receipt"
        REMINDER = "reminder", "Reminder"
        LATE_FEE = "late_fee", "Late fee"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    summary = models.CharField(max_length=300)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return self.summary


class InvoiceReminder(models.Model):
    """A reminder of an open invoice without autopay, sent for one step of the
    practice's reminder days (relative to the due date): each step at most once."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminders")
    step = models.SmallIntegerField(help_text="Days from the due date (negative: before).")
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["sent_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="reminder_once_per_step"),
        ]

    def __str__(self) -> str:
        return f"Reminder {self.step:+d} of {self.invoice_id}"


class LateFee(models.Model):
    """The practice's late fee on an open invoice without autopay, unpaid its days
    after the due date: billed once per invoice (the one-to-one holds it) on an
    invoice of its own (``fee_invoice``), issued and emailed."""

    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="late_fee")
    fee_invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="late_fee_for"
    )
    amount = money_field()
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="late_fee_positive"),
            models.CheckConstraint(
                condition=~Q(invoice=F("fee_invoice")), name="late_fee_not_on_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"Late fee on {self.invoice_id}"


class StripeCustomer(models.Model):
    """The payer's customer at Stripe, created when first needed."""

    client = models.OneToOneField(
        "clients.Client", on_delete=models.PROTECT, related_name="stripe_customer"
    )
    customer_id = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.customer_id


class GatewayEvent(models.Model):
    """A webhook event from the card processor, stored once by its id (a replay or
    a duplicate delivery finds it stored and changes nothing), processed by the
    worker."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class PaymentConfirmation(models.Model):
    """The link emailed to a payer whose bank asks them to confirm a card charge
    (3-D Secure): the shared link-token scheme (opus/lib/tokens.py), the token
    held only hashed."""

    attempt = models.OneToOneField(
        PaymentAttempt, on_delete=models.CASCADE, related_name="confirmation"
    )
    nonce = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="payment_confirmation_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"Confirmation of {self.attempt}"

    def is_live_at(self, now) -> bool:
        return self.completed_at is None and self.expires_at > now


class Account(models.Model):
    """A payer's credit in one currency. ``balance`` is what the ledger's entries
    add up to, kept on this row so that the database holds the floor: every entry
    is written under a lock of this row (``select_for_update``) and moves the
    balance by its amount, and the CheckConstraint refuses a balance below zero
    whatever a writer computed. The entries are the truth a person reads; this row
    is their running sum."""

    payer = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="accounts")
    currency = currency_field()
    balance = money_field(default=0)
    entry_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["payer_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["payer", "currency"], name="account_one_per_currency"),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="account_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Account of {self.payer_id} in {self.currency}"


class AccountEntry(models.Model):
    """One movement of a payer's credit: a credit (positive amount) or a use of it
    (negative). Append-only: the database refuses an update or a delete (migration
    0008's trigger), as it refuses edits to issued invoices; a mistake is corrected
    by another entry. ``balance_after`` is the account's balance once this entry is
    written; ``position`` numbers the account's entries 1, 2, 3... without gaps."""

    class Kind(models.TextChoices):
        TRANSFER = "transfer", "Unused value of a transfer"
        REBOOKING = "rebooking", "Already paid for rebooked sessions"
        OVERPAYMENT = "overpayment", "Overpayment"
        GOODWILL = "goodwill", "Goodwill credit"
        APPLIED = "applied", "Applied to an invoice"
        REFUNDED = "refunded", "Paid out by a refund"
        REFUND_FAILED = "refund_failed", "Refund failed: credit restored"

    CREDITS = ("transfer", "rebooking", "overpayment", "goodwill", "refund_failed")
    USES = ("applied", "refunded")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = money_field()
    balance_after = money_field()
    description = models.CharField(max_length=300)
    reason = models.CharField(max_length=300, blank=True)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="account_entries"
    )
    invoice_line = models.OneToOneField(
        InvoiceLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="account_entry",
    )
    refund = models.ForeignKey(
        "billing.Refund",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="account_entries",
    )
    source = models.CharField(
        max_length=100,
        blank=True,
        help_text="What the credit came from, when it is outside billing (a transfer: "
        "'transfer:<id>'): the same source credits once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-position"]
        verbose_name_plural = "account entries"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "position"], name="account_entry_position_unique"
            ),
            models.UniqueConstraint(
                fields=["source"],
                condition=~Q(source=""),
                name="account_entry_source_once",
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="account_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["transfer", "rebooking", "overpayment", "goodwill", "refund_failed"],
                    amount__gt=0,
                )
                | Q(kind__in=["applied", "refunded"], amount__lt=0),
                name="account_entry_sign_by_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="goodwill") | ~Q(reason=""),
                name="account_entry_goodwill_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(kind="applied") | Q(invoice_line__isnull=False),
                name="account_entry_applied_has_line",
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    @property
    def size(self):
        """The amount without its sign, as the page writes it after its sign."""
        return abs(self.amount)


# --- refunds ---------------------------------------------------------------------------------


class Refund(models.Model):
    """Money paid back on a payment: to the card through the processor (an attempt
    committed before the processor is asked, with its own idempotency key, settled
    after, as a charge is), or recorded as paid back by hand (cash, bank transfer).
    Never more than the payment less what was refunded: each refund reserves its
    amount on ``Payment.refunded`` while it is pending or succeeded, and the
    payment's CheckConstraint refuses more than was paid."""

    class Method(models.TextChoices):
        CARD = "card", "To the card"
        CASH = "cash", "Cash"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Refunded"
        DECLINED = "declined", "Refused by the card processor"
        FAILED = "failed", "Failed: nothing refunded"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = money_field()
    currency = currency_field()
    method = models.CharField(max_length=20, choices=Method.choices)
    reason = models.CharField(max_length=300)
    from_account = models.BooleanField(
        default=False, help_text="Pays out the payer's account credit (not the invoice's money)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    request_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    gateway_refund_id = models.CharField(max_length=100, blank=True)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="refund_has_reason"),
            models.CheckConstraint(
                condition=~Q(method="card") | Q(idempotency_key__isnull=False),
                name="refund_card_has_key",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", settled_at__isnull=True)
                | (~Q(status="pending") & Q(settled_at__isnull=False)),
                name="refund_settled_unless_pending",
            ),
            models.UniqueConstraint(
                fields=["payment"],
                condition=Q(status="pending"),
                name="refund_one_pending_per_payment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} refund of {self.amount} {self.currency}"

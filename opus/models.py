from datetime import timedelta
from email.utils import formataddr
from itertools import pairwise

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone


class User(AbstractUser):
    """A person who logs in: staff (everything) or a practitioner (their own sessions)."""

    class Role(models.TextChoices):
        STAFF = "staff", "Staff"
        PRACTITIONER = "practitioner", "Practitioner"

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PRACTITIONER)

    class Meta:
        ordering = ["first_name", "last_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["staff", "practitioner"]), name="user_role_valid"
            ),
        ]

    @property
    def is_practice_staff(self) -> bool:
        return self.is_active and (self.role == self.Role.STAFF or self.is_superuser)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    def __str__(self) -> str:
        return self.display_name


class OutboundEmail(models.Model):
    """The outbox: written in the same transaction as what caused the email.

    A task claims a row and sends it; a periodic sweep picks up rows the broker
    never delivered. ``sent_at`` is stamped once, so a redelivered task sends nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Could not be delivered"

    template = models.CharField(max_length=80)
    to_address = models.EmailField()
    client = models.ForeignKey(
        "clients.Client", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claims = models.PositiveSmallIntegerField(
        default=0, help_text="Sends started; more than attempts when a worker died mid-send."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="pending"), name="outbox_pending_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"),
                name="outbox_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} #{self.pk} ({self.status})"


class WorkerHeartbeat(models.Model):
    """Written by the worker every minute (and on demand): /healthz tells how long
    ago a worker last ran a task."""

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at}"


class Invitation(models.Model):
    """A single-use, expiring link to set a password and join the team.

    Held as the card link's token is (opus/lib/tokens.py): a random ``nonce``
    and the SHA-256 of the token, never the token; the email's worker re-derives
    the token from the nonce. A newer invitation for the same person ends the
    older one (``replaced_at``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    nonce = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="invitation_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation #{self.pk}"

    def state_at(self, now) -> str:
        """live, used, replaced or expired."""
        if self.used_at is not None:
            return "used"
        if self.replaced_at is not None:
            return "replaced"
        if self.expires_at <= now:
            return "expired"
        return "live"

    def is_live_at(self, now) -> bool:
        return self.state_at(now) == "live"


PRACTICE_ID = 1
DUE_DAYS_RANGE = (0, 365)
CARD_LINK_DAYS_RANGE = (1, 30)
# the cancellation policy's bounds (the practice's default and a service's own)
NOTICE_HOURS_RANGE = (0, 720)
MAKEUP_WEEKS_RANGE = (1, 52)
# the billing run's day of the month: at most 28, so that every month has it
BILLING_DAY_RANGE = (1, 28)
LATE_FEE_DAYS_RANGE = (1, 365)
DAY_STEPS_MAX = 10


def parse_day_steps(text: str, *, allow_negative: bool) -> list[int] | None:
    """ "3, 7" -> [3, 7]: increasing whole days (up to 365), at most DAY_STEPS_MAX;
    None when the text is not such a list."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    try:
        days = [int(part) for part in parts]
    except ValueError:
        return None
    low = -365 if allow_negative else 1
    if len(days) > DAY_STEPS_MAX or any(not low <= day <= 365 for day in days):
        return None
    if any(later <= earlier for earlier, later in pairwise(days)):
        return None
    return days


# How money and dates are written (Babel's locale codes): 1.234,50 € for de_DE
LOCALES = {
    "en_GB": "English (United Kingdom)",
    "en_IE": "English (Ireland)",
    "en_US": "English (United States)",
    "en_CA": "English (Canada)",
    "en_AU": "English (Australia)",
    "de_DE": "Deutsch (Deutschland)",
    "de_AT": "Deutsch (Österreich)",
    "de_CH": "Deutsch (Schweiz)",
    "fr_FR": "Français (France)",
    "nl_NL": "Nederlands (Nederland)",
    "es_ES": "Español (España)",
    "it_IT": "Italiano (Italia)",
}
DEFAULT_LOCALE = "en_GB"


class Practice(models.Model):
    """The practice's own details and policies, edited by staff on "Practice
    settings". One row only (its id is fixed); until staff first save, the
    environment's values stand in (``opus.practice.current``)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=PRACTICE_ID, editable=False)
    name = models.CharField("practice name", max_length=200)
    address = models.TextField("postal address", blank=True)
    email = models.EmailField("contact email", max_length=254, blank=True)
    phone = models.CharField("contact phone", max_length=40, blank=True)
    tax_number = models.CharField("tax or VAT number", max_length=50, blank=True)
    invoice_footer = models.TextField(blank=True)
    payment_instructions = models.TextField(blank=True)
    invoice_due_days = models.PositiveSmallIntegerField(default=14)
    card_link_days = models.PositiveSmallIntegerField(default=7)
    reply_to = models.EmailField("reply-to address", max_length=254, blank=True)
    # the default cancellation policy (a service may set its own: scheduling.policy)
    cancel_notice_hours = models.PositiveSmallIntegerField(default=24)
    charge_late_cancellations = models.BooleanField(default=True)
    charge_no_shows = models.BooleanField(default=True)
    makeup_credits = models.BooleanField(default=False)
    makeup_weeks = models.PositiveSmallIntegerField(default=4)
    # everyone on the team (staff and practitioners) logs in with a second factor
    require_two_factor = models.BooleanField(default=False)

    # the monthly billing run (billing.services.runs)
    class BillingTiming(models.TextChoices):
        ADVANCE = "advance", "In advance (the next month)"
        ARREARS = "arrears", "In arrears (the month just ended)"

    billing_timing = models.CharField(
        max_length=10, choices=BillingTiming.choices, default=BillingTiming.ADVANCE
    )
    billing_day = models.PositiveSmallIntegerField(default=25)
    billing_auto_approve = models.BooleanField(default=False)
    # autopay (billing.services.collection): an issued invoice charged to the card on file
    autopay_enabled = models.BooleanField(default=True)
    autopay_retry_days = models.CharField(max_length=50, blank=True, default="3,7")
    # reminders of open invoices without autopay: days relative to the due date
    reminder_days = models.CharField(max_length=50, blank=True, default="-3,7,14")
    # an optional late fee on those invoices, once each (billing.services.collection)
    late_fee = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    late_fee_days = models.PositiveSmallIntegerField(default=14)
    locale = models.CharField(
        "format of money and dates", max_length=10, default=DEFAULT_LOCALE, choices=LOCALES
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=PRACTICE_ID), name="practice_single_row"),
            models.CheckConstraint(condition=~Q(name=""), name="practice_has_name"),
            models.CheckConstraint(
                condition=Q(invoice_due_days__range=DUE_DAYS_RANGE),
                name="practice_due_days_range",
            ),
            models.CheckConstraint(
                condition=Q(card_link_days__range=CARD_LINK_DAYS_RANGE),
                name="practice_card_link_days_range",
            ),
            models.CheckConstraint(
                condition=Q(cancel_notice_hours__range=NOTICE_HOURS_RANGE),
                name="practice_notice_hours_range",
            ),
            models.CheckConstraint(
                condition=Q(makeup_weeks__range=MAKEUP_WEEKS_RANGE),
                name="practice_makeup_weeks_range",
            ),
            models.CheckConstraint(
                condition=Q(billing_day__range=BILLING_DAY_RANGE),
                name="practice_billing_day_range",
            ),
            models.CheckConstraint(
                condition=Q(billing_timing__in=["advance", "arrears"]),
                name="practice_billing_timing_valid",
            ),
            models.CheckConstraint(
                condition=Q(locale__in=list(LOCALES)), name="practice_locale_known"
            ),
            models.CheckConstraint(
                condition=Q(late_fee__isnull=True) | Q(late_fee__gt=0),
                name="practice_late_fee_positive",
            ),
            models.CheckConstraint(
                condition=Q(late_fee_days__range=LATE_FEE_DAYS_RANGE),
                name="practice_late_fee_days_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def autopay_ladder(self) -> list[int]:
        """The retry days after a declined autopay's first attempt ("3,7": [3, 7])."""
        return parse_day_steps(self.autopay_retry_days, allow_negative=False) or []

    @property
    def reminder_steps(self) -> list[int]:
        """Days relative to the due date a reminder goes out on ("-3,7": [-3, 7])."""
        return parse_day_steps(self.reminder_days, allow_negative=True) or []

    @property
    def card_link_ttl(self) -> timedelta:
        return timedelta(days=self.card_link_days)

    @property
    def reply_to_header(self) -> str:
        """The Reply-To of client emails: the practice's name and address, or ""."""
        return formataddr((self.name, self.reply_to)) if self.reply_to else ""


class PracticeChange(models.Model):
    """One save of the practice settings: who, when, and each field's old and new
    value (``changes``: a list of {"field", "label", "from", "to"})."""

    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(default=list)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"Practice settings changed at {self.changed_at}"


class TeamEvent(models.Model):
    """The team's history: who invited, changed, deactivated or reactivated whom,
    and which sessions went to whom when a practitioner left."""

    class Kind(models.TextChoices):
        INVITED = "invited", "Invited"
        INVITATION_RESENT = "invitation_resent", "Invitation sent again"
        JOINED = "joined", "Joined"
        ROLE_CHANGED = "role_changed", "Role changed"
        DEACTIVATED = "deactivated", "Deactivated"
        REACTIVATED = "reactivated", "Reactivated"
        SESSION_HANDED_OVER = "session_handed_over", "Session handed over"
        PASSWORD_RESET = "password_reset", "Password reset"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="team_events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    summary = models.CharField(max_length=300)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"

"""The front desk's records: the workflows that cross the apps (a session transfer
ends a subscription, starts another and issues an invoice)."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from scheduling.models import Session, Subscription


class Transfer(models.Model):
    """The record of a session transfer: one subscription ended, another started."""

    from_subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="transfer_out"
    )
    to_subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="transfer_in"
    )
    transfer_date = models.DateField()
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "scheduling_transfer"  # moved from scheduling, table kept
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_subscription=F("to_subscription")), name="transfer_not_to_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"Transfer of {self.from_subscription} on {self.transfer_date}"


class TransferDraft(models.Model):
    """The transfer wizard's state: one row per wizard, addressed by a public id,
    so that back, reload and a shared link work, and a replayed final step finds
    the transfer it already made."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="transfer_drafts"
    )
    transfer_date = models.DateField()
    target = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    first_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    # full dates of the target the user accepted to skip ("accept with those dates skipped")
    skipped_dates = ArrayField(models.DateField(), default=list, blank=True)
    discounts = models.JSONField(default=list, blank=True)
    apply_credit = models.BooleanField(default=False)
    # what becomes of the unused value the new invoice cannot absorb
    leftover = models.CharField(
        max_length=10,
        choices=[("credit", "Keep it as account credit"), ("refund", "Refund it")],
        default="credit",
    )
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.SET_NULL, related_name="draft"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "scheduling_transferdraft"  # moved from scheduling, table kept

    def __str__(self) -> str:
        return f"Transfer draft for {self.subscription}"


class Enrolment(models.Model):
    """The record of an enrolment made at the front desk ("Add a client" on a
    roster, "Enrol" on a profile): the subscription, its first invoice, and the
    form's key, so that the same submission twice makes one enrolment."""

    request_key = models.CharField(max_length=64, unique=True)
    subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="enrolment"
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="enrolments",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Enrolment of {self.subscription}"


class Withdrawal(models.Model):
    """A subscription ended by the client's choice, with a reason. A transfer is
    never a withdrawal: it ends its subscription through its own record."""

    class Reason(models.TextChoices):
        MOVED_AWAY = "moved_away", "Moved away"
        SCHEDULE = "schedule", "Schedule"
        COST = "cost", "Cost"
        OTHER = "other", "Other"

    subscription = models.OneToOneField(
        Subscription, on_delete=models.PROTECT, related_name="withdrawal"
    )
    last_date = models.DateField(help_text="The last date the client attends.")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True)
    payer_emailed = models.BooleanField(default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=["moved_away", "schedule", "cost", "other"]),
                name="withdrawal_reason_valid",
            ),
            models.CheckConstraint(
                condition=~Q(reason="other") | ~Q(note=""), name="withdrawal_other_has_note"
            ),
        ]

    def __str__(self) -> str:
        return f"Withdrawal from {self.subscription} after {self.last_date}"


class ImportJobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ImportJobQuerySet":
        """Staff see every import; nobody else sees any."""
        if user.is_authenticated and user.is_practice_staff:
            return self
        return self.none()


class ImportJob(models.Model):
    """One CSV file brought in from another product: checked first (the dry run),
    then imported. The file is kept as text in the row, so the background worker
    reads it wherever it runs; the page polls the row's progress."""

    class Kind(models.TextChoices):
        CLIENTS = "clients", "Clients"
        RELATIONSHIPS = "relationships", "Relationships (who pays)"
        ENROLMENTS = "enrolments", "Enrolments"

    class Status(models.TextChoices):
        CHECKING = "checking", "Checking"
        CHECKED = "checked", "Checked"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    filename = models.CharField(max_length=200)
    content = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CHECKING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    # {"created": n, "updated": n, "unchanged": n}: what the dry run foresaw, then what happened
    counts = models.JSONField(default=dict, blank=True)
    # [{"line": n, "message": "..."}], the file's line numbers (the header is line 1)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__lte=F("total_rows")), name="import_progress_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Import of {self.filename} ({self.get_status_display()})"

    @property
    def running(self) -> bool:
        return self.status in (self.Status.CHECKING, self.Status.IMPORTING)

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else self.processed_rows * 100 // self.total_rows

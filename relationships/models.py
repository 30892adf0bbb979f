from django.conf import settings
from django.db import models
from django.db.models import F, Q

from opus.lib.visibility import practitioner_scope


class RelationshipQuerySet(models.QuerySet):
    def visible_to(self, user) -> "RelationshipQuerySet":
        """Staff see all; a practitioner sees the relationships that name them or
        under which one of their sessions is booked (a rule scheduling registers)."""
        return practitioner_scope(self, user, Q(practitioner=user))

    def active(self) -> "RelationshipQuerySet":
        return self.filter(status=Relationship.Status.ACTIVE)


class Relationship(models.Model):
    """Who pays for whose sessions. First party: the attendee pays. Third party:
    the organiser (payer) pays for the attendee."""

    class Kind(models.TextChoices):
        FIRST_PARTY = "first_party", "First party"
        THIRD_PARTY = "third_party", "Third party"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    payer = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="relationships_as_payer"
    )
    attendee = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="relationships_as_attendee"
    )
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="relationships",
        help_text="Empty when it covers sessions with anyone.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RelationshipQuerySet.as_manager()

    class Meta:
        ordering = ["-started_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="first_party", payer=F("attendee"))
                | (Q(kind="third_party") & ~Q(payer=F("attendee"))),
                name="relationship_first_party_iff_self_paying",
            ),
            models.CheckConstraint(
                condition=Q(status="active", ended_on__isnull=True, replaced_by__isnull=True)
                | Q(status="ended", ended_on__isnull=False),
                name="relationship_ended_has_end_date",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="relationship_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["payer", "attendee", "practitioner"],
                condition=Q(status="active"),
                nulls_distinct=False,
                name="relationship_one_active_per_parties",
            ),
            # target of the composite foreign keys from subscriptions and bookings:
            # what is booked under a relationship is booked for its attendee
            models.UniqueConstraint(fields=["id", "attendee"], name="relationship_id_attendee"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.FIRST_PARTY:
            return f"{self.attendee} (first party)"
        return f"{self.payer} for {self.attendee}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("relationships:detail", args=[self.pk])

    @property
    def is_third_party(self) -> bool:
        return self.kind == self.Kind.THIRD_PARTY

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class RelationshipMigration(models.Model):
    """Moving a third-party relationship to first party, asked for by a client.

    The draft is a row so that a half-finished migration (waiting on the attendee
    for a phone number) can be resumed days later by any allowed user.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        AWAITING_CARD = "awaiting_card", "Awaiting a card"
        COMPLETED = "completed", "Completed"

    class RequestedBy(models.TextChoices):
        ORGANISER = "organiser", "The organiser (payer)"
        ATTENDEE = "attendee", "The attendee"

    old_relationship = models.OneToOneField(
        Relationship, on_delete=models.PROTECT, related_name="migration_out"
    )
    new_relationship = models.OneToOneField(
        Relationship, null=True, blank=True, on_delete=models.PROTECT, related_name="migration_in"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    requested_by = models.CharField(max_length=10, choices=RequestedBy.choices, blank=True)
    request_note = models.TextField(blank=True)
    details = models.JSONField(
        default=dict, blank=True, help_text="Missing client details typed so far."
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status="draft", new_relationship__isnull=True, confirmed_at__isnull=True
                )
                | (
                    ~Q(status="draft")
                    & Q(
                        new_relationship__isnull=False,
                        confirmed_at__isnull=False,
                        confirmed_by__isnull=False,
                    )
                    & ~Q(requested_by="")
                ),
                name="migration_confirmed_is_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Migration of {self.old_relationship} ({self.status})"

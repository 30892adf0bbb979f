from datetime import date

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Lower, Reverse

from clients import fields
from opus.lib.visibility import practitioner_scope


class DigitsOnly(Func):
    """regexp_replace(phone, '\\D', '', 'g'): '07700 900-123' -> '07700900123'."""

    template = "regexp_replace(%(expressions)s, '\\D', '', 'g')"


# What the client search matches, each under an index core PostgreSQL has (no pg_trgm):
# a word of the name by its start (full text, so "Baker" finds "Adams-Baker"), the
# email by its start, the phone's digits by their start or their end.
def name_words():
    return SearchVector("first_name", "last_name", config="simple")


def email_lower():
    return Lower("email")


def phone_digits():
    return DigitsOnly(F("phone"))


def phone_digits_reversed():
    return Reverse(DigitsOnly(F("phone")))


class ClientQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClientQuerySet":
        """Staff see every client; a practitioner sees the clients of the
        relationships they can see (as attendee or as payer: the relationships
        app registers that rule)."""
        return practitioner_scope(self, user)

    def active(self) -> "ClientQuerySet":
        """Not archived: what lists, search and pickers offer."""
        return self.filter(archived_at__isnull=True)


# What a client needs before they can pay for their own sessions: the one
# definition, used by the migration to first party.
PAYING_CLIENT_FIELDS = ("email", "date_of_birth", "phone", "address")
EXTERNAL_ID_MAX_LENGTH = 100


class Client(models.Model):
    """A person who attends sessions, pays for them, or both."""

    # what each may hold is defined once, in clients.fields
    first_name = models.CharField(
        max_length=fields.NAME_MAX_LENGTH, validators=[fields.validate_name]
    )
    last_name = models.CharField(
        max_length=fields.NAME_MAX_LENGTH, validators=[fields.validate_name]
    )
    email = models.EmailField(max_length=fields.EMAIL_MAX_LENGTH, blank=True)
    phone = models.CharField(
        max_length=fields.PHONE_MAX_LENGTH, blank=True, validators=[fields.validate_phone]
    )
    date_of_birth = models.DateField(
        null=True, blank=True, validators=[fields.validate_date_of_birth]
    )
    address = models.TextField(
        "postal address",
        blank=True,
        validators=[fields.validate_address, MaxLengthValidator(fields.ADDRESS_MAX_LENGTH)],
    )
    notes = models.TextField(blank=True)
    # the "Add client" form's key: a second submit of the same form (a double click,
    # the back button) finds the client the first one created instead of another
    request_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # the client's id in the product the practice came from: a CSV import matches
    # its rows by it, so the same file imported twice creates nobody new
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, blank=True, default="")
    autopay = models.BooleanField(
        default=True,
        help_text="Charge this payer's card on file when an invoice is issued (when they have "
        "a card and the practice has autopay on).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # archived: gone from lists, search and pickers; every invoice and history kept
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        indexes = [
            models.Index(Lower("last_name"), Lower("first_name"), name="client_name_idx"),
            models.Index(Lower("email"), name="client_email_idx"),
            GinIndex(name_words(), name="client_name_words_idx"),
            models.Index(
                OpClass(email_lower(), name="text_pattern_ops"), name="client_email_prefix_idx"
            ),
            models.Index(
                OpClass(phone_digits(), name="text_pattern_ops"), name="client_phone_prefix_idx"
            ),
            models.Index(
                OpClass(phone_digits_reversed(), name="text_pattern_ops"),
                name="client_phone_suffix_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(first_name="") & ~Q(last_name=""), name="client_has_name"
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="client_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=False) | Q(archived_by__isnull=True),
                name="client_archived_by_only_when_archived",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def missing_paying_details(self) -> list[str]:
        return [name for name in PAYING_CLIENT_FIELDS if not getattr(self, name)]

    def birthday_on(self, years: int) -> date | None:
        """The date this client turns ``years`` old (29 February -> 1 March)."""
        if self.date_of_birth is None:
            return None
        year = self.date_of_birth.year + years
        try:
            return self.date_of_birth.replace(year=year)
        except ValueError:
            return date(year, 3, 1)

    def age_on(self, day: date) -> int | None:
        if self.date_of_birth is None:
            return None
        born = self.date_of_birth
        age = day.year - born.year
        birthday = self.birthday_on(age)
        return age if birthday is not None and birthday <= day else age - 1


class ClientEventQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClientEventQuerySet":
        """Staff see every event. A practitioner sees the events about no one's
        sessions and those about theirs alone: none about another practitioner's
        sessions, their invoices or payments (docs/quality.md Security 17). Whose client
        it is, is the caller's business (``Client.objects.visible_to``)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(Q(practitioner__isnull=True, staff_only=False) | Q(practitioner=user))


class ClientEvent(models.Model):
    """What happened to a client, newest first: the client's history."""

    class Kind(models.TextChoices):
        CREATED = "created", "Client created"
        UPDATED = "updated", "Details updated"
        ARCHIVED = "archived", "Archived"
        RESTORED = "restored", "Restored"
        ENROLLED = "enrolled", "Enrolled"
        UNENROLLED_DATE = "unenrolled_date", "Unenrolled from one date"
        REENROLLED_DATE = "reenrolled_date", "Unenrollment undone"
        BOOKED = "booked", "Session booked"
        BOOKING_CANCELLED = "booking_cancelled", "Booking cancelled"
        TRANSFERRED = "transferred", "Transferred"
        WITHDRAWN = "withdrawn", "Withdrawn"
        RELATIONSHIP = "relationship", "Relationship"
        MIGRATED = "migrated", "Migrated to first party"
        INVOICE = "invoice", "Invoice"
        PAYMENT = "payment", "Payment"
        CARD = "card", "Card on file"
        EMAIL_SENT = "email_sent", "Email sent"
        EMAIL_FAILED = "email_failed", "Email could not be delivered"
        SESSION_ENDED = "session_ended", "Session ended"
        DATE_CANCELLED = "date_cancelled", "Session date cancelled"
        DATE_REOPENED = "date_reopened", "Cancellation undone"
        ATTENDANCE = "attendance", "Attendance marked"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    summary = models.CharField(max_length=300)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # whose sessions the event is about (``record_event`` works it out): nobody's
    # (everyone who sees the client sees it), one practitioner's (they and staff),
    # or several practitioners' (staff only)
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff_only = models.BooleanField(default=False)

    objects = ClientEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["client", "-created_at"], name="client_event_recent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(staff_only=False) | Q(practitioner__isnull=True),
                name="client_event_one_audience",
            ),
        ]

    def __str__(self) -> str:
        return self.summary

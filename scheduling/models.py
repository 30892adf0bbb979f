from datetime import date

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Q, Value

from opus.lib.fields import DateRange, IdRange, currency_field, money_field


class Room(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True, help_text="Retired rooms take no new sessions.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    """What is sold, with its price and billing basis."""

    class BillingBasis(models.TextChoices):
        PER_SESSION = "per_session", "Per session"
        MONTHLY = "monthly", "Per month"

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    billing_basis = models.CharField(
        max_length=20, choices=BillingBasis.choices, default=BillingBasis.PER_SESSION
    )
    price = money_field(help_text="Per session, or per month for monthly services.")
    currency = currency_field()
    sessions_per_month = models.PositiveSmallIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # the cancellation policy: empty means the practice's default (opus.models.Practice;
    # scheduling.policy.policy_for reads the two together)
    cancel_notice_hours = models.PositiveSmallIntegerField(null=True, blank=True)
    charge_late_cancellations = models.BooleanField(null=True, blank=True)
    charge_no_shows = models.BooleanField(null=True, blank=True)
    makeup_credits = models.BooleanField(null=True, blank=True)
    makeup_weeks = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="service_price_not_negative"),
            models.CheckConstraint(
                condition=Q(cancel_notice_hours__isnull=True) | Q(cancel_notice_hours__lte=720),
                name="service_notice_hours_range",
            ),
            models.CheckConstraint(
                condition=Q(makeup_weeks__isnull=True) | Q(makeup_weeks__range=(1, 52)),
                name="service_makeup_weeks_range",
            ),
            models.CheckConstraint(
                condition=Q(billing_basis="per_session", sessions_per_month__isnull=True)
                | Q(
                    billing_basis="monthly",
                    sessions_per_month__isnull=False,
                    sessions_per_month__gte=1,
                ),
                name="service_monthly_has_sessions_per_month",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SessionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "SessionQuerySet":
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(practitioner=user)


class Session(models.Model):
    """A recurring weekly slot of a service. A one-off appointment is a session
    whose first and last dates are the same."""

    WEEKDAYS = [
        (0, "Monday"),
        (1, "Tuesday"),
        (2, "Wednesday"),
        (3, "Thursday"),
        (4, "Friday"),
        (5, "Saturday"),
        (6, "Sunday"),
    ]

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="sessions")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions"
    )
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    start_time = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=30)
    capacity = models.PositiveSmallIntegerField(default=1)
    first_date = models.DateField()
    last_date = models.DateField(null=True, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["weekday", "start_time", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="session_capacity_positive"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5), name="session_duration_positive"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="session_weekday_valid"),
            models.CheckConstraint(
                condition=Q(last_date__isnull=True) | Q(last_date__gte=F("first_date")),
                name="session_last_date_after_first",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service.name}, {self.get_weekday_display()} {self.start_time:%H:%M}"


class ClosureQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClosureQuerySet":
        """Closures are the practice's business: staff only."""
        if not user.is_authenticated or not user.is_active or not user.is_practice_staff:
            return self.none()
        return self


class Closure(models.Model):
    """Dates cancelled across the practice, one room or one practitioner, from
    ``first_date`` to ``last_date`` (inclusive), with a reason. The session dates
    it cancelled point at it (``SessionDate.closure``), so undoing it re-opens
    exactly those; dates generated later inside an active closure come out
    cancelled (``scheduling.closures.mark_closed``)."""

    class Scope(models.TextChoices):
        PRACTICE = "practice", "The whole practice"
        ROOM = "room", "One room"
        PRACTITIONER = "practitioner", "One practitioner"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        UNDONE = "undone", "Undone"

    scope = models.CharField(max_length=20, choices=Scope.choices)
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.PROTECT, related_name="closures"
    )
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="closures",
    )
    first_date = models.DateField()
    last_date = models.DateField()
    reason = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    # the confirm form's key: a second submit of the same form finds this row
    request_key = models.UUIDField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ClosureQuerySet.as_manager()

    class Meta:
        ordering = ["first_date", "pk"]
        indexes = [models.Index(fields=["last_date"], name="closure_last_date_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_date__gte=F("first_date")), name="closure_last_after_first"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="closure_has_reason"),
            models.CheckConstraint(
                condition=Q(scope="practice", room__isnull=True, practitioner__isnull=True)
                | Q(scope="room", room__isnull=False, practitioner__isnull=True)
                | Q(scope="practitioner", room__isnull=True, practitioner__isnull=False),
                name="closure_scope_names_its_target",
            ),
            models.CheckConstraint(
                condition=Q(state="active", undone_at__isnull=True)
                | Q(state="undone", undone_at__isnull=False),
                name="closure_undone_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason}, {self.first_date:%-d %b} to {self.last_date:%-d %b %Y}"

    @property
    def scope_text(self) -> str:
        if self.room is not None:
            return f"Room: {self.room.name}"
        if self.practitioner is not None:
            return f"Practitioner: {self.practitioner.display_name}"
        return "The whole practice"

    def covers(self, session, day: date) -> bool:
        """Whether a date of ``session`` on ``day`` lies inside this closure."""
        if not self.first_date <= day <= self.last_date:
            return False
        if self.scope == self.Scope.ROOM:
            return session.room_id == self.room_id
        if self.scope == self.Scope.PRACTITIONER:
            return session.practitioner_id == self.practitioner_id
        return True


class SessionDateQuerySet(models.QuerySet):
    def visible_to(self, user) -> "SessionDateQuerySet":
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(session__practitioner=user)


class SessionDate(models.Model):
    """One occurrence of a session. Cancelling it (a holiday) touches no subscription."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="dates")
    date = models.DateField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    cancelled = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=200, blank=True)
    # the closure that cancelled it, if one did (undoing the closure re-opens it)
    closure = models.ForeignKey(
        Closure, null=True, blank=True, on_delete=models.PROTECT, related_name="dates"
    )

    objects = SessionDateQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["starts_at"], name="session_date_starts_idx"),
            # the schedule asks for a range of dates across every session
            models.Index(fields=["date"], name="session_date_date_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["session", "date"], name="session_date_unique"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="session_date_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(cancelled=False) | ~Q(cancel_reason=""),
                name="session_date_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(closure__isnull=True) | Q(cancelled=True),
                name="session_date_closure_cancels",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session.service.name} on {self.date:%a %d %b %Y}"

    @property
    def is_past(self) -> bool:
        from django.utils import timezone

        return self.starts_at < timezone.now()


class SubscriptionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "SubscriptionQuerySet":
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(session__practitioner=user)

    def covering(self, day: date) -> "SubscriptionQuerySet":
        return self.filter(Q(end_date__isnull=True) | Q(end_date__gt=day), first_date__lte=day)


class Subscription(models.Model):
    """A client enrolled in a session from ``first_date`` until the day before
    ``end_date`` (open-ended when it is empty). The relationship decides who pays;
    the price is fixed when the subscription is created."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="subscriptions"
    )
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="subscriptions")
    relationship = models.ForeignKey(
        "relationships.Relationship", on_delete=models.PROTECT, related_name="subscriptions"
    )
    first_date = models.DateField()
    end_date = models.DateField(
        null=True, blank=True, help_text="The first date no longer attended."
    )
    price = money_field()
    currency = currency_field()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-first_date", "-pk"]
        indexes = [models.Index(fields=["session", "first_date"], name="subscription_session_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="subscription_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("first_date")),
                name="subscription_end_not_before_start",
            ),
            ExclusionConstraint(
                name="subscription_no_overlap",
                expressions=[
                    (IdRange("client_id"), RangeOperators.OVERLAPS),
                    (IdRange("session_id"), RangeOperators.OVERLAPS),
                    (DateRange("first_date", "end_date", Value("[)")), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} in {self.session}"

    def is_active_on(self, day: date) -> bool:
        return self.first_date <= day and (self.end_date is None or self.end_date > day)


class DateAbsence(models.Model):
    """'Unenroll from this date only': the subscription stays; this date is skipped."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="absences"
    )
    session_date = models.ForeignKey(SessionDate, on_delete=models.CASCADE, related_name="absences")
    # told in time by the service's cancellation policy (its notice hours before the
    # date's start), as it stood when the absence was recorded
    in_time = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "session_date"], name="absence_unique"),
        ]

    def __str__(self) -> str:
        return f"Absent by request: {self.session_date}"

    @property
    def notice_text(self) -> str:
        return "told in time" if self.in_time else "late"


class BookingQuerySet(models.QuerySet):
    def visible_to(self, user) -> "BookingQuerySet":
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(session_date__session__practitioner=user)


class Booking(models.Model):
    """A one-off booking of a client on a single session date."""

    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"

    client = models.ForeignKey("clients.Client", on_delete=models.PROTECT, related_name="bookings")
    session_date = models.ForeignKey(SessionDate, on_delete=models.PROTECT, related_name="bookings")
    relationship = models.ForeignKey(
        "relationships.Relationship", on_delete=models.PROTECT, related_name="bookings"
    )
    price = money_field()
    currency = currency_field()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    rebooked_as = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rebooked_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = BookingQuerySet.as_manager()

    class Meta:
        ordering = ["session_date__starts_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="booking_price_not_negative"),
            models.UniqueConstraint(
                fields=["client", "session_date"],
                condition=Q(status="booked"),
                name="booking_one_active_per_date",
            ),
            models.CheckConstraint(
                condition=Q(status="booked", cancelled_at__isnull=True)
                | Q(status="cancelled", cancelled_at__isnull=False),
                name="booking_cancelled_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client} on {self.session_date}"


class AttendanceQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AttendanceQuerySet":
        """Staff see every mark; a practitioner those of the sessions they lead."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(session_date__session__practitioner=user)


class Attendance(models.Model):
    """One client's attendance on one session date (through a subscription or a
    one-off booking). ``chargeable`` is the cancellation policy applied when the
    mark was set: whether the billing run bills this client for this date."""

    class Mark(models.TextChoices):
        PRESENT = "present", "Present"
        ABSENT = "absent", "Absent (told in time)"
        LATE_CANCELLED = "late_cancelled", "Late-cancelled"
        NO_SHOW = "no_show", "No-show"

    session_date = models.ForeignKey(
        SessionDate, on_delete=models.PROTECT, related_name="attendances"
    )
    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="attendances"
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="attendances"
    )
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="attendances"
    )
    mark = models.CharField(max_length=20, choices=Mark.choices)
    chargeable = models.BooleanField()
    marked_at = models.DateTimeField()
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AttendanceQuerySet.as_manager()

    class Meta:
        ordering = ["-marked_at", "-pk"]
        indexes = [models.Index(fields=["client", "session_date"], name="attendance_client_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["session_date", "client"], name="attendance_one_per_client_date"
            ),
            models.CheckConstraint(
                condition=Q(subscription__isnull=False, booking__isnull=True)
                | Q(subscription__isnull=True, booking__isnull=False),
                name="attendance_through_subscription_or_booking",
            ),
            models.CheckConstraint(
                condition=Q(mark__in=["present", "absent", "late_cancelled", "no_show"]),
                name="attendance_mark_valid",
            ),
            models.CheckConstraint(
                condition=Q(mark="present", chargeable=True)
                | Q(mark="absent", chargeable=False)
                | Q(mark__in=["late_cancelled", "no_show"]),
                name="attendance_charge_follows_mark",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client}: {self.get_mark_display()} on {self.session_date}"


class SetupChange(models.Model):
    """The history of the practice's setup: every change to a service, a room or a
    session, with what changed from what to what, who did it and when. A session's
    changes apply from ``effective_date`` onward, so past practice stays recoverable
    (the session row holds only the current practitioner, room and capacity)."""

    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="changes"
    )
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="changes"
    )
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="changes"
    )
    effective_date = models.DateField(null=True, blank=True)
    summary = models.CharField(max_length=500)
    changes = models.JSONField(default=dict, blank=True, help_text="field: [from, to]")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service__isnull=False, room__isnull=True, session__isnull=True)
                | Q(service__isnull=True, room__isnull=False, session__isnull=True)
                | Q(service__isnull=True, room__isnull=True, session__isnull=False),
                name="setup_change_about_one_thing",
            ),
        ]

    def __str__(self) -> str:
        return self.summary


class MakeupCreditQuerySet(models.QuerySet):
    def visible_to(self, user) -> "MakeupCreditQuerySet":
        """Staff see every credit; a practitioner those of the service's dates they lead."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_practice_staff:
            return self
        return self.filter(missed__session__practitioner=user)

    def usable(self, *, on: date) -> "MakeupCreditQuerySet":
        """Neither used nor withdrawn, and still valid on ``on``."""
        return self.filter(used_by__isnull=True, withdrawn_at__isnull=True, expires_on__gte=on)


class MakeupCredit(models.Model):
    """A cancellation in time, under a policy that gives one, lets the client book
    one session of the same service instead ("Book once") until ``expires_on``.
    Withdrawn when the cancellation is undone or its mark changed before use; a
    cancelled make-up booking gives the credit back (``scheduling.makeup``)."""

    client = models.ForeignKey(
        "clients.Client", on_delete=models.PROTECT, related_name="makeup_credits"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    missed = models.ForeignKey(SessionDate, on_delete=models.PROTECT, related_name="+")
    expires_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    used_by = models.OneToOneField(
        Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="makeup_credit"
    )
    used_at = models.DateTimeField(null=True, blank=True)

    objects = MakeupCreditQuerySet.as_manager()

    class Meta:
        ordering = ["expires_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "missed"], name="makeup_one_per_missed_date"),
            models.CheckConstraint(
                condition=Q(used_by__isnull=True, used_at__isnull=True)
                | Q(used_by__isnull=False, used_at__isnull=False, withdrawn_at__isnull=True),
                name="makeup_used_has_time_and_is_not_withdrawn",
            ),
        ]

    def __str__(self) -> str:
        return f"Make-up credit for {self.missed}, until {self.expires_on}"


class ScheduleVersion(models.Model):
    """One row: a token that changes after every committed write that could change
    what the schedule shows; the rendered schedule is cached under it
    (scheduling.schedule_cache). Its table name does not start with "scheduling_":
    changing the token is not such a write."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32)

    class Meta:
        db_table = "schedule_version"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="schedule_version_one_row")]

    def __str__(self) -> str:
        return self.token

"""The third-party relationship workflows: migrating a relationship to first party
when the attendee takes over (with the card link and the rebooking of what the
old relationship still holds), and booking sessions under a relationship."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing import rebilling
from billing import services as billing
from billing.models import Invoice, InvoiceLine
from clients.fields import clean_details
from clients.models import Client, ClientEvent
from clients.permissions import details_user_may_add
from clients.services import record_event
from frontdesk.permissions import require_relationship_actor
from frontdesk.selectors import (
    booking_block,
    details_for_staff,
    has_card,
    migration_block,
    missing_details,
    with_coming_dates,
)
from opus.lib.actors import SYSTEM, person
from opus.lib.errors import BusinessRuleError
from opus.lib.parsing import without_controls
from relationships.models import Relationship, RelationshipMigration
from relationships.permissions import require_may_create
from relationships.services import create_relationship
from scheduling.makeup import (
    credit_text,
    move_makeup_credit,
    release_makeup_credit,
    use_makeup_credit,
)
from scheduling.models import Booking, DateAbsence, SessionDate, Subscription
from scheduling.selectors import with_enrollment
from scheduling.services import enroll, lock_places

# a kept detail is cut here: longer than any paying detail may be (the form says
# so when the user comes back), short enough for the draft row
DETAIL_MAX_LENGTH = 1000


class MigrationDone(BusinessRuleError):
    """The migration is no longer a draft (confirmed in another tab, or a moment ago
    by a double click): the caller shows its result, the new relationship."""

    def __init__(self, migration: RelationshipMigration):
        super().__init__("This relationship has already been migrated.")
        self.migration = migration


# --- the migration ----------------------------------------------------------------------
def _lock_relationship(relationship_id: int, actor) -> Relationship:
    """The relationship, locked, once ``actor`` may work on it."""
    relationship = (
        Relationship.objects.select_for_update(of=("self",))
        .select_related("attendee", "payer", "practitioner")
        .get(pk=relationship_id)
    )
    require_relationship_actor(actor, relationship)
    return relationship


@transaction.atomic
def start_migration(
    *, relationship: Relationship, actor, requested_by: str, request_note: str
) -> RelationshipMigration:
    """Open (or update) the draft: who asked, and how. A migration happens only when
    a client asked for it."""
    relationship = _lock_relationship(relationship.pk, actor)
    if requested_by not in RelationshipMigration.RequestedBy.values:
        raise BusinessRuleError("Say who asked for the migration.", field="requested_by")
    if not request_note.strip():
        raise BusinessRuleError(
            "Note how the client asked (e.g. 'phoned on Monday').", field="request_note"
        )
    block = migration_block(relationship, today=timezone.localdate())
    if block is not None and not block.needs_date_of_birth:
        raise BusinessRuleError(block.message)
    migration, _ = RelationshipMigration.objects.get_or_create(
        old_relationship=relationship, defaults={"started_by": person(actor)}
    )
    if migration.status != RelationshipMigration.Status.DRAFT:
        raise MigrationDone(migration)
    migration.requested_by = requested_by
    migration.request_note = request_note.strip()
    migration.save(update_fields=["requested_by", "request_note", "updated_at"])
    return migration


@transaction.atomic
def save_migration_details(*, migration: RelationshipMigration, actor, details: dict) -> None:
    """Keep what was typed, valid or not, so that nothing is lost when the user
    leaves to contact the attendee: as text the database can hold."""
    migration = (
        RelationshipMigration.objects.select_for_update(of=("self",))
        .select_related("old_relationship__attendee")
        .get(pk=migration.pk)
    )
    require_relationship_actor(actor, migration.old_relationship)
    if migration.status != RelationshipMigration.Status.DRAFT:
        raise MigrationDone(migration)
    allowed = details_user_may_add(actor, missing_details(migration.old_relationship.attendee))
    kept = {
        name: without_controls(str(value))[:DETAIL_MAX_LENGTH]
        for name, value in details.items()
        if name in allowed
    }
    migration.details = {**migration.details, **kept}
    migration.save(update_fields=["details", "updated_at"])


@dataclass(frozen=True)
class MigrationResult:
    migration: RelationshipMigration
    new_relationship: Relationship
    card_requested: bool
    replayed: bool = False


def confirm_migration(
    *, migration: RelationshipMigration, actor, details: dict | None = None
) -> MigrationResult:
    """'Confirm Migration': the attendee gets a first-party relationship with the same
    practitioner and the old one ends the same day, linked to it; all or nothing.
    Confirming again (a double click, a second tab) returns the first result."""
    with transaction.atomic():
        migration = RelationshipMigration.objects.select_for_update().get(pk=migration.pk)
        if migration.status != RelationshipMigration.Status.DRAFT:
            assert migration.new_relationship is not None  # confirmed: it has one
            return MigrationResult(
                migration, migration.new_relationship, card_requested=False, replayed=True
            )
        old = _lock_relationship(migration.old_relationship_id, actor)
        attendee = Client.objects.select_for_update().get(pk=old.attendee_id)
        if not migration.requested_by:
            raise BusinessRuleError("Say who asked for the migration first.")
        missing = missing_details(attendee)
        for_staff = details_for_staff(attendee, missing, actor)
        if for_staff:
            raise BusinessRuleError(for_staff)
        typed = {
            k: str(v) for k, v in {**migration.details, **(details or {})}.items() if k in missing
        }
        # the caller saved what was typed before confirming
        cleaned = clean_details(typed, required=missing)
        today = timezone.localdate()
        block = migration_block(old, today=today, date_of_birth=cleaned.get("date_of_birth"))
        if block is not None:
            raise BusinessRuleError(block.message, field="date_of_birth")
        for name in missing:
            setattr(attendee, name, cleaned[name])
        if missing:
            attendee.save(update_fields=[*missing, "updated_at"])
            record_event(
                client=attendee,
                kind=ClientEvent.Kind.UPDATED,
                summary="Added " + ", ".join(n.replace("_", " ") for n in missing),
                actor=actor,
            )
        new = _first_party_for(attendee, old.practitioner, actor=actor, today=today)
        old.status = Relationship.Status.ENDED
        old.ended_on = today
        asker = (
            "organiser"
            if migration.requested_by == RelationshipMigration.RequestedBy.ORGANISER
            else "attendee"
        )
        old.end_reason = f"Migrated to first party at the request of the {asker}"
        old.replaced_by = new
        old.save(update_fields=["status", "ended_on", "end_reason", "replaced_by"])
        card_on_file = has_card(attendee)
        migration.new_relationship = new
        migration.confirmed_by = person(actor)
        migration.confirmed_at = timezone.now()
        migration.status = (
            RelationshipMigration.Status.COMPLETED
            if card_on_file
            else RelationshipMigration.Status.AWAITING_CARD
        )
        migration.details = {}
        migration.save()
        summary = f"Relationship with {old.payer.full_name} migrated to first party"
        record_event(client=attendee, kind=ClientEvent.Kind.MIGRATED, summary=summary, actor=actor)
        record_event(
            client=old.payer,
            kind=ClientEvent.Kind.MIGRATED,
            summary=f"No longer pays for {attendee.full_name}: migrated to first party",
            actor=actor,
        )
        if not card_on_file:
            billing.request_payment_card(
                client=attendee,
                actor=actor,
                relationship=new,
                reason="You now pay for your own sessions: add a card to book the next one.",
            )
        return MigrationResult(migration, new, card_requested=not card_on_file)


def _first_party_for(attendee: Client, practitioner, *, actor, today: date) -> Relationship:
    existing = (
        Relationship.objects.select_for_update()
        .filter(
            payer=attendee,
            attendee=attendee,
            practitioner=practitioner,
            status=Relationship.Status.ACTIVE,
        )
        .first()
    )
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return create_relationship(
                payer=attendee,
                attendee=attendee,
                practitioner=practitioner,
                actor=actor,
                started_on=today,
            )
    except IntegrityError as error:  # pragma: no cover - the row locks above prevent it
        raise BusinessRuleError("Another user changed this relationship; try again.") from error


def mark_card_added(*, client: Client, **signal) -> int:
    """The attendee added a card (billing's ``card_added``): their migrations
    waiting on one are complete."""
    return RelationshipMigration.objects.filter(
        new_relationship__attendee=client, status=RelationshipMigration.Status.AWAITING_CARD
    ).update(status=RelationshipMigration.Status.COMPLETED, updated_at=timezone.now())


def _seat_free(session_date) -> bool:

    counted = with_enrollment(SessionDate.objects.filter(pk=session_date.pk)).get()
    return counted.enrolled < session_date.session.capacity


def _invoice_booking(*, relationship: Relationship, description: str, price, currency, **link):
    """The booking's invoice, issued by the system to the relationship's payer
    (a practitioner may book; changing invoices is staff's, so no user is the actor)."""

    invoice = billing.create_draft(
        payer=relationship.payer, relationship=relationship, actor=SYSTEM, currency=currency
    )
    billing.add_charge(
        invoice=invoice, description=description, unit_price=price, actor=SYSTEM, **link
    )
    return billing.issue_invoice(invoice=invoice, actor=SYSTEM)


@transaction.atomic
def book_session(
    *,
    relationship: Relationship,
    actor,
    session_date=None,
    session=None,
    first_date: date | None = None,
    skip=(),
    use_makeup: bool = False,
):
    """'Create Session': a one-off date, or a weekly subscription from a first date,
    for the attendee; the payer (and so the invoice) comes from the relationship.
    A weekly one needs a place on every date it covers: the later full dates are
    listed (``FullDates``) unless the user accepted them skipped (``skip``).
    A one-off date may spend one of the attendee's make-up credits
    (``use_makeup``): then it costs nothing and nothing is invoiced."""

    relationship = _lock_relationship(relationship.pk, actor)
    reason = booking_block(relationship)
    if reason:
        raise BusinessRuleError(reason)
    attendee = relationship.attendee
    if session_date is not None:
        lock_places(session_date.session_id)  # the last place goes to one booking only
        session_date = (
            SessionDate.objects.select_for_update(of=("self",))
            .select_related("session__service")
            .get(pk=session_date.pk)
        )
        if (
            Booking.objects.filter(
                client=attendee, session_date=session_date, status=Booking.Status.BOOKED
            ).exists()
            or attendee.subscriptions.covering(session_date.date)
            .filter(session=session_date.session)
            .exists()
        ):
            raise BusinessRuleError(f"{attendee.first_name} is already booked on this date.")
        _check_bookable(session_date)
        service = session_date.session.service
        booking = Booking.objects.create(
            client=attendee,
            session_date=session_date,
            relationship=relationship,
            price=Decimal("0.00") if use_makeup else service.price,
            currency=service.currency,
            created_by=person(actor),
        )
        credit = use_makeup_credit(booking=booking) if use_makeup else None
        record_event(
            client=attendee,
            kind=ClientEvent.Kind.BOOKED,
            summary=f"Booked {session_date}"
            + (
                f" with the make-up credit from {credit.missed.date:%a %-d %b %Y}"
                if credit is not None
                else ""
            ),
            actor=actor,
            practitioners=[session_date.session.practitioner_id],
        )
        if credit is not None:
            return booking
        _invoice_booking(
            relationship=relationship,
            description=f"{service.name}, {session_date.date:%a %-d %b %Y}",
            price=booking.price,
            currency=booking.currency,
            booking=booking,
        )
        return booking
    if session is None or first_date is None:
        raise BusinessRuleError("Choose a date, or a weekly session and its first date.")
    lock_places(session.pk)
    first = (
        SessionDate.objects.select_related("session__service")
        .filter(session=session, date=first_date)
        .first()
    )
    if first is None:
        raise BusinessRuleError("The session does not run on that date.", field="first_date")
    _check_bookable(first)
    subscription, _ = subscribe_and_invoice(
        relationship=relationship, session=session, first_date=first_date, actor=actor, skip=skip
    )
    return subscription


def already_enrolled(attendee: Client) -> BusinessRuleError:
    return BusinessRuleError(
        f"{attendee.first_name} is already enrolled in this session on or after that date.",
        field="first_date",
    )


def subscribe_and_invoice(*, relationship: Relationship, session, first_date: date, actor, skip=()):
    """The weekly subscription (scheduling's ``enroll``: a place on every date it
    covers) and its first invoice (``invoice_first_period``): what "Create Session"
    and the front desk's enrolment make. The caller holds the relationship and the
    session's places, and checked the rest. Returns (subscription, invoice)."""
    try:
        with transaction.atomic():
            subscription = enroll(
                relationship=relationship,
                session=session,
                first_date=first_date,
                actor=actor,
                skip=skip,
            )
    except IntegrityError as error:  # an overlapping subscription made since any check
        raise already_enrolled(relationship.attendee) from error
    invoice = invoice_first_period(relationship=relationship, subscription=subscription)
    return subscription, invoice


def invoice_first_period(*, relationship: Relationship, subscription: Subscription):
    """A new subscription's first invoice, the rule of "Create Session" (and of the
    front desk's enrolment) until the billing run exists: its first session, or
    its first month, at its price, issued to the relationship's payer."""
    service = subscription.session.service
    period = "month" if service.billing_basis == service.BillingBasis.MONTHLY else "session"
    return _invoice_booking(
        relationship=relationship,
        description=f"{service.name}: first {period}",
        price=subscription.price,
        currency=subscription.currency,
        subscription=subscription,
    )


def _check_bookable(session_date) -> None:
    if session_date.cancelled:
        raise BusinessRuleError(f"{session_date} is cancelled ({session_date.cancel_reason}).")
    if session_date.starts_at < timezone.now():
        raise BusinessRuleError("That date has passed: choose a coming one.")
    if not _seat_free(session_date):
        raise BusinessRuleError(f"{session_date} is full.")


@dataclass(frozen=True)
class Rebooked:
    moved: int
    money: rebilling.OldPayerMoney
    paid_back: billing.PaidBack = field(default_factory=billing.PaidBack)

    def sentences(self) -> list[str]:
        """What changed in billing, as done: the refund said as it went."""
        name = self.money.payer.full_name if self.money.payer is not None else ""
        said = self.money.sentences(done=True, paid_back=self.paid_back.text(name))
        if self.paid_back.refund_error is not None:
            said.append(self.paid_back.refund_error.message)
        return said


def rebook_coming_sessions(
    *,
    relationship: Relationship,
    actor,
    booking_ids: list[int],
    subscription_ids: list[int],
    leftover: str = rebilling.LEFTOVER_CREDIT,
) -> Rebooked:
    """``_rebook`` (below), then the card refunds it recorded (when the user chose
    to refund what the old payer had paid) are sent, with no transaction open: a
    refusal leaves the money on the payer's account, and is said."""
    result = _rebook(
        relationship=relationship,
        actor=actor,
        booking_ids=booking_ids,
        subscription_ids=subscription_ids,
        leftover=leftover,
    )
    for refund in result.paid_back.refunds:
        if refund.status == refund.Status.PENDING:
            try:
                billing.run_refund(refund=refund, actor=actor)
            except BusinessRuleError as error:  # recorded; the credit stays on the account
                result.paid_back.refund_error = error
            refund.refresh_from_db()
    return result


@transaction.atomic
def _rebook(
    *,
    relationship: Relationship,
    actor,
    booking_ids: list[int],
    subscription_ids: list[int],
    leftover: str,
) -> Rebooked:
    """Cancel the chosen coming sessions under the old relationship and book them
    under this one, in one step: all of them or none. Past sessions and their
    invoices stay with the old payer; nothing is charged to the old payer for the
    moved ones afterwards: what their open invoices billed for them is credited,
    and what they already paid for them is kept as account credit or refunded
    (``leftover``, the user's choice; refunding is staff's). The
    attendee is invoiced exactly that (``billing.services.bill_attendee``). A practitioner moves
    only their own sessions: another's is refused as one no longer there."""

    relationship = _lock_relationship(relationship.pk, actor)
    reason = booking_block(relationship)
    if reason:
        raise BusinessRuleError(reason)
    old = (
        Relationship.objects.filter(replaced_by=relationship)
        .select_related("payer", "attendee")
        .first()
    )
    if old is None:
        raise BusinessRuleError("This relationship did not replace another one.")
    return _move_sessions(
        old=old,
        new=relationship,
        booking_ids=booking_ids,
        subscription_ids=subscription_ids,
        actor=actor,
        under="the first-party relationship",
        leftover=leftover,
    )


def _move_sessions(
    *,
    old: Relationship,
    new: Relationship,
    booking_ids,
    subscription_ids,
    actor,
    under: str,
    leftover: str = rebilling.LEFTOVER_CREDIT,
) -> Rebooked:
    """Cancel the chosen coming sessions under ``old`` and book them under ``new``
    (the caller holds both relationships locked and checked who may act)."""
    relationship = new
    if not booking_ids and not subscription_ids:
        raise BusinessRuleError("Choose at least one session to rebook.")
    now = timezone.now()
    bookings = list(
        Booking.objects.visible_to(actor)
        .select_for_update(of=("self",))
        .filter(
            pk__in=booking_ids,
            relationship=old,
            status=Booking.Status.BOOKED,
            session_date__starts_at__gte=now,
        )
        .select_related("session_date__session__service")
        .order_by("pk")
    )
    subscriptions = list(
        with_coming_dates(
            Subscription.objects.visible_to(actor)
            .select_for_update(of=("self",))
            .filter(pk__in=subscription_ids, relationship=old)
        )
        .select_related("session__service")
        .order_by("pk")
    )
    if len(bookings) != len(set(booking_ids)) or len(subscriptions) != len(set(subscription_ids)):
        raise BusinessRuleError(
            "Some of the chosen sessions were moved or have passed meanwhile: "
            "nothing was changed. Check the list and try again."
        )
    # the old payer's invoices that bill them, locked (a payment waits) before reading
    list(
        Invoice.objects.select_for_update()
        .filter(
            pk__in=InvoiceLine.objects.filter(
                Q(subscription__in=subscriptions) | Q(booking__in=bookings)
            ).values("invoice_id")
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    money = rebilling.old_payer_money(
        old=old, subscriptions=subscriptions, bookings=bookings, leftover=leftover
    )
    for booking in bookings:
        booking.status = Booking.Status.CANCELLED
        booking.cancelled_at = now
        booking.cancel_reason = f"Rebooked under {under}"
        booking.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        booking.rebooked_as = Booking.objects.create(
            client=booking.client,
            session_date_id=booking.session_date_id,
            relationship=relationship,
            price=booking.price,
            currency=booking.currency,
            created_by=person(actor),
        )
        booking.save(update_fields=["rebooked_as"])
        move_makeup_credit(old=booking, new=booking.rebooked_as)
    successors = {}
    for subscription in subscriptions:
        switch_on = subscription.next_date
        new_end = subscription.end_date
        subscription.end_date = switch_on
        subscription.save(update_fields=["end_date"])
        successors[subscription.pk] = Subscription.objects.create(
            client=subscription.client,
            session_id=subscription.session_id,
            relationship=relationship,
            first_date=switch_on,
            end_date=new_end,
            price=subscription.price,
            currency=subscription.currency,
            created_by=person(actor),
        )
        # the dates the client was unenrolled from stay skipped: the rebooked
        # subscription holds the same places as before, no more
        DateAbsence.objects.filter(
            subscription=subscription, session_date__date__gte=switch_on
        ).update(subscription=successors[subscription.pk])
    paid_back = billing.settle_old_payer(money, actor=actor)
    billing.bill_attendee(
        money,
        relationship=relationship,
        subscriptions=successors,
        bookings={b.pk: b.rebooked_as for b in bookings},
        actor=SYSTEM,
    )
    # a line of history per practitioner, each about their own sessions alone
    sessions = [b.session_date.session for b in bookings] + [s.session for s in subscriptions]
    for practitioner_id, count in Counter(s.practitioner_id for s in sessions).items():
        record_event(
            client=relationship.attendee,
            kind=ClientEvent.Kind.BOOKED,
            summary=(
                f"{count} coming {'session' if count == 1 else 'sessions'} rebooked under {under}"
            ),
            actor=actor,
            practitioners=[practitioner_id],
        )
    return Rebooked(len(bookings) + len(subscriptions), money, paid_back)


# --- ending a relationship -------------------------------------------------------------------
END_MOVE, END_CANCEL = "move", "end"


class SessionsStillBooked(BusinessRuleError):
    """Sessions after the end date are still booked under the relationship: the
    user moves them to another relationship, or ends them too."""

    def __init__(self, subscriptions: list, bookings: list):
        count = len(subscriptions) + len(bookings)
        super().__init__(
            f"{count} coming {'session is' if count == 1 else 'sessions are'} still booked "
            "under this relationship after the end date: move them to another relationship "
            "of the attendee, or end them too.",
            field="coming",
        )
        self.subscriptions = subscriptions
        self.bookings = bookings


def booked_after(relationship: Relationship, day: date, *, lock: bool = False):
    """What is booked under ``relationship`` after ``day``: the subscriptions that
    cover a later date, and the one-off bookings on a later date."""
    subscriptions = Subscription.objects.filter(relationship=relationship).filter(
        Q(end_date__isnull=True) | Q(end_date__gt=day + timedelta(days=1))
    )
    bookings = Booking.objects.filter(
        relationship=relationship, status=Booking.Status.BOOKED, session_date__date__gt=day
    )
    if lock:
        subscriptions = subscriptions.select_for_update(of=("self",))
        bookings = bookings.select_for_update(of=("self",))
    return (
        list(subscriptions.select_related("session__service").order_by("pk")),
        list(
            bookings.select_related("session_date__session__service").order_by(
                "session_date__starts_at", "pk"
            )
        ),
    )


@dataclass(frozen=True)
class Ended:
    relationship: Relationship
    moved: int = 0
    ended: int = 0


@transaction.atomic
def end_relationship(
    *,
    relationship: Relationship,
    ended_on: date,
    reason: str,
    actor,
    coming: str = "",
    move_to: Relationship | None = None,
) -> Ended:
    """End a relationship on ``ended_on`` (its last day) for ``reason``; staff only.
    Refused (``SessionsStillBooked``, listing them) while sessions after that day are
    booked under it, unless ``coming`` says what becomes of them: ``"move"`` rebooks
    the coming ones under ``move_to`` (another active relationship of the same
    attendee; the rebooking of a migration, with its billing), ``"end"`` ends the
    subscriptions (the day after ``ended_on`` is their first date no longer attended)
    and cancels the bookings. All or nothing; a line of history for attendee and payer."""

    _require_staff(actor)
    relationship = _lock_relationship(relationship.pk, actor)
    reason = without_controls(reason).strip()[:END_REASON_MAX_LENGTH]
    if relationship.status != Relationship.Status.ACTIVE:
        raise BusinessRuleError("This relationship has already ended.")
    if not reason:
        raise BusinessRuleError("Say why the relationship ends.", field="reason")
    today = timezone.localdate()
    if ended_on < relationship.started_on:
        raise BusinessRuleError(
            f"The relationship started on {relationship.started_on:%-d %b %Y}: "
            "it cannot end before that.",
            field="ended_on",
        )
    if ended_on > today:
        raise BusinessRuleError(
            "End a relationship today or on an earlier date; to end it later, come back "
            "on that day.",
            field="ended_on",
        )
    subscriptions, bookings = booked_after(relationship, ended_on, lock=True)
    moved = ended = 0
    if subscriptions or bookings:
        if coming == END_MOVE:
            moved, ended = _move_for_ending(
                relationship, move_to, subscriptions, bookings, actor=actor
            )
            subscriptions, bookings = booked_after(relationship, ended_on)
        elif coming != END_CANCEL:
            raise SessionsStillBooked(subscriptions, bookings)
        ended += _end_booked(
            subscriptions,
            bookings,
            attendee=relationship.attendee,
            after=ended_on,
            reason=reason,
            actor=actor,
        )
    relationship.status = Relationship.Status.ENDED
    relationship.ended_on = ended_on
    relationship.end_reason = reason
    relationship.save(update_fields=["status", "ended_on", "end_reason"])
    what = (
        "First-party relationship"
        if not relationship.is_third_party
        else f"Relationship ({relationship.payer.full_name} pays for "
        f"{relationship.attendee.full_name})"
    )
    summary = f"{what} ended on {ended_on:%-d %b %Y}: {reason}"
    for client in {c.pk: c for c in (relationship.attendee, relationship.payer)}.values():
        record_event(
            client=client, kind=ClientEvent.Kind.RELATIONSHIP, summary=summary, actor=actor
        )
    return Ended(relationship, moved=moved, ended=ended)


END_REASON_MAX_LENGTH = 300


def _require_staff(actor) -> None:
    """Ending a relationship is staff's, as creating one is."""
    require_may_create(actor)


def _move_for_ending(old, move_to, subscriptions, bookings, *, actor) -> tuple[int, int]:
    if move_to is None:
        raise BusinessRuleError(
            "Choose the relationship to move the coming sessions to.", field="move_to"
        )
    new = _lock_relationship(move_to.pk, actor)
    if (
        new.pk == old.pk
        or new.attendee_id != old.attendee_id
        or new.status != Relationship.Status.ACTIVE
    ):
        raise BusinessRuleError(
            f"Choose another active relationship of {old.attendee.full_name}.", field="move_to"
        )
    block = booking_block(new)
    if block:
        raise BusinessRuleError(block, field="move_to")
    now = timezone.now()
    coming_subscriptions = list(
        with_coming_dates(Subscription.objects.filter(pk__in=[s.pk for s in subscriptions]))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    coming_bookings = [b.pk for b in bookings if b.session_date.starts_at >= now]
    if not coming_subscriptions and not coming_bookings:
        return 0, 0
    under = (
        "the first-party relationship"
        if not new.is_third_party
        else f"the relationship with {new.payer.full_name}"
    )
    result = _move_sessions(
        old=old,
        new=new,
        booking_ids=coming_bookings,
        subscription_ids=coming_subscriptions,
        actor=actor,
        under=under,
    )
    return result.moved, 0


def _end_booked(subscriptions, bookings, *, attendee, after: date, reason: str, actor) -> int:
    """End the subscriptions on the day after ``after`` (or before their first date:
    none attended) and cancel the bookings after it, each with a line of history."""
    now = timezone.now()
    first_not_attended = after + timedelta(days=1)
    for subscription in subscriptions:
        subscription.end_date = max(first_not_attended, subscription.first_date)
        subscription.save(update_fields=["end_date"])
        record_event(
            client=attendee,
            kind=ClientEvent.Kind.RELATIONSHIP,
            summary=(
                f"{subscription.session.service.name} ended with the relationship: "
                f"last date {after:%-d %b %Y}"
            ),
            actor=actor,
            practitioners=[subscription.session.practitioner_id],
        )
    for booking in bookings:
        booking.status = Booking.Status.CANCELLED
        booking.cancelled_at = now
        booking.cancel_reason = f"Relationship ended: {reason}"[:200]
        booking.save(update_fields=["status", "cancelled_at", "cancel_reason"])
        credit = release_makeup_credit(booking=booking)
        record_event(
            client=attendee,
            kind=ClientEvent.Kind.BOOKING_CANCELLED,
            summary=f"Booking on {booking.session_date.date:%-d %b %Y} cancelled: "
            "the relationship ended"
            + (f"; its make-up credit is back, {credit_text(credit)}" if credit else ""),
            actor=actor,
            practitioners=[booking.session_date.session.practitioner_id],
        )
    return len(subscriptions) + len(bookings)

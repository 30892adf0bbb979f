"""Enrolment at the front desk: "Add a client" on a session date's roster and
"Enrol" on a client's profile. The subscription comes from scheduling's
``enroll`` (a place on every date it covers, the full ones skipped only when the
user accepted them), its first invoice from the rule "Create Session" follows
(``relationship_flows.invoice_first_period``), and an ``Enrolment`` row records
both, so that the same form submitted twice enrols once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Invoice
from clients.models import Client
from frontdesk.models import Enrolment
from frontdesk.permissions import require_relationship_actor
from frontdesk.relationship_flows import already_enrolled, subscribe_and_invoice
from frontdesk.selectors import booking_block
from opus.lib.actors import person
from opus.lib.dates import refuse_too_far_back
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship
from scheduling.models import Session, SessionDate, Subscription
from scheduling.permissions import can_enroll
from scheduling.services import lock_places

REQUEST_KEY_LENGTH = 64


@dataclass(frozen=True)
class Enrolled:
    subscription: Subscription
    invoice: Invoice | None
    skipped: list[date] = field(default_factory=list)
    replayed: bool = False


# --- reads ------------------------------------------------------------------------------------
def relationships_for(client: Client, user):
    """The active relationships under which ``user`` may enrol ``client`` (as the
    attendee): who pays is chosen among these."""
    return (
        Relationship.objects.visible_to(user)
        .active()
        .filter(attendee_id=client.pk)
        .select_related("payer", "attendee", "practitioner")
        .order_by("kind", "started_on", "pk")
    )


def default_relationship(relationships) -> Relationship | None:
    """The client's one first-party relationship, else their single active one;
    None when the user must choose."""
    relationships = list(relationships)
    first_party = [r for r in relationships if r.kind == Relationship.Kind.FIRST_PARTY]
    if len(first_party) == 1:
        return first_party[0]
    return relationships[0] if len(relationships) == 1 else None


def enrollable_sessions(user, *, today: date):
    """The sessions ``user`` may enrol into: active services, not ended."""
    return (
        Session.objects.visible_to(user)
        .filter(service__is_active=True)
        .filter(Q(last_date__isnull=True) | Q(last_date__gte=today))
        .select_related("service", "practitioner", "room")
        .order_by("service__name", "weekday", "start_time", "pk")
    )


def new_request_key() -> str:
    return uuid.uuid4().hex


# --- the rules -----------------------------------------------------------------------------
def _require_actor(actor, session: Session, relationship: Relationship) -> None:
    if not can_enroll(actor, session):
        raise PermissionDenied("Only staff or the session's practitioner can enrol in it.")
    if not Session.objects.visible_to(actor).filter(pk=session.pk).exists():
        raise PermissionDenied("You cannot see this session.")
    require_relationship_actor(actor, relationship)


def _check_enrolment(
    *, client: Client, session: Session, relationship: Relationship, first_date: date
) -> None:
    """Every refusal of an enrolment but the places (``check_places``), in words."""
    if relationship.attendee_id != client.pk:
        raise BusinessRuleError(
            f"This relationship is not {client.first_name}'s: choose who pays for "
            f"{client.first_name}.",
            field="relationship",
        )
    if client.archived_at is not None:
        raise BusinessRuleError(f"{client.full_name} is archived: nobody can enrol them.")
    block = booking_block(relationship)
    if block:
        raise BusinessRuleError(block, field="relationship")
    if not session.service.is_active:
        raise BusinessRuleError(
            f"{session.service.name} is retired: it takes no new enrolments.", field="session"
        )
    refuse_too_far_back(
        first_date,
        days=settings.OPUS_ENROL_BACKDATE_DAYS,
        today=timezone.localdate(),
        what="The first date",
        field="first_date",
    )
    if session.last_date is not None and first_date > session.last_date:
        raise BusinessRuleError(
            f"This session ends on {session.last_date:%-d %b %Y}: choose an earlier first date.",
            field="first_date",
        )
    first = SessionDate.objects.filter(session=session, date=first_date).first()
    if first is None:
        raise BusinessRuleError(
            f"The session does not run on {first_date:%a %-d %b %Y}: it runs on "
            f"{session.get_weekday_display()}s.",
            field="first_date",
        )
    if first.cancelled:
        raise BusinessRuleError(
            f"{first_date:%a %-d %b %Y} is cancelled ({first.cancel_reason}): choose another "
            "first date.",
            field="first_date",
        )
    if (
        Subscription.objects.filter(client=client, session=session)
        .filter(Q(end_date__isnull=True) | Q(end_date__gt=first_date))
        .exists()
    ):
        raise already_enrolled(client)


# --- the enrolment -------------------------------------------------------------------------
def enrol_client(
    *,
    client: Client,
    session: Session,
    relationship: Relationship,
    first_date: date,
    actor,
    skip=(),
    request_key: str = "",
) -> Enrolled:
    """Enrol ``client`` in ``session`` from ``first_date``, paid under
    ``relationship``: a place on every date (the later full ones refused with
    ``FullDates`` unless among ``skip``), the first invoice to the payer, the
    client's history; together or not at all. The same ``request_key`` again
    returns the first result (``replayed``)."""
    _require_actor(actor, session, relationship)
    key = (request_key or "").strip()[:REQUEST_KEY_LENGTH] or new_request_key()
    with transaction.atomic():
        # the session's places first: enrolments into it, a replay included, queue here
        session = lock_places(session.pk)
        done = (
            Enrolment.objects.select_related("subscription", "invoice")
            .filter(request_key=key)
            .first()
        )
        if done is not None:
            return Enrolled(done.subscription, done.invoice, replayed=True)
        relationship = (
            Relationship.objects.select_for_update(of=("self",))
            .select_related("payer", "attendee")
            .get(pk=relationship.pk)
        )
        client = Client.objects.get(pk=client.pk)
        _check_enrolment(
            client=client, session=session, relationship=relationship, first_date=first_date
        )
        subscription, invoice = subscribe_and_invoice(
            relationship=relationship,
            session=session,
            first_date=first_date,
            actor=actor,
            skip=skip,
        )
        Enrolment.objects.create(
            request_key=key, subscription=subscription, invoice=invoice, actor=person(actor)
        )
        skipped = sorted(
            subscription.absences.values_list("session_date__date", flat=True).order_by()
        )
        return Enrolled(subscription, invoice, skipped)

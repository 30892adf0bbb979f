"""Who pays for whom: creating relationships, and adding a client with who pays for
them. Migrating one to first party, ending one with sessions still booked under it,
and booking under one cross into scheduling and billing: ``frontdesk``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.models import Client, ClientEvent
from clients.services import create_client, record_event
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError
from opus.models import User
from relationships.models import Relationship
from relationships.permissions import require_may_create


def parties_sentence(*, payer, attendee, practitioner) -> str:
    """What a relationship covers, in the words of the refusal of a second one."""
    who = "any practitioner" if practitioner is None else practitioner.display_name
    if payer.pk == attendee.pk:
        return (
            f"{attendee.full_name} already has an active first-party relationship "
            f"(pays for their own sessions) for sessions with {who}."
        )
    return (
        f"{payer.full_name} already has an active relationship with {attendee.full_name} "
        f"for sessions with {who}."
    )


@transaction.atomic
def create_relationship(
    *, payer, attendee, actor, practitioner=None, started_on: date | None = None
) -> Relationship:
    """Who pays for whom: the payer for the attendee (the same client: first party).
    Refused, with a sentence saying so, when the same parties already have an active
    relationship for the same practitioner (the database refuses it too), when a
    party is archived, or when the practitioner is not an active practitioner."""
    require_may_create(actor, practitioner=practitioner)
    # both clients locked, in a stable order: two requests for the same parties queue
    locked = {
        c.pk: c
        for c in Client.objects.select_for_update()
        .filter(pk__in={payer.pk, attendee.pk})
        .order_by("pk")
    }
    for client in (payer, attendee):
        if locked[client.pk].archived_at is not None:
            raise BusinessRuleError(
                f"{client.full_name} is archived: restore them before adding a relationship."
            )
    if practitioner is not None and not (
        practitioner.is_active and practitioner.role == User.Role.PRACTITIONER
    ):
        raise BusinessRuleError("Choose an active practitioner, or none.", field="practitioner")
    parties = {"payer": payer, "attendee": attendee, "practitioner": practitioner}
    if Relationship.objects.active().filter(**parties).exists():
        raise BusinessRuleError(parties_sentence(**parties))
    kind = (
        Relationship.Kind.FIRST_PARTY if payer.pk == attendee.pk else Relationship.Kind.THIRD_PARTY
    )
    try:
        with transaction.atomic():
            relationship = Relationship.objects.create(
                kind=kind,
                payer=payer,
                attendee=attendee,
                practitioner=practitioner,
                started_on=started_on or timezone.localdate(),
                created_by=person(actor),
            )
    except IntegrityError as error:  # another request made it meanwhile
        raise BusinessRuleError(parties_sentence(**parties)) from error
    summary = (
        "First-party relationship started"
        if kind == Relationship.Kind.FIRST_PARTY
        else f"{payer.full_name} pays for {attendee.full_name}"
    )
    for client in {payer.pk: payer, attendee.pk: attendee}.values():
        record_event(
            client=client, kind=ClientEvent.Kind.RELATIONSHIP, summary=summary, actor=actor
        )
    return relationship


@dataclass(frozen=True)
class WhoPays:
    """The payer of a new relationship: the attendee themselves (``self_pays``), an
    existing client (``organiser``) or a new one (``organiser_details``: names, email)."""

    self_pays: bool = True
    organiser: Client | None = None
    organiser_details: dict | None = None
    practitioner: User | None = None
    allow_duplicate_organiser: bool = False


def _payer_for(attendee: Client, who: WhoPays, *, actor) -> Client:
    if who.self_pays:
        return attendee
    if who.organiser is not None:
        if who.organiser.pk == attendee.pk:
            raise BusinessRuleError(
                "Someone else pays: choose a client other than the attendee, or choose "
                "'The client pays for themselves'.",
                field="organiser",
            )
        return who.organiser
    if who.organiser_details:
        try:
            return create_client(
                data=who.organiser_details,
                actor=actor,
                allow_duplicates=who.allow_duplicate_organiser,
            )
        except BusinessRuleError as error:  # about the organiser's fields, not the client's
            error.field = f"organiser_{error.field or 'email'}"
            raise
    raise BusinessRuleError(
        "Choose who pays: an existing client, or the new organiser's name.", field="organiser"
    )


@transaction.atomic
def add_relationship(*, attendee: Client, who: WhoPays, actor) -> Relationship:
    """ "New relationship": who pays for ``attendee`` from now on, creating the organiser
    when they are new; all or nothing."""
    payer = _payer_for(attendee, who, actor=actor)
    return create_relationship(
        payer=payer, attendee=attendee, practitioner=who.practitioner, actor=actor
    )


def add_client(
    *,
    details: dict,
    who: WhoPays,
    actor,
    allow_duplicates: bool = False,
    request_key: uuid.UUID | None = None,
) -> Relationship:
    """ "Add client": the client and who pays for them (a first-party relationship, or
    a third-party one with an existing or new organiser), together or not at all.
    The same ``request_key`` again (a double submit) returns what the first created."""
    if request_key is not None and (done := _added_with(request_key)) is not None:
        return done
    try:
        with transaction.atomic():
            attendee = create_client(
                data=details,
                actor=actor,
                allow_duplicates=allow_duplicates,
                request_key=request_key,
            )
            return add_relationship(attendee=attendee, who=who, actor=actor)
    except IntegrityError:
        # the same key committed by a submit racing this one: its client stands
        if request_key is None or (done := _added_with(request_key)) is None:
            raise
        return done


def _added_with(request_key: uuid.UUID) -> Relationship | None:
    return (
        Relationship.objects.filter(attendee__request_key=request_key)
        .select_related("attendee", "payer")
        .order_by("pk")
        .first()
    )

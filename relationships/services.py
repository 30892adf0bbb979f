"""Who pays for whom: creating relationships. Migrating one to first party and
booking under one cross into scheduling and billing: ``frontdesk.relationship_flows``."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from clients.models import ClientEvent
from clients.services import record_event
from opus.lib.actors import person
from relationships.models import Relationship
from relationships.permissions import require_may_create


@transaction.atomic
def create_relationship(
    *, payer, attendee, actor, practitioner=None, started_on: date | None = None
) -> Relationship:
    """Who pays for whom: the payer for the attendee (the same client: first party)."""
    require_may_create(actor, practitioner=practitioner)
    kind = (
        Relationship.Kind.FIRST_PARTY if payer.pk == attendee.pk else Relationship.Kind.THIRD_PARTY
    )
    relationship = Relationship.objects.create(
        kind=kind,
        payer=payer,
        attendee=attendee,
        practitioner=practitioner,
        started_on=started_on or timezone.localdate(),
        created_by=person(actor),
    )
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

import uuid

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from clients.fields import clean_details
from clients.models import Client, ClientEvent
from clients.permissions import can_edit_client
from clients.selectors import possible_duplicates
from opus.lib.actors import person
from opus.lib.errors import BusinessRuleError

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address",
    "notes",
)
NAME_FIELDS = ("first_name", "last_name")


def record_event(
    *, client: Client, kind: str, summary: str, actor, practitioners=()
) -> ClientEvent:
    """Write a line of the client's history; the client's most recent activity
    (the clients list sorts by it) moves to the same moment. ``practitioners``: the
    ids of the practitioners whose sessions the event is about (a session's, or an
    invoice's: ``billing.selectors.invoice_practitioners``); it decides who may read
    it (``ClientEvent.objects.visible_to``)."""
    about = set(practitioners) - {None}
    event = ClientEvent.objects.create(
        client=client,
        kind=kind,
        summary=summary[:300],
        actor=person(actor),
        practitioner_id=next(iter(about)) if len(about) == 1 else None,
        staff_only=len(about) > 1,
    )
    Client.objects.filter(pk=client.pk).update(last_activity_at=event.created_at)
    client.last_activity_at = event.created_at
    return event


@transaction.atomic
def update_contact_details(*, client: Client, data: dict, actor) -> list[str]:
    """Change a client's contact details (staff only), each checked by its rule in
    clients.fields (a BusinessRuleError names the first refused). Returns the labels
    of what changed; nothing is written, not even history, when nothing changed."""

    if not can_edit_client(actor, client):
        raise PermissionDenied("Only staff may change a client's contact details.")
    data = clean_details(
        {name: data[name] for name in CONTACT_FIELDS if name in data},
        required=[name for name in NAME_FIELDS if name in data],
    )
    locked = Client.objects.select_for_update().get(pk=client.pk)
    changed = [
        name for name in CONTACT_FIELDS if name in data and getattr(locked, name) != data[name]
    ]
    if not changed:
        return []
    for name in changed:
        setattr(locked, name, data[name])
    locked.save(update_fields=[*changed, "updated_at"])
    labels = [str(Client._meta.get_field(name).verbose_name) for name in changed]  # type: ignore[union-attr]
    record_event(
        client=locked,
        kind=ClientEvent.Kind.UPDATED,
        summary=f"Contact details updated: {', '.join(labels)}",
        actor=actor,
    )
    for name in (*changed, "last_activity_at"):
        setattr(client, name, getattr(locked, name))
    return labels


class PossibleDuplicates(BusinessRuleError):
    """Clients that may be the same person: creating another needs a deliberate
    second click ("Create anyway")."""

    def __init__(self, duplicates: list[Client]):
        count = len(duplicates)
        super().__init__(
            f"{count} client{'s' if count != 1 else ''} with the same email, or the same name "
            "and date of birth, already exist. Check them first; create this client anyway "
            "only if it is someone else."
        )
        self.duplicates = duplicates


@transaction.atomic
def create_client(
    *,
    data: dict,
    actor,
    allow_duplicates: bool = False,
    request_key: uuid.UUID | None = None,
    external_id: str = "",
) -> Client:
    """A new client (staff only) from the details in ``data``, each checked by its rule
    in clients.fields. Refused with ``PossibleDuplicates`` while clients with the same
    email, or the same name and date of birth, exist, unless ``allow_duplicates``."""
    if not can_edit_client(actor, None):
        raise PermissionDenied("Only staff may add a client.")
    cleaned = clean_details(
        {name: data.get(name, "") for name in CONTACT_FIELDS}, required=NAME_FIELDS
    )
    if not allow_duplicates:
        duplicates = list(possible_duplicates(cleaned))
        if duplicates:
            raise PossibleDuplicates(duplicates)
    client = Client.objects.create(
        **cleaned, request_key=request_key, external_id=external_id.strip()
    )
    record_event(
        client=client, kind=ClientEvent.Kind.CREATED, summary="Client created", actor=actor
    )
    return client


@transaction.atomic
def set_external_id(*, client: Client, external_id: str, actor) -> bool:
    """Record the client's id in the product the practice came from (staff only; the
    import does it). Refused when another client has it; False when already set."""
    locked = _lock_for_staff(client, actor, "change the external id of")
    external_id = external_id.strip()
    if locked.external_id == external_id:
        return False
    others = Client.objects.filter(external_id=external_id).exclude(pk=locked.pk)
    if external_id and others.exists():
        raise BusinessRuleError(
            f"Another client already has the external id {external_id}.", field="external_id"
        )
    locked.external_id = external_id
    locked.save(update_fields=["external_id", "updated_at"])
    record_event(
        client=locked,
        kind=ClientEvent.Kind.UPDATED,
        summary=f"External id set to {external_id}" if external_id else "External id removed",
        actor=actor,
    )
    client.external_id = external_id
    return True


def _lock_for_staff(client: Client, actor, verb: str) -> Client:
    if not can_edit_client(actor, client):
        raise PermissionDenied(f"Only staff may {verb} a client.")
    return Client.objects.select_for_update().get(pk=client.pk)


@transaction.atomic
def archive_client(*, client: Client, actor) -> bool:
    """Take the client off lists, search and pickers; every invoice, relationship and
    line of history stays. Returns False when it was archived already (a double click)."""
    locked = _lock_for_staff(client, actor, "archive")
    if locked.archived_at is not None:
        return False
    locked.archived_at = timezone.now()
    locked.archived_by = person(actor)
    locked.save(update_fields=["archived_at", "archived_by", "updated_at"])
    record_event(
        client=locked, kind=ClientEvent.Kind.ARCHIVED, summary="Client archived", actor=actor
    )
    client.archived_at, client.archived_by = locked.archived_at, locked.archived_by
    return True


@transaction.atomic
def restore_client(*, client: Client, actor) -> bool:
    """Undo the archiving: back on lists, search and pickers. False when not archived."""
    locked = _lock_for_staff(client, actor, "restore")
    if locked.archived_at is None:
        return False
    locked.archived_at = None
    locked.archived_by = None
    locked.save(update_fields=["archived_at", "archived_by", "updated_at"])
    record_event(
        client=locked, kind=ClientEvent.Kind.RESTORED, summary="Client restored", actor=actor
    )
    client.archived_at, client.archived_by = None, None
    return True

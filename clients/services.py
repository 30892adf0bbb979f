from django.core.exceptions import PermissionDenied
from django.db import transaction

from clients.fields import clean_details
from clients.models import Client, ClientEvent
from clients.permissions import can_edit_client
from opus.lib.actors import person

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "address")
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

from __future__ import annotations

from django.db.models import Q

from relationships.models import Relationship


def relationship_list(user, *, q="", kind="", status="", practitioner=None):
    relationships = Relationship.objects.visible_to(user).select_related(
        "payer", "attendee", "practitioner"
    )
    if q:
        for word in q.split()[:4]:
            relationships = relationships.filter(
                Q(payer__first_name__icontains=word)
                | Q(payer__last_name__icontains=word)
                | Q(attendee__first_name__icontains=word)
                | Q(attendee__last_name__icontains=word)
            )
    if kind:
        relationships = relationships.filter(kind=kind)
    if status:
        relationships = relationships.filter(status=status)
    if practitioner:
        relationships = relationships.filter(practitioner=practitioner)
    return relationships.order_by("attendee__last_name", "attendee__first_name", "pk")

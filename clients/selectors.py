from __future__ import annotations

import re

from django.db.models import F, Func, Q
from django.db.models.functions import Lower

from clients.models import Client

SORTS = {
    "name": (Lower("last_name"), Lower("first_name"), "pk"),
    "activity": (F("last_activity_at").desc(), "pk"),
}
DEFAULT_SORT = "name"
MAX_QUERY_LENGTH = 100


class DigitsOnly(Func):
    """regexp_replace(phone, '\\D', '', 'g'): '07700 900-123' -> '07700900123'."""

    template = "regexp_replace(%(expressions)s, '\\D', '', 'g')"


def search_clients(user, *, q: str = "", sort: str = DEFAULT_SORT):
    """Clients visible to ``user`` whose name, email or phone match every word of
    ``q`` (case-insensitive; a phone matches whatever its spacing)."""
    clients = Client.objects.visible_to(user)
    terms = q.split()
    if any(re.sub(r"\D", "", term) for term in terms):
        clients = clients.annotate(phone_digits=DigitsOnly(F("phone")))
    for term in terms:
        match = (
            Q(first_name__icontains=term) | Q(last_name__icontains=term) | Q(email__icontains=term)
        )
        digits = re.sub(r"\D", "", term)
        if digits:
            match |= Q(phone_digits__contains=digits)
        clients = clients.filter(match)
    return clients.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))

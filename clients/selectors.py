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
    clients = Client.objects.visible_to(user).active()
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


DUPLICATES_SHOWN = 10


def possible_duplicates(details: dict, *, exclude_pk: int | None = None):
    """Clients who may be the person ``details`` describe (archived ones included, so
    that staff restore rather than re-create): the same email, or the same first and
    last name and date of birth, case-insensitively. Empty when too little is known."""
    email = (details.get("email") or "").strip()
    first = (details.get("first_name") or "").strip()
    last = (details.get("last_name") or "").strip()
    born = details.get("date_of_birth")
    match = Q()
    if email:
        match |= Q(email_lower=email.lower())
    if first and last and born:
        match |= Q(first_lower=first.lower(), last_lower=last.lower(), date_of_birth=born)
    if not match:
        return Client.objects.none()
    clients = Client.objects.annotate(
        email_lower=Lower("email"), first_lower=Lower("first_name"), last_lower=Lower("last_name")
    ).filter(match)
    if exclude_pk is not None:
        clients = clients.exclude(pk=exclude_pk)
    return clients.order_by("last_lower", "first_lower", "pk")[:DUPLICATES_SHOWN]

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchQuery
from django.db.models import F, Q
from django.db.models.functions import Lower

from clients.models import (
    Client,
    email_lower,
    name_words,
    phone_digits,
    phone_digits_reversed,
)

SORTS = {
    "name": (Lower("last_name"), Lower("first_name"), "pk"),
    "activity": (F("last_activity_at").desc(), "pk"),
}
DEFAULT_SORT = "name"
MAX_QUERY_LENGTH = 100
PHONE_TYPED = re.compile(r"[\d\s+().-]+")


def search_clients(user, *, q: str = "", sort: str = DEFAULT_SORT):
    """Clients visible to ``user`` matching every word of ``q`` (case-insensitive): a
    word of their name or their email starting with it; or, when ``q`` is a phone
    number however spaced, their phone's digits starting or ending with its digits.
    Each under an index (clients.models): no scan of every client."""
    clients = Client.objects.visible_to(user).active()
    terms = q.split()
    if not terms:
        return clients.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
    digits = re.sub(r"\D", "", q)
    if PHONE_TYPED.fullmatch(q) and digits:  # a phone number, however spaced: as a whole
        clients = clients.annotate(
            search_phone=phone_digits(), search_phone_reversed=phone_digits_reversed()
        ).filter(
            Q(search_phone__startswith=digits) | Q(search_phone_reversed__startswith=digits[::-1])
        )
        return clients.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
    clients = clients.annotate(search_words=name_words(), search_email=email_lower())
    for term in terms:
        words = re.findall(r"\w+", term.lower())
        if not words:  # punctuation alone ("&", "-"): nothing to look for
            continue
        # every word of the term, each as the start of a word of the name (a raw query
        # of word characters only: nothing typed is tsquery syntax)
        query = " & ".join(f"'{word}':*" for word in words)
        match = Q(search_words=SearchQuery(query, search_type="raw", config="simple"))
        clients = clients.filter(match | Q(search_email__startswith=term.lower()))
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

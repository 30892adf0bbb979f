"""Who sees which rows, assembled across the apps.

Staff see every row; a practitioner sees what their own work touches. A model's
app states the part of that rule it knows (``visible_to`` on its queryset), but
some of it rests on facts kept by the apps above: a relationship is also the
business of the practitioner whose session is booked under it (scheduling knows
that), and an invoice settling a transfer out of another practitioner's session
is not theirs (the front desk knows that). The app that holds the fact registers
it here when it starts, so a lower app never imports a higher one.

A rule takes the user and returns a condition on the model's rows (a ``Q`` or an
``Exists``): ``widen`` rules add rows, ``narrow`` rules must all hold."""

from collections import defaultdict
from collections.abc import Callable

from django.db.models import Q, QuerySet

Rule = Callable[..., object]
_widen: dict[str, list[Rule]] = defaultdict(list)
_narrow: dict[str, list[Rule]] = defaultdict(list)


def widen(model_label: str, rule: Rule) -> None:
    if rule not in _widen[model_label]:
        _widen[model_label].append(rule)


def narrow(model_label: str, rule: Rule) -> None:
    if rule not in _narrow[model_label]:
        _narrow[model_label].append(rule)


def practitioner_scope[Scoped: QuerySet](queryset: Scoped, user, own: Q | None = None) -> Scoped:
    """``queryset`` as ``user`` may see it: none for an anonymous or inactive user,
    all for staff, else the rows matching ``own`` or a widening rule, and every
    narrowing rule."""
    if not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_practice_staff:
        return queryset
    label = queryset.model._meta.label
    conditions = ([own] if own is not None else []) + [Q(rule(user)) for rule in _widen[label]]
    if not conditions:
        return queryset.none()
    seen = conditions[0]
    for condition in conditions[1:]:
        seen |= condition
    return queryset.filter(seen, *[Q(rule(user)) for rule in _narrow[label]])

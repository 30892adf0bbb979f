"""Closures at the same moment (docs/quality.md Reliability 1 and 2): the same
confirm form submitted twice at once makes one closure; two overlapping closures
confirmed at once each cancel a date at most once, and the history says so once."""

import uuid

import pytest

from clients.models import ClientEvent
from scheduling import closures
from scheduling.models import Closure, SessionDate
from tests.support.closures import build_closure_world
from tests.support.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_form_confirmed_twice_at_once_makes_one_closure(staff):
    world = build_closure_world()
    key = uuid.uuid4()

    def confirm():
        return closures.close_dates(
            scope="practice",
            first_date=world.start,
            last_date=world.end,
            reason="Christmas break",
            request_key=key,
            notify=True,
            actor=staff,
        )

    results = run_together([confirm] * 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.created for r in results) == 1
    assert Closure.objects.count() == 1
    assert SessionDate.objects.filter(cancelled=True).count() == 4
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.DATE_CANCELLED).count() == 6


def test_two_overlapping_closures_at_once_cancel_each_date_once(staff):
    world = build_closure_world()

    def confirm(reason, scope, **extra):
        return lambda: closures.close_dates(
            scope=scope,
            first_date=world.start,
            last_date=world.end,
            reason=reason,
            request_key=uuid.uuid4(),
            actor=staff,
            **extra,
        )

    results = run_together(
        [
            confirm("Christmas break", "practice"),
            confirm("Tuning", "room", room=world.piano.room),
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r.affected.dates) for r in results) == 4
    linked = SessionDate.objects.filter(cancelled=True).values_list("closure_id", flat=True)
    assert len(linked) == 4 and None not in linked
    # Ava's two Piano dates were cancelled by one closure or the other, never twice
    piano_lines = sum(
        e.summary.count("Piano on")
        for e in ClientEvent.objects.filter(client=world.ava, kind=ClientEvent.Kind.DATE_CANCELLED)
    )
    assert piano_lines == 2

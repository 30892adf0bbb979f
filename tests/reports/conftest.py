"""A small practice with money, enrolments, attendance and card links on known
dates (built, never today's: the suite passes on any day)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import (
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.reports import AS_OF, issued, paid


@pytest.fixture
def money_world(staff, therapist, other_therapist):
    """Two payers; invoices 0, 10, 45, 75 and 120 days past due on AS_OF; a
    payment after AS_OF; two services of two practitioners."""
    piano = ServiceFactory(name="Piano")
    guitar = ServiceFactory(name="Guitar")
    piano_session = SessionFactory(service=piano, practitioner=therapist)
    guitar_session = SessionFactory(service=guitar, practitioner=other_therapist)
    ann = RelationshipFactory(payer__first_name="Ann", payer__last_name="Able")
    bob = RelationshipFactory(payer__first_name="Bob", payer__last_name="Baker")
    ann_piano = SubscriptionFactory(relationship=ann, session=piano_session)
    bob_guitar = SubscriptionFactory(relationship=bob, session=guitar_session)
    invoices = {
        "current": issued(
            ann, "100.00", on=date(2026, 6, 20), due=AS_OF, actor=staff, subscription=ann_piano
        ),
        "d10": issued(
            ann,
            "50.00",
            on=date(2026, 6, 1),
            due=AS_OF - timedelta(days=10),
            actor=staff,
            subscription=ann_piano,
            discount="5.00",
        ),
        "d45": issued(
            bob,
            "80.00",
            on=date(2026, 5, 1),
            due=AS_OF - timedelta(days=45),
            actor=staff,
            subscription=bob_guitar,
        ),
        "d75": issued(
            bob, "33.33", on=date(2026, 4, 1), due=AS_OF - timedelta(days=75), actor=staff
        ),
        "d120": issued(
            bob,
            "20.00",
            on=date(2026, 2, 1),
            due=AS_OF - timedelta(days=120),
            actor=staff,
            subscription=bob_guitar,
        ),
    }
    paid(invoices["d45"], "30.00", on=date(2026, 5, 20), actor=staff)  # part paid: 50 left
    paid(
        invoices["d120"], "20.00", on=date(2026, 7, 5), actor=staff
    )  # after AS_OF: still owed then
    return {
        "ann": ann.payer,
        "bob": bob.payer,
        "piano": piano,
        "guitar": guitar,
        "invoices": invoices,
        "sessions": (piano_session, guitar_session),
        "subscriptions": (ann_piano, bob_guitar),
    }

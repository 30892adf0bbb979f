"""Enrolments at the same moment: a double submit enrols once; two clients for the
last place: one wins, the other is told why."""

from datetime import date

import pytest

from frontdesk.enrolments import enrol_client
from frontdesk.models import Enrolment
from opus.lib.errors import BusinessRuleError
from scheduling.models import Subscription
from tests.factories import SubscriptionFactory
from tests.support.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)

DEC_7 = date(2026, 12, 7)


def test_the_same_submission_from_five_threads_enrols_once(w, staff):
    def submit():
        return enrol_client(
            client=w.ava,
            session=w.session,
            relationship=w.ava_rel,
            first_date=DEC_7,
            request_key="one-form",
            actor=staff,
        )

    results = run_together([submit] * 5)
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert Subscription.objects.filter(client=w.ava).count() == 1
    assert Enrolment.objects.count() == 1


def test_two_clients_for_the_last_place_one_wins(w, staff):
    SubscriptionFactory(session=w.session, first_date=DEC_7)  # one of two places taken

    def submit(client, relationship):
        return lambda: enrol_client(
            client=client,
            session=w.session,
            relationship=relationship,
            first_date=DEC_7,
            actor=staff,
        )

    results = run_together([submit(w.ava, w.ava_rel), submit(w.sam, w.sam_rel)])
    refused = [r for r in results if isinstance(r, BusinessRuleError)]
    assert len(refused) == 1 and "is full" in refused[0].message
    assert Subscription.objects.filter(session=w.session).count() == 2

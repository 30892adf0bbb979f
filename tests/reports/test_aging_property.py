"""Property (hypothesis): for any invoices and payments, the aging buckets add up,
per payer and in all, to the open balance the invoices' own balances give."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Invoice
from billing.selectors import with_balance
from reports import selectors
from tests.factories import RelationshipFactory
from tests.support.reports import AS_OF, at, issued, paid

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
invoices = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # which payer
        st.integers(min_value=1, max_value=500_000),  # total, in pence
        st.integers(min_value=-30, max_value=200),  # days overdue on AS_OF (negative: not due)
        st.integers(min_value=0, max_value=100),  # percent paid
    ),
    min_size=1,
    max_size=8,
)


class RolledBack(Exception):
    pass


def test_the_aging_buckets_sum_to_the_open_balance(staff):
    payers = [RelationshipFactory() for _ in range(3)]

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(invoices)
    def check(specs):
        try:
            with (
                transaction.atomic(),
                time_machine.travel(at(AS_OF + timedelta(days=1)), tick=False),
            ):
                for payer, pence, overdue, percent in specs:
                    due = AS_OF - timedelta(days=overdue)
                    total = Decimal(pence) * CENT
                    invoice = issued(payers[payer], total, on=min(due, AS_OF), due=due, actor=staff)
                    part = (total * percent / 100).quantize(CENT)
                    if part > 0:
                        paid(invoice, part, on=min(due, AS_OF), actor=staff)
                rows = selectors.aging(as_of=AS_OF)
                open_balance = with_balance(Invoice.objects.filter(status="open")).aggregate(
                    s=Sum("balance")
                )["s"] or Decimal(0)
                for row in rows:
                    buckets = sum(row[key] for key in selectors.AGING_BUCKETS)
                    assert buckets == row["total"]
                    assert row["total"] > 0
                assert sum(row["total"] for row in rows) == open_balance
                raise RolledBack  # each example starts from the same database
        except RolledBack:
            pass

    check()

"""Property (hypothesis): for any sequence of invoices, payments, account credits,
credits used, refunds (of a payment, and of account credit), voids and closes, the
statement's closing balance equals the ledger's (the open invoices' balance less
the account credit), and any date range's opening balance plus its rows gives
its closing balance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings as settings_
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import Invoice, Payment
from billing.statements import ledger_balance, statement_for
from opus.lib.errors import BusinessRuleError
from tests.factories import RelationshipFactory
from tests.support.reports import at

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
FIRST_DAY = date(2026, 3, 2)
KINDS = ["invoice", "draft_credit", "pay", "grant", "apply", "refund", "payout", "void", "close"]
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=1, max_value=50_000),  # an amount, in pence
        st.integers(min_value=0, max_value=3),  # days after the step before
        st.integers(min_value=0, max_value=5),  # which invoice or payment
    ),
    min_size=1,
    max_size=12,
)


class RolledBack(Exception):
    pass


def _pick(items, index):
    return items[index % len(items)] if items else None


def _draft(relationship, amount, staff):
    invoice = services.create_draft(
        actor=staff, payer=relationship.payer, relationship=relationship
    )
    services.add_charge(actor=staff, invoice=invoice, description="Lessons", unit_price=amount)
    return invoice


def _issue(invoice, day, staff):
    return services.issue_invoice(
        invoice=invoice, issued_on=day, due_on=day + timedelta(days=14), actor=staff
    )


def _step(relationship, kind, amount, which, staff):
    payer = relationship.payer
    currency = settings_.OPUS_CURRENCY
    day = timezone.localdate()  # the travelled day
    open_invoices = list(Invoice.objects.filter(payer=payer, status="open").order_by("pk"))
    if kind == "invoice":
        _issue(_draft(relationship, amount, staff), day, staff)
    elif kind == "draft_credit":  # a draft takes account credit, then is issued
        draft = _draft(relationship, amount, staff)
        services.apply_account_credit(invoice=draft, actor=staff)
        _issue(draft, day, staff)
    elif kind == "pay" and open_invoices:
        invoice = _pick(open_invoices, which)
        left = invoice.total - sum(p.amount for p in invoice.payments.all())
        services.record_payment(
            invoice=invoice, amount=min(amount, left), method="cash", actor=staff
        )
    elif kind == "grant":
        services.grant_account_credit(
            payer=payer,
            amount=amount,
            currency=currency,
            reason="Goodwill",
            actor=staff,
        )
    elif kind == "apply" and open_invoices:
        services.apply_account_credit(invoice=_pick(open_invoices, which), actor=staff)
    elif kind == "refund":
        payment = _pick(list(Payment.objects.filter(invoice__payer=payer).order_by("pk")), which)
        if payment is not None and payment.amount > payment.refunded:
            services.refund_payment(
                payment=payment,
                amount=min(amount, payment.amount - payment.refunded),
                reason="Lesson cancelled",
                method="cash",
                actor=staff,
            )
    elif kind == "payout":
        services.refund_account_credit(
            payer=payer,
            currency=currency,
            amount=amount,
            reason="Paid back",
            payments=list(Payment.objects.filter(invoice__payer=payer).select_related("invoice")),
            request_key=f"payout-{day}-{amount}-{which}",
            actor=staff,
        )
    elif kind == "void" and open_invoices:
        services.void_invoice(invoice=_pick(open_invoices, which), reason="Error", actor=staff)
    elif kind == "close" and open_invoices:
        services.close_invoice(invoice=_pick(open_invoices, which), reason="Waived", actor=staff)


def test_the_statement_closes_at_the_ledger_balance(staff):
    relationship = RelationshipFactory()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps)
    def check(spec):
        try:
            with transaction.atomic():
                day = FIRST_DAY
                for kind, pence, gap, which in spec:
                    day += timedelta(days=gap)
                    with time_machine.travel(at(day), tick=False):
                        try:
                            with transaction.atomic():
                                _step(relationship, kind, Decimal(pence) * CENT, which, staff)
                        except BusinessRuleError:
                            pass  # refused (more than the credit, nothing to void): no change
                currency = settings_.OPUS_CURRENCY
                with time_machine.travel(at(day), tick=False):
                    whole = statement_for(payer=relationship.payer, start=FIRST_DAY, end=day)
                    ledger = ledger_balance(relationship.payer, currency)
                closing = {s.currency: s.closing for s in whole.sections}.get(currency, Decimal(0))
                assert closing == ledger
                for section in whole.sections:
                    assert section.opening == 0
                    assert section.rows[-1].balance == section.closing if section.rows else True
                # any range: opening + charges - credits = closing, and it joins the next range
                middle = FIRST_DAY + (day - FIRST_DAY) // 2
                first = statement_for(payer=relationship.payer, start=FIRST_DAY, end=middle)
                second = statement_for(
                    payer=relationship.payer, start=middle + timedelta(days=1), end=day
                )
                closes = {s.currency: s.closing for s in first.sections}
                for section in second.sections:
                    assert section.opening == closes.get(section.currency, Decimal(0))
                    assert section.closing == section.opening + section.charges - section.credits
                    assert (
                        section.closing
                        == {s.currency: s.closing for s in whole.sections}[section.currency]
                    )
                raise RolledBack  # each example starts from the same database
        except RolledBack:
            pass

    check()

"""Property tests: whatever lines are added, the total is charges less discounts
and credits, at the currency's precision, and never below zero."""

from decimal import Decimal

import pytest
from django.apps import apps
from django.db import models, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import Invoice
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.lib.money import format_money, minor_digits, round_money
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

CURRENCIES = st.sampled_from(["JPY", "GBP", "KWD"])  # 0, 2 and 3 minor digits
AMOUNTS = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("5000"), places=4)
QUANTITIES = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("40"), places=2)
PERCENTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2)
ADJUSTMENTS = st.lists(
    st.one_of(
        st.tuples(st.just("discount_amount"), AMOUNTS),
        st.tuples(st.just("discount_percent"), PERCENTS),
        st.tuples(st.just("credit"), AMOUNTS),
    ),
    max_size=5,
)
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Rollback(Exception):
    pass


def at_precision(value: Decimal, currency: str) -> bool:
    return isinstance(value, Decimal) and value == value.quantize(
        Decimal(1).scaleb(-minor_digits(currency))
    )


@EXAMPLES
@given(
    currency=CURRENCIES,
    charges=st.lists(st.tuples(AMOUNTS, QUANTITIES), min_size=1, max_size=4),
    adjustments=ADJUSTMENTS,
)
def test_lines_minus_discounts_and_credits_equal_the_total(currency, charges, adjustments):
    try:
        with transaction.atomic():  # each example leaves nothing behind
            payer = ClientFactory()
            invoice = services.create_draft(actor=SYSTEM, payer=payer, currency=currency)
            for unit_price, quantity in charges:
                line = services.add_charge(
                    actor=SYSTEM,
                    invoice=invoice,
                    description="x",
                    unit_price=unit_price,
                    quantity=quantity,
                )
                assert line.amount == round_money(line.unit_price * quantity, currency)
            for kind, value in adjustments:
                try:
                    if kind == "discount_amount":
                        services.add_discount(
                            actor=SYSTEM, invoice=invoice, amount=value, reason="r"
                        )
                    elif kind == "discount_percent":
                        line = services.add_discount(
                            actor=SYSTEM, invoice=invoice, percent=value, reason="r"
                        )
                        charges_sum = sum(x.amount for x in invoice.lines.filter(kind="charge"))
                        assert line.amount == round_money(charges_sum * value / 100, currency)
                    else:
                        services.add_credit(actor=SYSTEM, invoice=invoice, amount=value, reason="r")
                except BusinessRuleError as refused:
                    # refused only when it would exceed what is left, or round to nothing
                    assert "larger than what is left" in refused.message or (
                        "more than zero" in refused.message or "nothing to take" in refused.message
                    )
            lines = list(Invoice.objects.get(pk=invoice.pk).lines.all())
            for line in lines:
                assert at_precision(line.amount, currency)
                assert at_precision(line.unit_price, currency)
                assert line.amount >= 0
            charged = sum(x.amount for x in lines if x.kind == "charge")
            taken = sum(x.amount for x in lines if x.kind != "charge")
            issued = services.issue_invoice(actor=SYSTEM, invoice=invoice)
            issued.refresh_from_db()
            assert issued.total == charged - taken
            assert issued.total >= 0
            assert at_precision(issued.total, currency)
            assert issued.status == ("open" if issued.total > 0 else "paid")
            raise Rollback
    except Rollback:
        pass


@EXAMPLES
@given(currency=CURRENCIES, total=AMOUNTS, parts=st.lists(AMOUNTS, min_size=1, max_size=6))
def test_payments_never_exceed_the_total_and_settle_it_exactly(currency, total, parts):
    try:
        with transaction.atomic():
            invoice = services.create_draft(actor=SYSTEM, payer=ClientFactory(), currency=currency)
            services.add_charge(actor=SYSTEM, invoice=invoice, description="x", unit_price=total)
            invoice = services.issue_invoice(actor=SYSTEM, invoice=invoice)
            for part in parts:
                if invoice.status != "open":
                    break
                balance = services.balance_due(invoice)
                try:
                    payment = services.record_payment(
                        actor=SYSTEM, invoice=invoice, amount=part, method="cash"
                    )
                except BusinessRuleError:
                    assert round_money(part, currency) > balance or round_money(part, currency) == 0
                else:
                    assert at_precision(payment.amount, currency)
                invoice.refresh_from_db()
            paid = sum(p.amount for p in invoice.payments.all())
            assert paid <= invoice.total
            assert (invoice.status == "paid") == (paid == invoice.total)
            assert services.balance_due(invoice) == (
                invoice.total - paid if invoice.status == "open" else 0
            )
            raise Rollback
    except Rollback:
        pass


@given(
    value=st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ),
    currency=CURRENCIES,
)
def test_round_money_is_idempotent_and_at_precision(value, currency):
    once = round_money(value, currency)
    assert round_money(once, currency) == once
    assert at_precision(once, currency)
    assert abs(once - value) <= Decimal(1).scaleb(-minor_digits(currency)) / 2
    assert format_money(once, currency)


def test_round_money_refuses_floats():
    with pytest.raises(TypeError):
        round_money(0.1, "GBP")


def test_billing_has_no_float_fields_and_money_is_stored_with_three_places():
    for model in apps.get_app_config("billing").get_models():
        for field in model._meta.get_fields():
            assert not isinstance(field, models.FloatField), f"{model.__name__}.{field.name}"
            if field.name in {"amount", "total", "unit_price"}:
                assert isinstance(field, models.DecimalField)
                assert field.decimal_places >= 3

"""The payer's account: an append-only ledger of credits and their uses whose
balance never goes below zero (held by the database), applied to invoices by hand
and by the billing run (oldest first)."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import services
from billing.models import Account, AccountEntry, Invoice
from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from tests.factories import ClientFactory
from tests.support.billing import open_invoice
from tests.support.threads import run_together


def grant(payer, amount, staff=SYSTEM, **kwargs):
    return services.grant_account_credit(
        payer=payer,
        amount=Decimal(amount),
        currency=kwargs.pop("currency", "GBP"),
        reason=kwargs.pop("reason", "Sorry for the cancelled lesson"),
        actor=staff,
        **kwargs,
    )


def draft(payer, amount="100.00"):
    invoice = services.create_draft(payer=payer, actor=SYSTEM, currency="GBP")
    services.add_charge(
        invoice=invoice, actor=SYSTEM, description="Lessons", unit_price=Decimal(amount)
    )
    return invoice


def balance(payer, currency="GBP") -> Decimal:
    account = Account.objects.filter(payer=payer, currency=currency).first()
    return account.balance if account else Decimal(0)


@pytest.mark.django_db
def test_a_goodwill_credit_needs_a_reason_and_staff_and_writes_history(staff, therapist):
    payer = ClientFactory()
    with pytest.raises(BusinessRuleError, match="reason"):
        grant(payer, "10", staff, reason="  ")
    with pytest.raises(PermissionDenied):
        grant(payer, "10", therapist)
    with pytest.raises(BusinessRuleError, match="more than zero"):
        grant(payer, "0", staff)
    entry = grant(payer, "10.00", staff)
    assert (entry.kind, entry.amount, entry.balance_after, entry.position) == (
        "goodwill",
        Decimal("10.00"),
        Decimal("10.00"),
        1,
    )
    assert entry.created_by == staff
    assert balance(payer) == Decimal("10.00")
    event = ClientEvent.objects.filter(client=payer).latest("pk")
    assert "Account credit of £10.00" in event.summary and "cancelled lesson" in event.summary


@pytest.mark.django_db
def test_the_same_source_credits_once():
    payer = ClientFactory()
    first = grant(payer, "12.00", kind="transfer", source="transfer:7")
    again = grant(payer, "12.00", kind="transfer", source="transfer:7")
    assert first.pk == again.pk
    assert balance(payer) == Decimal("12.00")


@pytest.mark.django_db
def test_entries_are_append_only_in_the_database():
    entry = grant(ClientFactory(), "5.00")
    with pytest.raises(IntegrityError, match="append_only"), transaction.atomic():
        AccountEntry.objects.filter(pk=entry.pk).update(amount=Decimal("500"))
    with pytest.raises(IntegrityError, match="append_only"), transaction.atomic():
        AccountEntry.objects.filter(pk=entry.pk).delete()


@pytest.mark.django_db
def test_the_database_refuses_a_negative_balance():
    payer = ClientFactory()
    grant(payer, "5.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(payer=payer).update(balance=Decimal("-1"))
    account = Account.objects.get(payer=payer)
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountEntry.objects.create(
            account=account,
            position=9,
            kind="applied",
            amount=Decimal("-6"),
            balance_after=Decimal("-1"),
            description="x",
        )


@pytest.mark.django_db
def test_credit_applied_to_an_open_invoice_by_hand_never_more_than_balance_or_total():
    payer = ClientFactory()
    invoice = open_invoice(payer=payer, amount="30.00")
    grant(payer, "50.00")
    with pytest.raises(BusinessRuleError, match="more than is left to pay"):
        services.apply_account_credit(invoice=invoice, actor=SYSTEM, amount="31")
    with pytest.raises(BusinessRuleError, match=r"only £50\.00"):
        services.apply_account_credit(invoice=invoice, actor=SYSTEM, amount="51")
    entry = services.apply_account_credit(invoice=invoice, actor=SYSTEM)
    invoice.refresh_from_db()
    assert (entry.amount, entry.balance_after) == (Decimal("-30.00"), Decimal("20.00"))
    assert entry.invoice_line.kind == "credit" and entry.invoice_line.invoice == invoice
    assert (invoice.total, invoice.status) == (Decimal("0.00"), "paid")
    assert balance(payer) == Decimal("20.00")


@pytest.mark.django_db
def test_credit_applied_in_part_to_a_draft_and_refused_on_a_paid_invoice(therapist):
    payer = ClientFactory()
    invoice = draft(payer, "80.00")
    grant(payer, "25.00")
    with pytest.raises(PermissionDenied):
        services.apply_account_credit(invoice=invoice, actor=therapist)
    services.apply_account_credit(invoice=invoice, actor=SYSTEM, amount="10")
    invoice.refresh_from_db()
    assert invoice.total == Decimal("70.00") and balance(payer) == Decimal("15.00")
    paid = open_invoice(payer=payer, amount="5.00")
    services.record_payment(invoice=paid, amount="5.00", method="cash", actor=SYSTEM)
    with pytest.raises(BusinessRuleError, match="paid: account credit"):
        services.apply_account_credit(invoice=paid, actor=SYSTEM)


@pytest.mark.django_db
def test_nothing_to_apply_is_nothing():
    payer = ClientFactory()
    assert services.apply_account_credit(invoice=draft(payer), actor=SYSTEM) is None


@pytest.mark.django_db
def test_the_run_applies_credit_to_drafts_oldest_first_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    payer = ClientFactory()
    older, newer = draft(payer, "40.00"), draft(payer, "40.00")
    grant(payer, "50.00")
    with django_assert_max_num_queries(12):
        entries = services.apply_credits_oldest_first(
            payer=payer, invoices=[newer, older], actor=SYSTEM
        )
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.total, newer.total) == (Decimal("0.00"), Decimal("30.00"))
    assert [e.amount for e in entries] == [Decimal("-40.00"), Decimal("-10.00")]
    assert [e.position for e in entries] == [2, 3]
    assert balance(payer) == Decimal("0.00")
    # twenty drafts take no more queries than two
    many = [draft(payer, "1.00") for _ in range(20)]
    grant(payer, "30.00")
    with django_assert_max_num_queries(12):
        services.apply_credits_oldest_first(payer=payer, invoices=many, actor=SYSTEM)
    assert balance(payer) == Decimal("10.00")
    issued = services.issue_invoice(invoice=newer, actor=SYSTEM)
    assert issued.total == Decimal("30.00")


@pytest.mark.django_db
def test_the_run_refuses_another_payers_or_an_issued_invoice():
    payer = ClientFactory()
    grant(payer, "50.00")
    with pytest.raises(BusinessRuleError):
        services.apply_credits_oldest_first(
            payer=payer, invoices=[draft(ClientFactory())], actor=SYSTEM
        )
    with pytest.raises(BusinessRuleError):
        services.apply_credits_oldest_first(
            payer=payer, invoices=[open_invoice(payer=payer)], actor=SYSTEM
        )


@pytest.mark.django_db(transaction=True)
def test_two_uses_at_once_never_take_the_balance_below_zero():
    payer = ClientFactory()
    grant(payer, "50.00")
    first, second = open_invoice(payer=payer, amount="40"), open_invoice(payer=payer, amount="40")
    results = run_together(
        [
            lambda: services.apply_account_credit(invoice=first, actor=SYSTEM, amount="40"),
            lambda: services.apply_account_credit(invoice=second, actor=SYSTEM, amount="40"),
        ]
    )
    assert sum(isinstance(r, AccountEntry) for r in results) == 1
    assert sum(isinstance(r, BusinessRuleError) for r in results) == 1
    assert balance(payer) == Decimal("10.00")
    assert Invoice.objects.filter(status="paid").count() == 1
    connection.close()


AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.booleans(), AMOUNTS), min_size=1, max_size=8))
def test_the_balance_is_the_sum_of_the_entries(steps):
    payer = ClientFactory()
    for is_credit, amount in steps:
        if is_credit:
            grant(payer, amount)
        else:
            invoice = open_invoice(payer=payer, amount=str(amount))
            services.apply_account_credit(invoice=invoice, actor=SYSTEM)
    entries = list(AccountEntry.objects.filter(account__payer=payer).order_by("position"))
    total = sum((e.amount for e in entries), Decimal(0))
    assert balance(payer) == total >= 0
    assert [e.position for e in entries] == list(range(1, len(entries) + 1))
    running = Decimal(0)
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running >= 0

"""Refunds: to the card through the processor (committed before it is asked, a key
of its own, the answer recorded after, a reconciliation for the refunds left
pending) or recorded as paid back by hand; never more than was paid less what was
refunded (held by the database); from account credit, a use of the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import services
from billing.gateway import GatewayError, RefundResult
from billing.models import Account, AccountEntry, Payment, Refund
from clients.models import ClientEvent
from devkit.gateway import SimulatedGateway
from devkit.models import SimulatedGatewayRefund
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from tests.support.billing import open_invoice, save_card
from tests.support.threads import run_together


def card_payment(amount="100.00", staff=SYSTEM):
    invoice = open_invoice(amount=amount)
    card = save_card(invoice.payer)
    return services.charge_card(
        invoice=invoice, payment_method=card, request_key=f"pay-{invoice.pk}", actor=staff
    )


def refund(payment, amount, method="card", **kwargs):
    return services.refund_payment(
        payment=payment,
        amount=Decimal(amount),
        reason=kwargs.pop("reason", "Lesson cancelled by the school"),
        method=method,
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )


@pytest.mark.django_db
def test_a_cash_refund_is_recorded_at_once_with_a_reason_and_history(staff, therapist):
    invoice = open_invoice(amount="60.00")
    payment = services.record_payment(invoice=invoice, amount="60.00", method="cash", actor=staff)
    with pytest.raises(BusinessRuleError, match="reason"):
        refund(payment, "10", "cash", reason=" ")
    with pytest.raises(PermissionDenied):
        refund(payment, "10", "cash", actor=therapist)
    with pytest.raises(BusinessRuleError, match="not made by card"):
        services.start_refund(payment=payment, amount="10", reason="x", method="card", actor=staff)
    done = refund(payment, "15.00", "cash", actor=staff)
    assert (done.status, done.amount, done.settled_at is not None) == (
        "succeeded",
        Decimal("15.00"),
        True,
    )
    payment.refresh_from_db()
    assert payment.refunded == Decimal("15.00")
    event = ClientEvent.objects.filter(client=invoice.payer).latest("pk")
    assert "Refund of £15.00 (cash)" in event.summary and "cancelled" in event.summary
    with pytest.raises(BusinessRuleError, match=r"left to refund of this payment \(£45\.00\)"):
        refund(payment, "45.01", "bank_transfer")


@pytest.mark.django_db
def test_the_database_keeps_refunds_within_the_payment():
    invoice = open_invoice(amount="60.00")
    payment = services.record_payment(invoice=invoice, amount="60.00", method="cash", actor=SYSTEM)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded=Decimal("60.01"))


@pytest.mark.django_db(transaction=True)
def test_a_card_refund_is_committed_before_the_processor_is_asked(monkeypatch):
    payment = card_payment("100.00")
    seen = {}
    real = SimulatedGateway.refund

    def spy(self, **kwargs):
        seen["in_transaction"] = transaction.get_connection().in_atomic_block
        seen["status"] = list(Refund.objects.values_list("status", flat=True))
        seen["key"] = kwargs["idempotency_key"]
        return real(self, **kwargs)

    monkeypatch.setattr(SimulatedGateway, "refund", spy)
    done = refund(payment, "40.00", request_key="page-1")
    assert seen["in_transaction"] is False and seen["status"] == ["pending"]
    assert done.idempotency_key == seen["key"] != "page-1"
    assert done.status == "succeeded" and done.gateway_refund_id.startswith("re_sim_")
    payment.refresh_from_db()
    assert payment.refunded == Decimal("40.00")
    # the same submission again does nothing more
    assert refund(payment, "40.00", request_key="page-1").pk == done.pk
    assert SimulatedGatewayRefund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_declined_refund_frees_the_amount_and_a_retry_has_a_new_key(monkeypatch):
    payment = card_payment("100.00")
    real = SimulatedGateway.refund

    def refuse(self, **kwargs):
        return RefundResult(False, "", kwargs["amount"], kwargs["currency"], "Charge disputed")

    monkeypatch.setattr(SimulatedGateway, "refund", refuse)
    with pytest.raises(BusinessRuleError, match="Charge disputed"):
        refund(payment, "100.00")
    first = Refund.objects.get()
    assert first.status == "declined"
    payment.refresh_from_db()
    assert payment.refunded == Decimal("0")
    monkeypatch.setattr(SimulatedGateway, "refund", real)
    again = refund(payment, "100.00")
    assert again.status == "succeeded" and again.idempotency_key != first.idempotency_key


@pytest.mark.django_db(transaction=True)
def test_a_timeout_stays_pending_the_reconciliation_settles_it_then_a_new_key(monkeypatch):
    payment = card_payment("100.00")

    def down(self, **kwargs):
        raise GatewayError("timeout")

    monkeypatch.setattr(SimulatedGateway, "refund", down)
    with pytest.raises(services.RefundPending):
        refund(payment, "30.00")
    pending = Refund.objects.get()
    assert pending.status == "pending"
    with pytest.raises(BusinessRuleError, match="still waiting"):
        refund(payment, "10.00")
    monkeypatch.undo()
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert services.reconcile_refunds() == 1
    pending.refresh_from_db()
    assert pending.status == "failed"  # the processor never received it
    payment.refresh_from_db()
    assert payment.refunded == Decimal("0")
    again = refund(payment, "30.00")
    assert again.status == "succeeded" and again.idempotency_key != pending.idempotency_key


@pytest.mark.django_db(transaction=True)
def test_the_reconciliation_records_a_refund_the_processor_made(monkeypatch):
    payment = card_payment("100.00")
    real = SimulatedGateway.refund

    def made_then_lost(self, **kwargs):
        real(self, **kwargs)
        raise GatewayError("connection reset")

    monkeypatch.setattr(SimulatedGateway, "refund", made_then_lost)
    with pytest.raises(services.RefundPending):
        refund(payment, "30.00")
    monkeypatch.undo()
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert services.reconcile_refunds() == 1
        assert services.reconcile_refunds() == 0
    done = Refund.objects.get()
    assert done.status == "succeeded"
    payment.refresh_from_db()
    assert payment.refunded == Decimal("30.00")


@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_never_give_back_more_than_was_paid():
    invoice = open_invoice(amount="100.00")
    payment = services.record_payment(invoice=invoice, amount="100.00", method="cash", actor=SYSTEM)
    results = run_together(
        [lambda: refund(payment, "70.00", "cash"), lambda: refund(payment, "70.00", "cash")]
    )
    assert sum(isinstance(r, Refund) for r in results) == 1
    assert sum(isinstance(r, BusinessRuleError) for r in results) == 1
    payment.refresh_from_db()
    assert payment.refunded == Decimal("70.00")


@pytest.mark.django_db(transaction=True)
def test_a_refund_from_account_credit_pays_out_the_balance_and_a_refusal_restores_it(
    monkeypatch,
):
    payment = card_payment("100.00")
    payer = payment.invoice.payer
    services.grant_account_credit(
        payer=payer, amount="30.00", currency="GBP", reason="Unused lessons", actor=SYSTEM
    )
    with pytest.raises(BusinessRuleError, match=r"only £30\.00"):
        refund(payment, "31.00", from_account=True)
    done = refund(payment, "20.00", from_account=True)
    assert done.status == "succeeded"
    assert Account.objects.get(payer=payer).balance == Decimal("10.00")
    use = AccountEntry.objects.get(refund=done)
    assert (use.kind, use.amount) == ("refunded", Decimal("-20.00"))

    def refuse(self, **kwargs):
        return RefundResult(False, "", kwargs["amount"], kwargs["currency"], "No")

    monkeypatch.setattr(SimulatedGateway, "refund", refuse)
    with pytest.raises(BusinessRuleError):
        refund(payment, "10.00", from_account=True)
    assert Account.objects.get(payer=payer).balance == Decimal("10.00")
    kinds = list(
        AccountEntry.objects.filter(account__payer=payer)
        .order_by("position")
        .values_list("kind", flat=True)
    )
    assert kinds == ["goodwill", "refunded", "refunded", "refund_failed"]


@pytest.mark.django_db(transaction=True)
def test_the_simulated_gateway_refunds_once_per_key_and_never_more_than_the_charge():
    payment = card_payment("50.00")
    gateway = SimulatedGateway()
    charge = payment.gateway_charge_id
    first = gateway.refund(
        charge_id=charge, amount=Decimal("30"), currency="GBP", idempotency_key="k1"
    )
    assert first.succeeded
    assert (
        gateway.refund(charge_id=charge, amount=Decimal("30"), currency="GBP", idempotency_key="k1")
        == first
    )
    over = gateway.refund(
        charge_id=charge, amount=Decimal("20.01"), currency="GBP", idempotency_key="k2"
    )
    assert not over.succeeded and "more than" in over.message
    assert gateway.retrieve_refund(idempotency_key="k2") == over
    assert gateway.retrieve_refund(idempotency_key="nope") is None
    with pytest.raises(GatewayError):
        gateway.refund(charge_id=charge, amount=Decimal("1"), currency="GBP", idempotency_key="k1")

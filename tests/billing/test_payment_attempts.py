"""Charging a card outside the database transaction (docs/quality.md Reliability 15):
the attempt is committed first, the processor is asked with the attempt's own
idempotency key and no transaction open, the outcome is recorded after, and the
reconciliation settles any attempt left pending: one charge, one payment.

These tests commit (transaction=True): a charge inside the test's own
transaction would be refused, as it must be."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from billing import services, tasks
from billing.gateway import CardDeclined, GatewayError, get_gateway
from billing.models import Payment, PaymentAttempt
from billing.services import payments
from clients.models import ClientEvent
from devkit.gateway import SimulatedGateway
from devkit.models import SimulatedGatewayCharge
from tests.support.billing import open_invoice, save_card

pytestmark = pytest.mark.django_db(transaction=True)

DECLINING = "4000000000009995"  # saved; every charge declined: insufficient funds


def charge(invoice, card, staff, key="page-1"):
    return services.charge_card(invoice=invoice, payment_method=card, request_key=key, actor=staff)


def committed_attempts() -> list[tuple[str, str]]:
    """The attempts another connection sees: only what is committed."""
    with connections["gateway"].cursor() as cursor:
        cursor.execute("SELECT status, idempotency_key FROM billing_paymentattempt ORDER BY id")
        return cursor.fetchall()


def later(minutes=6):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False)


def test_the_attempt_is_committed_before_the_processor_is_asked_with_no_transaction_open(
    staff, monkeypatch
):
    invoice = open_invoice(amount="60.00")
    card = save_card(invoice.payer)
    seen = {}
    real_charge = SimulatedGateway.charge

    def spy(self, **kwargs):
        seen["in_transaction"] = transaction.get_connection().in_atomic_block
        seen["committed"] = committed_attempts()
        seen["key"] = kwargs["idempotency_key"]
        return real_charge(self, **kwargs)

    monkeypatch.setattr(SimulatedGateway, "charge", spy)
    payment = charge(invoice, card, staff)

    assert seen["in_transaction"] is False
    assert seen["committed"] == [("pending", seen["key"])]
    attempt = PaymentAttempt.objects.get()
    assert attempt.idempotency_key == seen["key"] != "page-1"  # its own key, not the page's
    assert (attempt.status, attempt.payment, attempt.amount) == (
        "succeeded",
        payment,
        Decimal("60.00"),
    )
    assert payment.idempotency_key == attempt.idempotency_key
    assert attempt.settled_at is not None and attempt.actor == staff
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_charging_inside_a_transaction_is_refused_before_anything_happens(staff):
    invoice = open_invoice(amount="60.00")
    card = save_card(invoice.payer)
    with pytest.raises(RuntimeError, match="no database transaction open"), transaction.atomic():
        charge(invoice, card, staff)
    assert not PaymentAttempt.objects.exists()
    assert not SimulatedGatewayCharge.objects.exists()


def test_the_simulated_ledger_survives_the_callers_rollback():
    """The processor's ledger does not share the app's transaction: a charge made
    in a transaction that then rolls back stays made, as at a real processor."""
    token = save_card(open_invoice().payer).token

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        get_gateway().charge(
            token=token, amount=Decimal("10"), currency="GBP", idempotency_key="survives"
        )
        raise Boom
    assert SimulatedGatewayCharge.objects.filter(idempotency_key="survives").exists()


def test_a_decline_is_recorded_and_the_next_try_is_a_new_attempt_with_a_new_key(staff):
    invoice = open_invoice(amount="30")
    card = save_card(invoice.payer, number=DECLINING)
    with pytest.raises(CardDeclined, match="insufficient funds"):
        charge(invoice, card, staff, key="page-1")
    first = PaymentAttempt.objects.get()
    assert (first.status, first.decline_code) == ("declined", "insufficient_funds")
    assert ClientEvent.objects.filter(
        client=invoice.payer,
        summary=f"Visa ending 9995 declined (insufficient funds) on {invoice.display_number}",
    ).exists()

    # the same page submitted again: the same attempt, the processor not asked again
    with pytest.raises(CardDeclined):
        charge(invoice, card, staff, key="page-1")
    assert PaymentAttempt.objects.count() == 1 and SimulatedGatewayCharge.objects.count() == 1

    # a new try (the page drawn again): a new attempt, and a new key for the processor
    with pytest.raises(CardDeclined):
        charge(invoice, card, staff, key="page-2")
    second = PaymentAttempt.objects.exclude(pk=first.pk).get()
    assert second.idempotency_key != first.idempotency_key
    assert SimulatedGatewayCharge.objects.count() == 2
    invoice.refresh_from_db()
    assert invoice.status == "open" and not Payment.objects.exists()


def test_no_answer_leaves_the_attempt_pending_and_a_retry_reuses_its_key(staff, monkeypatch):
    invoice = open_invoice(amount="45")
    card = save_card(invoice.payer)
    keys = []
    real_charge = SimulatedGateway.charge

    def timeout_once(self, **kwargs):
        keys.append(kwargs["idempotency_key"])
        if len(keys) == 1:
            raise GatewayError("read timed out")
        return real_charge(self, **kwargs)

    monkeypatch.setattr(SimulatedGateway, "charge", timeout_once)
    with pytest.raises(services.ChargePending, match="did not answer"):
        charge(invoice, card, staff, key="page-1")
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "pending" and not Payment.objects.exists()

    # another click, even from a page drawn again, retries the pending attempt
    payment = charge(invoice, card, staff, key="page-2")
    assert keys == [attempt.idempotency_key, attempt.idempotency_key]
    assert PaymentAttempt.objects.get().payment == payment
    assert SimulatedGatewayCharge.objects.count() == Payment.objects.count() == 1


def test_a_process_killed_between_the_charge_and_the_commit_is_settled_by_the_reconciliation(
    staff, monkeypatch
):
    """One charge, one payment."""
    invoice = open_invoice(amount="60.00")
    card = save_card(invoice.payer)

    def killed(*args, **kwargs):
        raise SystemExit("the worker was killed after the processor charged")

    monkeypatch.setattr(payments, "_record_outcome", killed)
    with pytest.raises(SystemExit):
        charge(invoice, card, staff)
    monkeypatch.undo()

    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "pending"
    assert SimulatedGatewayCharge.objects.get().succeeded  # the card was charged
    assert not Payment.objects.exists()

    assert services.reconcile_payment_attempts() == 0  # too young: it may still be answering
    with later():
        assert services.reconcile_payment_attempts() == 1
        assert services.reconcile_payment_attempts() == 0  # twice changes nothing

    attempt.refresh_from_db()
    payment = Payment.objects.get()
    assert (attempt.status, attempt.payment) == ("succeeded", payment)
    assert payment.gateway_charge_id == SimulatedGatewayCharge.objects.get().charge_id
    assert payment.amount == Decimal("60.00") and payment.recorded_by == staff
    assert SimulatedGatewayCharge.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert ClientEvent.objects.filter(
        client=invoice.payer, summary__endswith="(settled by the reconciliation)"
    ).exists()


def test_the_reconciliation_fails_an_attempt_the_processor_never_received(staff, monkeypatch):
    invoice = open_invoice(amount="20")
    card = save_card(invoice.payer)

    def unreachable(self, **kwargs):
        raise GatewayError("connection refused")

    monkeypatch.setattr(SimulatedGateway, "charge", unreachable)
    with pytest.raises(services.ChargePending):
        charge(invoice, card, staff)
    monkeypatch.undo()
    with later():
        assert services.reconcile_payment_attempts() == 1
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "failed" and attempt.payment is None
    assert not SimulatedGatewayCharge.objects.exists() and not Payment.objects.exists()
    assert ClientEvent.objects.filter(summary__contains="nothing charged").exists()
    # the invoice is still open and can be charged again: a new attempt
    payment = charge(invoice, card, staff, key="page-2")
    assert payment.attempt.idempotency_key != attempt.idempotency_key


def test_the_reconciliation_records_a_decline_the_processor_kept(staff, monkeypatch):
    invoice = open_invoice(amount="20")
    card = save_card(invoice.payer, number=DECLINING)
    monkeypatch.setattr(payments, "_record_outcome", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        charge(invoice, card, staff)
    monkeypatch.undo()
    with later():
        tasks.reconcile_payment_attempts()
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.decline_code) == ("declined", "insufficient_funds")
    assert SimulatedGatewayCharge.objects.count() == 1 and not Payment.objects.exists()


def test_one_pending_attempt_per_invoice_and_one_payment_per_attempt_in_the_database(staff):
    invoice = open_invoice(amount="20")
    card = save_card(invoice.payer)
    fields = {"invoice": invoice, "payment_method": card, "amount": Decimal(20)}
    PaymentAttempt.objects.create(idempotency_key="a", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentAttempt.objects.create(idempotency_key="b", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentAttempt.objects.create(
            idempotency_key="c", status="succeeded", settled_at=timezone.now(), **fields
        )  # succeeded without its payment


def test_the_worker_reconciles_every_few_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-payment-attempts"]
    assert entry["task"] == "billing.tasks.reconcile_payment_attempts"
    assert entry["schedule"] <= services.RECONCILE_AFTER.total_seconds()

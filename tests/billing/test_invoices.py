"""Invoice services on PostgreSQL: lines, issuing, numbering, payments, void, close."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from billing import services
from billing.models import Invoice, InvoiceLine, InvoiceSequence, Payment
from clients.models import ClientEvent
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from scheduling.models import Service, SessionDate
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db


def draft(amount="100.00", quantity=1, payer=None):
    invoice = services.create_draft(actor=SYSTEM, payer=payer or ClientFactory())
    services.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Lessons",
        unit_price=Decimal(amount),
        quantity=quantity,
    )
    return invoice


# --- lines -------------------------------------------------------------------------------------


def test_charges_discounts_and_credits_are_distinct_lines_and_make_the_total():
    invoice = draft("30.00", quantity=4)
    services.add_discount(
        actor=SYSTEM, invoice=invoice, percent=Decimal(10), reason="Sibling discount"
    )
    services.add_discount(actor=SYSTEM, invoice=invoice, amount=Decimal("5"), reason="Loyalty")
    services.add_credit(
        actor=SYSTEM, invoice=invoice, amount=Decimal("20.5"), reason="Unused lessons"
    )
    kinds = list(invoice.lines.values_list("kind", "amount", "reason"))
    assert kinds == [
        ("charge", Decimal("120.000"), ""),
        ("discount", Decimal("12.000"), "Sibling discount"),
        ("discount", Decimal("5.000"), "Loyalty"),
        ("credit", Decimal("20.500"), "Unused lessons"),
    ]
    invoice.refresh_from_db()
    assert invoice.total == Decimal("82.50")  # 120 - 12 - 5 - 20.50, kept current on the draft
    issued = services.issue_invoice(actor=SYSTEM, invoice=invoice)
    assert issued.total == Decimal("82.50")


def test_a_percentage_line_records_its_percentage():
    invoice = draft("45.00")
    line = services.add_discount(
        actor=SYSTEM, invoice=invoice, percent="12.5", reason="Staff family"
    )
    assert line.percent == Decimal("12.5")
    assert line.amount == Decimal("5.63")  # 5.625 rounded half up, once
    assert line.description == "Discount 12.5%"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": Decimal("5")}, "reason"),
        ({"amount": Decimal("5"), "percent": Decimal(5), "reason": "x"}, "either"),
        ({"reason": "x"}, "either"),
        ({"amount": Decimal("0"), "reason": "x"}, "more than zero"),
        ({"amount": Decimal("-3"), "reason": "x"}, "more than zero"),
        ({"percent": Decimal("0"), "reason": "x"}, "more than 0"),
        ({"percent": Decimal("100.5"), "reason": "x"}, "at most 100"),
        ({"percent": Decimal("10.555"), "reason": "x"}, "two decimal places"),
        ({"amount": "abc", "reason": "x"}, "as a number"),
        ({"amount": Decimal("100.01"), "reason": "x"}, "larger than what is left"),
    ],
)
def test_a_discount_is_refused_with_a_reason_a_user_can_read(kwargs, message):
    invoice = draft("100.00")
    kwargs.setdefault("reason", "")
    with pytest.raises(BusinessRuleError, match=message):
        services.add_discount(invoice=invoice, actor=SYSTEM, **kwargs)
    assert invoice.lines.count() == 1


def test_a_credit_never_takes_the_total_below_zero():
    invoice = draft("50.00")
    services.add_discount(actor=SYSTEM, invoice=invoice, amount=Decimal("20"), reason="Promo")
    with pytest.raises(BusinessRuleError, match=r"larger than what is left to pay \(£30.00\)"):
        services.add_credit(actor=SYSTEM, invoice=invoice, amount=Decimal("30.01"), reason="Unused")
    services.add_credit(actor=SYSTEM, invoice=invoice, amount=Decimal("30"), reason="Unused")
    invoice.refresh_from_db()
    assert invoice.total == Decimal(0)
    assert services.issue_invoice(actor=SYSTEM, invoice=invoice).status == Invoice.Status.PAID


def test_money_is_never_a_float():
    invoice = draft()
    with pytest.raises(TypeError):
        services.add_credit(actor=SYSTEM, invoice=invoice, amount=1.5, reason="x")


def test_a_charge_rounds_once_to_the_currency():
    invoice = services.create_draft(actor=SYSTEM, payer=ClientFactory(), currency="JPY")
    line = services.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Lesson",
        unit_price=Decimal("1000.4"),
        quantity="2.5",
    )
    assert line.unit_price == Decimal(1000)
    assert line.amount == Decimal(2500)


def test_a_draft_goes_to_the_payer_of_the_relationship():
    relationship = RelationshipFactory(payer=ClientFactory(), attendee=ClientFactory())
    with pytest.raises(BusinessRuleError, match="payer of the relationship"):
        services.create_draft(actor=SYSTEM, payer=relationship.attendee, relationship=relationship)
    assert services.create_draft(
        actor=SYSTEM, payer=relationship.payer, relationship=relationship
    ).pk


# --- build_subscription_invoice --------------------------------------------------------------


def test_a_per_session_subscription_bills_the_sessions_left_in_its_first_month(staff):
    # Mondays of March 2027: 1, 8, 15, 22, 29; starting on the 8th, the 22nd a holiday
    session = SessionFactory(weekday=0, first_date=date(2027, 3, 1))
    SessionDate.objects.create(
        session=session,
        date=date(2027, 3, 22),
        starts_at=timezone.make_aware(timezone.datetime(2027, 3, 22, 10)),
        ends_at=timezone.make_aware(timezone.datetime(2027, 3, 22, 10, 30)),
        cancelled=True,
        cancel_reason="Holiday",
    )
    relationship = RelationshipFactory(payer=ClientFactory(), attendee=ClientFactory())
    subscription = SubscriptionFactory(
        relationship=relationship,
        session=session,
        first_date=date(2027, 3, 8),
        price=Decimal("32.50"),
    )
    invoice = services.build_subscription_invoice(subscription=subscription, actor=staff)
    assert invoice.status == Invoice.Status.DRAFT
    assert invoice.payer == relationship.payer
    assert invoice.relationship == relationship
    line = invoice.lines.get()
    assert (line.kind, line.quantity, line.unit_price) == ("charge", 3, Decimal("32.50"))
    assert line.amount == Decimal("97.50")
    assert line.subscription == subscription
    assert "3 sessions, 8 Mar to 29 Mar 2027" in line.description
    assert invoice.total == Decimal("97.50")


def test_an_end_date_inside_the_first_month_shortens_it(staff):
    session = SessionFactory(weekday=0, first_date=date(2027, 3, 1))
    subscription = SubscriptionFactory(
        session=session, first_date=date(2027, 3, 1), end_date=date(2027, 3, 15)
    )
    invoice = services.build_subscription_invoice(subscription=subscription, actor=staff)
    assert invoice.lines.get().quantity == 2  # the 1st and the 8th; the 15th is not attended


def test_a_monthly_subscription_bills_one_month(staff):
    service = ServiceFactory(
        billing_basis=Service.BillingBasis.MONTHLY, sessions_per_month=4, price=Decimal("110")
    )
    subscription = SubscriptionFactory(session__service=service, price=Decimal("110"))
    invoice = services.build_subscription_invoice(subscription=subscription, actor=staff)
    line = invoice.lines.get()
    assert (line.quantity, line.amount) == (1, Decimal("110"))
    assert "one month" in line.description
    assert "4 sessions a month" in line.description


def test_a_practitioner_cannot_build_or_issue_invoices(therapist):
    subscription = SubscriptionFactory(session__practitioner=therapist)
    with pytest.raises(PermissionDenied):
        services.build_subscription_invoice(subscription=subscription, actor=therapist)
    invoice = draft()
    with pytest.raises(PermissionDenied):
        services.issue_invoice(invoice=invoice, actor=therapist)
    assert Invoice.objects.filter(status="draft").count() == 1


# --- issuing, and the frozen invoice ----------------------------------------------------------


def test_issuing_numbers_fixes_the_total_and_writes_history(staff):
    invoice = draft("60")
    due = timezone.localdate() + timedelta(days=10)
    issued = services.issue_invoice(invoice=invoice, due_on=due, actor=staff)
    assert (issued.status, issued.number, issued.due_on) == ("open", 1, due)
    assert issued.issued_on == timezone.localdate()
    assert issued.display_number == "INV-000001"
    event = ClientEvent.objects.get(client=invoice.payer, kind="invoice")
    assert "INV-000001 issued: £60.00" in event.summary
    assert event.actor == staff


def test_an_invoice_without_charges_or_with_a_due_date_before_issue_is_refused():
    empty = services.create_draft(actor=SYSTEM, payer=ClientFactory())
    with pytest.raises(BusinessRuleError, match="Add what is billed"):
        services.issue_invoice(actor=SYSTEM, invoice=empty)
    invoice = draft()
    with pytest.raises(BusinessRuleError, match="due date is before"):
        services.issue_invoice(
            actor=SYSTEM, invoice=invoice, due_on=timezone.localdate() - timedelta(days=1)
        )
    assert not Invoice.objects.exclude(number=None).exists()
    assert InvoiceSequence.objects.filter(last_number__gt=0).count() == 0


def test_an_issued_invoice_refuses_new_lines_in_the_service():
    invoice = open_invoice()
    for call in (
        lambda: services.add_charge(
            actor=SYSTEM, invoice=invoice, description="More", unit_price=1
        ),
        lambda: services.add_discount(actor=SYSTEM, invoice=invoice, amount=1, reason="x"),
        lambda: services.add_credit(actor=SYSTEM, invoice=invoice, amount=1, reason="x"),
        lambda: services.issue_invoice(actor=SYSTEM, invoice=invoice),
    ):
        with pytest.raises(BusinessRuleError, match="issued and cannot be changed"):
            call()
    assert invoice.lines.count() == 1


def test_the_database_refuses_to_insert_update_or_delete_lines_of_an_issued_invoice():
    invoice = open_invoice()
    line = invoice.lines.get()
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice, kind="charge", description="Sneaky", amount=Decimal(5)
        )
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(amount=Decimal(1))
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).delete()
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        InvoiceLine.objects.filter(pk=line.pk).update(
            invoice=services.create_draft(actor=SYSTEM, payer=invoice.payer)
        )
    with pytest.raises(IntegrityError, match="invoice_line_frozen"), transaction.atomic():
        draft_line = draft().lines.get()
        InvoiceLine.objects.filter(pk=draft_line.pk).update(invoice=invoice)
    assert InvoiceLine.objects.get(pk=line.pk).amount == Decimal("100.000")


def test_the_database_refuses_raw_sql_edits_too():
    invoice = open_invoice()
    with (
        pytest.raises(IntegrityError, match="invoice_line_frozen"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO billing_invoiceline (invoice_id, kind, description, quantity, "
            "unit_price, amount, reason, position) "
            "VALUES (%s, 'charge', 'raw', 1, 9, 9, '', 5)",
            [invoice.pk],
        )


@pytest.mark.parametrize(
    "change",
    [
        {"total": Decimal("1")},
        {"number": 99},
        {"currency": "EUR"},
        {"issued_on": date(2020, 1, 1)},
        {"status": "draft", "number": None, "issued_on": None},
    ],
)
def test_the_database_refuses_edits_of_an_issued_invoice(change):
    invoice = open_invoice()
    with pytest.raises(IntegrityError, match="invoice_frozen"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_a_numbered_invoice_is_never_deleted_and_final_states_stay_final():
    invoice = open_invoice()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).delete()
    services.void_invoice(actor=SYSTEM, invoice=invoice, reason="Wrong payer")
    with pytest.raises(IntegrityError, match="invoice_frozen"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status="open")
    assert Invoice.objects.get(pk=invoice.pk).status == "void"
    a_draft = draft()
    Invoice.objects.filter(pk=a_draft.pk).delete()  # a draft can go, lines and all
    assert not Invoice.objects.filter(pk=a_draft.pk).exists()


def test_payments_are_append_only_and_only_on_open_invoices():
    invoice = open_invoice()
    payment = services.record_payment(
        actor=SYSTEM, invoice=invoice, amount=Decimal(10), method="cash"
    )
    with pytest.raises(IntegrityError, match="payment_frozen"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(amount=Decimal(100))
    with pytest.raises(IntegrityError, match="payment_frozen"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).delete()
    a_draft = draft()
    with pytest.raises(IntegrityError, match="payment_on_open_invoice"), transaction.atomic():
        Payment.objects.create(
            invoice=a_draft, amount=Decimal(5), method="cash", received_at=timezone.now()
        )
    Payment.objects.filter(pk=payment.pk).update(reference="Receipt 12")  # notes may change


# --- gapless numbering under concurrency ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuing_numbers_without_gaps_or_duplicates():
    drafts = [draft(str(10 + i)) for i in range(24)]
    barrier = threading.Barrier(8)
    errors = []

    def issue(chunk, fail_one):
        try:
            barrier.wait()
            for n, invoice in enumerate(chunk):
                if fail_one and n == 0:
                    # takes a number, then rolls back: the number must come back
                    try:
                        with transaction.atomic():
                            services.issue_invoice(actor=SYSTEM, invoice=invoice)
                            raise RuntimeError("crash after numbering")
                    except RuntimeError:
                        pass
                services.issue_invoice(actor=SYSTEM, invoice=invoice)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=issue, args=(drafts[i::8], i % 2 == 0)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 25))
    assert InvoiceSequence.objects.get(name="invoice").last_number == 24


# --- payments, void, close --------------------------------------------------------------------


def test_partial_payments_leave_a_balance_until_the_last_one(staff):
    invoice = open_invoice(amount="100.00")
    services.record_payment(
        invoice=invoice, amount="40", method="cash", reference="R1", actor=staff
    )
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert services.balance_due(invoice) == Decimal("60.00")
    with pytest.raises(BusinessRuleError, match=r"more than the balance \(£60.00\)"):
        services.record_payment(invoice=invoice, amount="60.01", method="cash", actor=staff)
    services.record_payment(invoice=invoice, amount="60", method="bank_transfer", actor=staff)
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert services.balance_due(invoice) == 0
    assert Payment.objects.filter(invoice=invoice).count() == 2
    assert ClientEvent.objects.filter(client=invoice.payer, kind="payment").count() == 2
    with pytest.raises(BusinessRuleError, match="paid: payments are recorded only on an open"):
        services.record_payment(invoice=invoice, amount="1", method="cash", actor=staff)


@pytest.mark.parametrize(
    ("amount", "method", "message"),
    [
        ("0", "cash", "more than zero"),
        ("-5", "cash", "more than zero"),
        ("10", "card", "Charge card on file"),
        ("10", "cheque", "Choose how"),
        ("1e30", "cash", "too large"),
    ],
)
def test_a_bad_manual_payment_is_refused_and_changes_nothing(staff, amount, method, message):
    invoice = open_invoice()
    with pytest.raises(BusinessRuleError, match=message):
        services.record_payment(invoice=invoice, amount=amount, method=method, actor=staff)
    assert not Payment.objects.exists()


def test_a_practitioner_cannot_record_payments_void_or_close(therapist):
    invoice = open_invoice()
    for call in (
        lambda: services.record_payment(invoice=invoice, amount=1, method="cash", actor=therapist),
        lambda: services.void_invoice(invoice=invoice, reason="x", actor=therapist),
        lambda: services.close_invoice(invoice=invoice, reason="x", actor=therapist),
    ):
        with pytest.raises(PermissionDenied):
            call()
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not Payment.objects.exists()


def test_void_needs_a_reason_an_open_invoice_and_no_payments(staff):
    invoice = open_invoice()
    with pytest.raises(BusinessRuleError, match="reason"):
        services.void_invoice(invoice=invoice, reason="  ", actor=staff)
    services.record_payment(invoice=invoice, amount=5, method="cash", actor=staff)
    with pytest.raises(BusinessRuleError, match="Payments are recorded"):
        services.void_invoice(invoice=invoice, reason="Mistake", actor=staff)
    other = open_invoice()
    voided = services.void_invoice(invoice=other, reason="Wrong payer", actor=staff)
    assert (voided.status, voided.void_reason, voided.number) == ("void", "Wrong payer", 2)
    with pytest.raises(BusinessRuleError, match="void: voiding is possible only on an open"):
        services.void_invoice(invoice=other, reason="Again", actor=staff)
    with pytest.raises(BusinessRuleError, match="only a draft or an open invoice can be closed"):
        services.close_invoice(invoice=other, reason="x", actor=staff)
    a_draft = draft()
    with pytest.raises(BusinessRuleError, match="draft: voiding is possible only"):
        services.void_invoice(invoice=a_draft, reason="x", actor=staff)


def test_closing_an_open_invoice_keeps_what_was_paid(staff):
    invoice = open_invoice(amount="80")
    services.record_payment(invoice=invoice, amount=30, method="cash", actor=staff)
    closed = services.close_invoice(invoice=invoice, reason="Rest waived", actor=staff)
    assert (closed.status, closed.close_reason, closed.total) == ("closed", "Rest waived", 80)
    assert services.balance_due(closed) == 0
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert ClientEvent.objects.filter(kind="invoice", summary__contains="closed").exists()


def test_closing_a_draft_numbers_it(staff):
    a_draft = draft("45")
    services.add_discount(actor=SYSTEM, invoice=a_draft, percent=100, reason="First lesson free")
    closed = services.close_invoice(invoice=a_draft, reason="Enrolled and closed", actor=staff)
    assert (closed.status, closed.number, closed.total) == ("closed", 1, 0)
    assert closed.issued_on == timezone.localdate()

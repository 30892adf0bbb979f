"""Every rule the database holds, broken on purpose with a direct insert."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, Payment, PaymentCardRequest, PaymentMethod
from clients.models import Client
from frontdesk.models import Transfer
from relationships.models import Relationship, RelationshipMigration
from scheduling.models import Booking, Service, Session, SessionDate, Subscription
from tests.factories import (
    ClientFactory,
    InvoiceFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def breaks(constraint: str):
    """Assert the block raises IntegrityError naming ``constraint``."""
    return pytest.raises(IntegrityError, match=constraint)


def test_subscriptions_of_a_client_to_a_session_cannot_overlap():
    first = SubscriptionFactory()
    with breaks("subscription_no_overlap"), transaction.atomic():
        Subscription.objects.create(
            client=first.client,
            session=first.session,
            relationship=first.relationship,
            first_date=first.first_date + timedelta(weeks=3),
            price=Decimal(10),
        )


def test_an_ended_subscription_and_a_later_one_overlapping_its_last_day_are_refused():
    first = SubscriptionFactory()
    end = first.first_date + timedelta(weeks=2)
    Subscription.objects.filter(pk=first.pk).update(end_date=end)
    with breaks("subscription_no_overlap"), transaction.atomic():
        Subscription.objects.create(
            client=first.client,
            session=first.session,
            relationship=first.relationship,
            first_date=end - timedelta(days=1),
            price=Decimal(10),
        )


def test_adjacent_subscriptions_are_fine():
    first = SubscriptionFactory()
    end = first.first_date + timedelta(weeks=2)
    Subscription.objects.filter(pk=first.pk).update(end_date=end)
    second = Subscription.objects.create(
        client=first.client,
        session=first.session,
        relationship=first.relationship,
        first_date=end,
        price=Decimal(10),
    )
    assert second.pk


def test_the_same_period_in_another_session_or_for_another_client_is_fine():
    first = SubscriptionFactory()
    SubscriptionFactory(relationship=first.relationship, first_date=first.first_date)
    SubscriptionFactory(session=first.session, first_date=first.first_date)
    assert Subscription.objects.count() == 3


def test_subscription_cannot_end_before_it_starts():
    sub = SubscriptionFactory()
    with breaks("subscription_end_not_before_start"), transaction.atomic():
        Subscription.objects.filter(pk=sub.pk).update(end_date=sub.first_date - timedelta(days=1))


def test_subscription_price_cannot_be_negative():
    sub = SubscriptionFactory()
    with breaks("subscription_price_not_negative"), transaction.atomic():
        Subscription.objects.filter(pk=sub.pk).update(price=Decimal("-1"))


def test_subscription_client_must_be_the_relationships_attendee():
    sub = SubscriptionFactory()
    stranger = ClientFactory()
    with breaks("subscription_client_is_attendee"), transaction.atomic():
        Subscription.objects.create(
            client=stranger,
            session=SessionFactory(),
            relationship=sub.relationship,
            first_date=sub.first_date,
            price=Decimal(10),
        )


def test_booking_client_must_be_the_relationships_attendee():
    relationship = RelationshipFactory()
    with breaks("booking_client_is_attendee"), transaction.atomic():
        Booking.objects.create(
            client=ClientFactory(),
            session_date=SessionDateFactory(),
            relationship=relationship,
            price=Decimal(10),
        )


def test_one_active_booking_per_client_and_date():
    relationship = RelationshipFactory()
    session_date = SessionDateFactory()
    Booking.objects.create(
        client=relationship.attendee,
        session_date=session_date,
        relationship=relationship,
        price=Decimal(10),
    )
    with breaks("booking_one_active_per_date"), transaction.atomic():
        Booking.objects.create(
            client=relationship.attendee,
            session_date=session_date,
            relationship=relationship,
            price=Decimal(10),
        )


def test_a_cancelled_booking_has_a_time():
    relationship = RelationshipFactory()
    with breaks("booking_cancelled_has_time"), transaction.atomic():
        Booking.objects.create(
            client=relationship.attendee,
            session_date=SessionDateFactory(),
            relationship=relationship,
            price=Decimal(10),
            status="cancelled",
        )


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("capacity", 0, "session_capacity_positive"),
        ("duration_minutes", 0, "session_duration_positive"),
        ("weekday", 7, "session_weekday_valid"),
    ],
)
def test_session_checks(field, value, constraint):
    session = SessionFactory()
    with breaks(constraint), transaction.atomic():
        Session.objects.filter(pk=session.pk).update(**{field: value})


def test_session_last_date_after_first():
    session = SessionFactory()
    with breaks("session_last_date_after_first"), transaction.atomic():
        Session.objects.filter(pk=session.pk).update(
            last_date=session.first_date - timedelta(days=7)
        )


def test_session_dates_are_unique_per_session_and_day():
    session_date = SessionDateFactory()
    with breaks("session_date_unique"), transaction.atomic():
        SessionDate.objects.create(
            session=session_date.session,
            date=session_date.date,
            starts_at=session_date.starts_at,
            ends_at=session_date.ends_at,
        )


def test_session_date_ends_after_it_starts_and_a_cancellation_has_a_reason():
    session_date = SessionDateFactory()
    with breaks("session_date_ends_after_start"), transaction.atomic():
        SessionDate.objects.filter(pk=session_date.pk).update(ends_at=session_date.starts_at)
    with breaks("session_date_cancel_has_reason"), transaction.atomic():
        SessionDate.objects.filter(pk=session_date.pk).update(cancelled=True)


def test_service_price_and_monthly_basis():
    service = ServiceFactory()
    with breaks("service_price_not_negative"), transaction.atomic():
        Service.objects.filter(pk=service.pk).update(price=Decimal("-0.01"))
    with breaks("service_monthly_has_sessions_per_month"), transaction.atomic():
        Service.objects.filter(pk=service.pk).update(billing_basis="monthly")


def test_first_party_means_the_payer_is_the_attendee():
    payer, attendee = ClientFactory(), ClientFactory()
    with breaks("relationship_first_party_iff_self_paying"), transaction.atomic():
        Relationship.objects.create(
            kind="first_party", payer=payer, attendee=attendee, started_on=timezone.localdate()
        )
    with breaks("relationship_first_party_iff_self_paying"), transaction.atomic():
        Relationship.objects.create(
            kind="third_party", payer=payer, attendee=payer, started_on=timezone.localdate()
        )


def test_an_ended_relationship_has_an_end_date():
    relationship = RelationshipFactory()
    with breaks("relationship_ended_has_end_date"), transaction.atomic():
        Relationship.objects.filter(pk=relationship.pk).update(status="ended")
    with breaks("relationship_ends_after_start"), transaction.atomic():
        Relationship.objects.filter(pk=relationship.pk).update(
            status="ended", ended_on=relationship.started_on - timedelta(days=1)
        )


def test_one_active_relationship_per_payer_attendee_and_practitioner_even_without_practitioner():
    relationship = RelationshipFactory()
    with breaks("relationship_one_active_per_parties"), transaction.atomic():
        Relationship.objects.create(
            kind="first_party",
            payer=relationship.payer,
            attendee=relationship.attendee,
            started_on=timezone.localdate(),
        )


def test_a_confirmed_migration_names_the_new_relationship_and_who_confirmed():
    old = RelationshipFactory(payer=ClientFactory(), attendee=ClientFactory())
    with breaks("migration_confirmed_is_complete"), transaction.atomic():
        RelationshipMigration.objects.create(
            old_relationship=old, status="completed", started_by=UserFactory()
        )


def test_invoice_numbers_are_unique():
    Invoice.objects.create(
        payer=ClientFactory(), number=1, status="paid", issued_on=timezone.localdate()
    )
    with breaks("number"), transaction.atomic():
        Invoice.objects.create(
            payer=ClientFactory(), number=1, status="paid", issued_on=timezone.localdate()
        )


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"total": Decimal("-0.01")}, "invoice_total_not_negative"),
        ({"status": "open", "due_on": timezone.localdate()}, "invoice_issued_has_number"),
        ({"number": 7}, "invoice_issued_has_number"),
        (
            {"status": "open", "number": 8, "issued_on": timezone.localdate()},
            "invoice_open_has_due_date",
        ),
        (
            {"status": "void", "number": 9, "issued_on": timezone.localdate()},
            "invoice_void_has_reason",
        ),
        (
            {"status": "closed", "number": 10, "issued_on": timezone.localdate()},
            "invoice_closed_has_reason",
        ),
        (
            {"status": "paid", "number": 0, "issued_on": timezone.localdate()},
            "invoice_number_positive",
        ),
    ],
)
def test_invoice_checks(values, constraint):
    invoice = InvoiceFactory()
    with breaks(constraint), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**values)


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"kind": "charge", "amount": Decimal("-1")}, "line_amount_not_negative"),
        (
            {"kind": "charge", "amount": 1, "unit_price": Decimal("-1")},
            "line_unit_price_not_negative",
        ),
        ({"kind": "charge", "amount": 1, "quantity": 0}, "line_quantity_positive"),
        ({"kind": "discount", "amount": 1}, "line_adjustment_has_reason"),
        ({"kind": "credit", "amount": 1}, "line_adjustment_has_reason"),
        ({"kind": "charge", "amount": 1, "percent": 10}, "line_percent_only_on_discount"),
        (
            {"kind": "discount", "amount": 1, "reason": "x", "percent": 101},
            "line_percent_only_on_discount",
        ),
    ],
)
def test_invoice_line_checks(values, constraint):
    invoice = InvoiceFactory()
    with breaks(constraint), transaction.atomic():
        InvoiceLine.objects.create(invoice=invoice, description="Line", **values)


def test_payments_are_positive_and_card_payments_name_their_charge():
    invoice = InvoiceFactory()
    now = timezone.now()
    with breaks("payment_amount_positive"), transaction.atomic():
        Payment.objects.create(invoice=invoice, amount=Decimal(0), method="cash", received_at=now)
    with breaks("payment_card_has_charge"), transaction.atomic():
        Payment.objects.create(invoice=invoice, amount=Decimal(5), method="card", received_at=now)


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"last4": "42a2"}, "payment_method_last4_is_four_digits"),
        ({"last4": "4242424242424242"[:4] + "1"}, "value too long|last4"),
        ({"exp_month": 13}, "payment_method_exp_month_valid"),
        ({"exp_year": 1999}, "payment_method_exp_year_valid"),
    ],
)
def test_a_card_on_file_holds_only_what_may_be_shown(values, constraint):
    card = PaymentMethodFactory()
    with pytest.raises(Exception, match=constraint), transaction.atomic():
        PaymentMethod.objects.filter(pk=card.pk).update(**values)


def test_a_client_has_one_live_card_request():
    client = ClientFactory()
    expires = timezone.now() + timedelta(days=7)
    PaymentCardRequest.objects.create(
        client=client, reason="r", nonce="a", token_hash="a", expires_at=expires
    )
    with breaks("card_request_one_live_per_client"), transaction.atomic():
        PaymentCardRequest.objects.create(
            client=client, reason="r", nonce="b", token_hash="b", expires_at=expires
        )


def test_a_used_card_request_names_the_card():
    with breaks("card_request_used_has_card"), transaction.atomic():
        PaymentCardRequest.objects.create(
            client=ClientFactory(),
            reason="r",
            nonce="c",
            token_hash="c",
            used_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=7),
        )


def test_a_transfer_is_between_two_subscriptions():
    sub = SubscriptionFactory()
    with breaks("transfer_not_to_itself"), transaction.atomic():
        Transfer.objects.create(
            from_subscription=sub,
            to_subscription=sub,
            transfer_date=timezone.localdate(),
            actor=UserFactory(),
        )


def test_a_client_has_a_name():
    with breaks("client_has_name"), transaction.atomic():
        Client.objects.create(first_name="", last_name="Nobody")

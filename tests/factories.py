from datetime import date, datetime, time, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from billing import services as billing
from billing.models import Invoice, PaymentMethod
from clients.models import Client
from opus.lib.actors import SYSTEM
from opus.models import User
from relationships.models import Relationship
from scheduling.models import Booking, Room, Service, Session, SessionDate, Subscription

PASSWORD = "a-long-test-password-123"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = User.Role.PRACTITIONER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.LazyAttribute(lambda c: f"{c.first_name}.{c.last_name}@example.com".lower())
    phone = "07700 900123"
    date_of_birth = date(1990, 1, 1)
    address = "1 Test Street\nBristol"


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    name = factory.Sequence(lambda n: f"Room {n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n}")
    price = Decimal("30.00")


def next_weekday(weekday: int, start: date | None = None) -> date:
    start = start or timezone.localdate()
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def next_weekday_after(today, weekday):
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    service = factory.SubFactory(ServiceFactory)
    practitioner = factory.SubFactory(UserFactory)
    room = factory.SubFactory(RoomFactory)
    weekday = 0
    start_time = time(10, 0)
    duration_minutes = 30
    capacity = 2
    first_date = factory.LazyAttribute(
        lambda s: next_weekday(s.weekday, timezone.localdate() - timedelta(weeks=4))
    )


class SessionDateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionDate

    session = factory.SubFactory(SessionFactory)
    date = factory.LazyAttribute(lambda d: next_weekday(d.session.weekday))
    starts_at = factory.LazyAttribute(
        lambda d: datetime.combine(
            d.date, d.session.start_time, tzinfo=timezone.get_current_timezone()
        )
    )
    ends_at = factory.LazyAttribute(lambda d: d.starts_at + timedelta(minutes=30))


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relationship

    payer = factory.SubFactory(ClientFactory)
    attendee = factory.LazyAttribute(lambda r: r.payer)
    kind = factory.LazyAttribute(
        lambda r: (
            Relationship.Kind.FIRST_PARTY
            if r.payer == r.attendee
            else Relationship.Kind.THIRD_PARTY
        )
    )
    started_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(weeks=8))


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    relationship = factory.SubFactory(RelationshipFactory)
    client = factory.LazyAttribute(lambda s: s.relationship.attendee)
    session = factory.SubFactory(SessionFactory)
    first_date = factory.LazyAttribute(lambda s: s.session.first_date)
    price = Decimal("30.00")


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    payer = factory.SubFactory(ClientFactory)


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    client = factory.SubFactory(ClientFactory)
    gateway = "simulated"
    token = factory.Sequence(lambda n: f"sim_tok_test{n:08d}")
    brand = "visa"
    last4 = "4242"
    exp_month = 12
    exp_year = 2030


class BookingFactory(factory.django.DjangoModelFactory):
    """A one-off booking; the client is the relationship's attendee."""

    class Meta:
        model = Booking

    relationship = factory.SubFactory(RelationshipFactory)
    client = factory.LazyAttribute(lambda b: b.relationship.attendee)
    session_date = factory.SubFactory(SessionDateFactory)
    price = Decimal("30.00")


def coming_date(session, weeks: int = 1) -> SessionDate:
    """The session's date ``weeks`` weeks after its next occurrence (never today:
    today's date may already have started)."""
    day = next_weekday(session.weekday, timezone.localdate() + timedelta(days=1))
    return SessionDateFactory(session=session, date=day + timedelta(weeks=weeks - 1))


def paid_invoice_for(subscription, sessions, staff):
    invoice = billing.create_draft(
        actor=SYSTEM, payer=subscription.relationship.payer, relationship=subscription.relationship
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=invoice,
        description="Term",
        unit_price=subscription.price,
        quantity=Decimal(sessions),
        subscription=subscription,
    )
    invoice = billing.issue_invoice(invoice=invoice, actor=staff)
    billing.record_payment(invoice=invoice, amount=invoice.total, method="cash", actor=staff)
    return invoice

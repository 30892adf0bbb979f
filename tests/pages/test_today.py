"""Today, the home page after login: today's sessions with rosters and marks,
what is waiting for the front desk (each a link to act on it), a practitioner's
own day, both renderings and a query count that does not grow."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, PaymentAttempt, PaymentCardRequest
from relationships.models import RelationshipMigration
from scheduling.models import Attendance, DateAbsence
from tests.factories import (
    BookingFactory,
    ClientFactory,
    InvoiceFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 9, 10, 40, tzinfo=LONDON)  # a Wednesday
TODAY = NOW.date()
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def todays_date(practitioner, hour=9, name="Piano", day=TODAY):
    session = SessionFactory(
        practitioner=practitioner,
        weekday=day.weekday(),
        start_time=time(hour),
        capacity=4,
        service__name=name,
        first_date=day - timedelta(weeks=3),
    )
    starts = datetime.combine(day, time(hour), tzinfo=LONDON)
    return SessionDateFactory(
        session=session, date=day, starts_at=starts, ends_at=starts + timedelta(minutes=30)
    )


def page(client, **kwargs) -> str:
    return " ".join(client.get(reverse("home"), **kwargs).content.decode().split()).replace(
        " >", ">"
    )


def test_staff_see_todays_sessions_with_rosters_and_marks(staff_client, therapist, staff):
    sd = todays_date(therapist)
    sam = SubscriptionFactory(
        session=sd.session,
        relationship=RelationshipFactory(payer=ClientFactory(first_name="Sam", last_name="Rivera")),
    )
    SubscriptionFactory(
        session=sd.session,
        relationship=RelationshipFactory(payer=ClientFactory(first_name="Ava", last_name="Adams")),
    )
    gone = SubscriptionFactory(
        session=sd.session,
        relationship=RelationshipFactory(payer=ClientFactory(first_name="Zed", last_name="Zane")),
    )
    DateAbsence.objects.create(subscription=gone, session_date=sd)
    BookingFactory(
        session_date=sd,
        relationship=RelationshipFactory(payer=ClientFactory(first_name="Bo", last_name="Booked")),
    )
    Attendance.objects.create(
        session_date=sd,
        client=sam.client,
        subscription=sam,
        mark="present",
        chargeable=True,
        marked_by=staff,
        marked_at=timezone.now(),
    )
    todays_date(therapist, day=TODAY + timedelta(days=1), name="Tomorrow's cello")
    body = page(staff_client)
    assert "Today, Wednesday 9 December" in body
    assert "09:00\u201309:30</span> Piano" in body and "Tomorrow's cello" not in body
    assert body.index("Ava Adams") < body.index("Bo Booked") < body.index("Sam Rivera")
    assert 'Zed Zane <span class="badge">Absent by request</span>' in body
    assert 'Sam Rivera</a> <span class="badge ok">Present</span>' in body
    assert "1 of 3 marked" in body
    assert f'<a class="button" href="/schedule/dates/{sd.pk}/"><svg class="icon"' in body
    assert "</svg>Mark attendance" in body


def test_the_waiting_list_links_to_each_thing_to_act_on(staff_client, staff):
    payer = ClientFactory(first_name="Olga", last_name="Owes")
    overdue = InvoiceFactory(
        payer=payer,
        status="open",
        number=41,
        issued_on=TODAY - timedelta(days=40),
        due_on=TODAY - timedelta(days=10),
        total=Decimal("60.00"),
    )
    InvoiceFactory(  # due tomorrow: not overdue
        payer=payer, status="open", number=42, issued_on=TODAY, due_on=TODAY + timedelta(days=1)
    )
    card = PaymentMethodFactory(client=payer)
    declined = InvoiceFactory(
        payer=payer, status="open", number=43, issued_on=TODAY, due_on=TODAY + timedelta(days=7)
    )
    PaymentAttempt.objects.create(
        invoice=declined,
        payment_method=card,
        amount=Decimal("30.00"),
        currency="GBP",
        idempotency_key="k1",
        status="declined",
        decline_code="card_declined",
        decline_message="Card declined",
        settled_at=timezone.now(),
    )
    waiting_client = ClientFactory(first_name="Carla", last_name="Card")
    PaymentCardRequest.objects.create(
        client=waiting_client,
        reason="Migration",
        nonce="n1",
        token_hash="h1",
        expires_at=timezone.now() + timedelta(days=7),
        sent_at=timezone.now(),
    )
    PaymentCardRequest.objects.create(  # used: not waiting
        client=payer,
        reason="x",
        nonce="n2",
        token_hash="h2",
        expires_at=timezone.now() + timedelta(days=7),
        used_at=timezone.now(),
        payment_method=card,
    )
    kid = ClientFactory(first_name="Mia", last_name="Moving")
    old = RelationshipFactory(
        payer=ClientFactory(first_name="Pat", last_name="Parent"), attendee=kid
    )
    RelationshipMigration.objects.create(
        old_relationship=old,
        new_relationship=RelationshipFactory(payer=kid),
        status="awaiting_card",
        requested_by="attendee",
        started_by=staff,
        confirmed_by=staff,
        confirmed_at=timezone.now(),
    )
    body = page(staff_client)
    assert "No sessions today." in body
    assert f'<a href="/billing/invoices/{overdue.pk}/">INV-000041</a>' in body
    assert "INV-000042" not in body
    assert f'<a href="/billing/invoices/{declined.pk}/">INV-000043</a>' in body
    assert "declined, Card declined" in body
    assert f'<a href="/clients/{waiting_client.pk}/">Carla Card</a>' in body
    migrating = body.split('id="w-migrations"')[1].split("</section>")[0]
    assert (
        f'<a href="/relationships/{old.pk}/">Mia Moving</a> <span class="muted">paid by Pat Parent'
        in migrating
    ), migrating
    for section in ("w-links", "w-migrations", "w-overdue", "w-failed"):
        heading = body.split(f'id="{section}">')[1].split("</h3>")[0]
        assert heading.endswith(">1</span> "), heading  # one waiting of each kind


def test_a_charge_that_later_succeeded_is_not_waiting(staff_client, staff):
    payer = ClientFactory()
    card = PaymentMethodFactory(client=payer)
    invoice = InvoiceFactory(
        payer=payer, status="open", number=7, issued_on=TODAY, due_on=TODAY + timedelta(days=7)
    )
    first = PaymentAttempt.objects.create(
        invoice=invoice,
        payment_method=card,
        amount=Decimal("30.00"),
        currency="GBP",
        idempotency_key="a",
        status="declined",
        decline_code="x",
        settled_at=timezone.now(),
    )
    assert "INV-000007" in page(staff_client)
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    assert "INV-000007" not in page(staff_client)
    assert first.pk


def test_a_practitioner_sees_their_own_day_and_nothing_waiting(
    therapist_client, therapist, other_therapist
):
    todays_date(therapist, name="Mine")
    todays_date(other_therapist, name="Theirs")
    body = page(therapist_client)
    assert "Your day" in body and "Mine" in body and "Theirs" not in body
    assert "Waiting" not in body and "Invoices overdue" not in body


def test_the_fragment_and_the_login(staff_client, client):
    response = staff_client.get(reverse("home"), headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="today"') and "<html" not in body
    assert "HX-Request" in response["Vary"]
    assert client.get(reverse("home"))["Location"].startswith(reverse("login"))


def count(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("home")).status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_day(staff_client, therapist, staff):
    def add(n):
        for i in range(n):
            sd = todays_date(therapist, hour=8 + i % 10, name=f"Lesson {n}-{i}")
            for _ in range(3):
                sub = SubscriptionFactory(session=sd.session)
                Attendance.objects.create(
                    session_date=sd,
                    client=sub.client,
                    subscription=sub,
                    mark="present",
                    chargeable=True,
                    marked_by=staff,
                    marked_at=timezone.now(),
                )
            InvoiceFactory(
                status="open",
                number=1000 + sd.pk,
                issued_on=TODAY - timedelta(days=30),
                due_on=TODAY - timedelta(days=1),
            )

    count(staff_client)  # the session's first write
    add(2)
    small = count(staff_client)
    add(12)
    assert count(staff_client) == small <= 16


def test_a_billing_run_waiting_for_approval_is_one_click_away(staff_client):
    from datetime import date

    from billing.models import BillingRun

    BillingRun.objects.create(period_start=date(2026, 12, 1), period_end=date(2027, 1, 1))
    page = staff_client.get(reverse("home")).content.decode()
    assert "Billing runs to approve" in page
    assert f'href="{reverse("billing:run")}?month=2026-12"' in page and "December 2026" in page

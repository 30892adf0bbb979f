"""The reports' numbers, to the penny, on PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing import services as billing
from billing.models import PaymentCardRequest
from frontdesk.models import Transfer, Withdrawal
from reports import selectors
from reports.forms import Filters
from reports.reports import build_aging, build_enrolments
from scheduling.models import Attendance
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionDateFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.reports import AS_OF, at, issued, paid

pytestmark = pytest.mark.django_db

D = Decimal


def test_aging_puts_each_open_invoice_in_its_bucket_per_payer(money_world):
    rows = {row["last_name"]: row for row in selectors.aging(as_of=AS_OF)}
    assert set(rows) == {"Able", "Baker"}
    ann, bob = rows["Able"], rows["Baker"]
    assert (ann["current"], ann["d1_30"], ann["total"], ann["invoices"]) == (
        D("100.000"),
        D("45.000"),
        D("145.000"),
        2,
    )
    assert (bob["d31_60"], bob["d61_90"], bob["over_90"], bob["total"]) == (
        D("50.000"),
        D("33.330"),
        D("20.000"),  # paid only after the day chosen: still owed on it
        D("103.330"),
    )
    assert ann["d31_60"] == ann["over_90"] == bob["current"] == 0


def test_aging_as_of_today_leaves_out_what_is_paid_and_totals_per_currency(money_world):
    table = build_aging(Filters(first=AS_OF, last=AS_OF, as_of=date(2026, 7, 10)))
    bob = next(row for row in table.rows if row["last_name"] == "Baker")
    assert bob["over_90"] == 0  # the 120-day invoice was paid on 5 July
    assert [(t["currency"], t["total"]) for t in table.totals] == [("GBP", D("228.330"))]
    assert sum(row["total"] for row in table.rows) == table.totals[0]["total"]


def test_aging_before_an_invoice_was_issued_leaves_it_out(money_world):
    rows = selectors.aging(as_of=date(2026, 5, 31))
    assert sum(row["total"] for row in rows) == D("50.00") + D("33.33") + D("20.00")


def test_aging_filters_by_currency(money_world):
    assert selectors.aging(as_of=AS_OF, currency="EUR") == []
    assert len(selectors.aging(as_of=AS_OF, currency="GBP")) == 2


def test_aging_shows_each_payers_account_credit_and_totals_it(money_world, staff):
    with time_machine.travel(at(AS_OF - timedelta(days=1)), tick=False):
        billing.grant_account_credit(
            payer=money_world["ann"], amount="15.00", currency="GBP", reason="Heating", actor=staff
        )
        cat = RelationshipFactory(payer__first_name="Cat", payer__last_name="Cole").payer
        billing.grant_account_credit(
            payer=cat, amount="5.00", currency="GBP", reason="Goodwill", actor=staff
        )
    with time_machine.travel(at(AS_OF + timedelta(days=1)), tick=False):  # after: not counted
        billing.grant_account_credit(
            payer=cat, amount="7.00", currency="GBP", reason="Later", actor=staff
        )
    rows = {row["last_name"]: row for row in selectors.aging(as_of=AS_OF)}
    assert (rows["Able"]["credit"], rows["Able"]["total"]) == (D("15.000"), D("145.000"))
    assert (rows["Cole"]["credit"], rows["Cole"]["total"], rows["Cole"]["invoices"]) == (
        D("5.000"),
        0,
        0,
    )  # owes nothing, holds credit: a row of its own
    assert rows["Baker"]["credit"] == 0
    table = build_aging(Filters(first=AS_OF, last=AS_OF, as_of=AS_OF))
    assert [(t["currency"], t["total"], t["credit"]) for t in table.totals] == [
        ("GBP", D("248.330"), D("20.000"))
    ]
    later = {row["last_name"]: row for row in selectors.aging(as_of=AS_OF + timedelta(days=1))}
    assert later["Cole"]["credit"] == D("12.000")


def test_revenue_counts_refunds_on_the_day_made(money_world, staff):
    payment = money_world["invoices"]["d45"].payments.get()
    with time_machine.travel(at(date(2026, 7, 6)), tick=False):
        billing.refund_payment(
            payment=payment, amount="12.50", reason="Lesson missed", method="cash", actor=staff
        )
    rows = selectors.revenue(first=date(2026, 1, 1), last=date(2026, 7, 31), by="month")
    refunded = {row["key"]: round(row["refunded"], 2) for row in rows}
    assert refunded[date(2026, 7, 1)] == D("12.50")
    assert sum(refunded.values()) == D("12.50")
    by_service = selectors.revenue(first=date(2026, 7, 1), last=date(2026, 7, 31), by="service")
    assert _money(by_service, "refunded")["Guitar"] == D("12.50")
    assert (
        selectors.revenue(first=date(2026, 1, 1), last=date(2026, 6, 30), by="month")[-1][
            "refunded"
        ]
        == 0
    )  # before the refund was made


def test_revenue_by_month_adds_up_to_the_invoices_and_payments(money_world):
    rows = selectors.revenue(first=date(2026, 1, 1), last=date(2026, 7, 31), by="month")
    by_month = {
        row["key"]: (round(row["invoiced"] or 0, 2), round(row["collected"], 2)) for row in rows
    }
    assert by_month == {
        date(2026, 2, 1): (D("20.00"), D("0.00")),
        date(2026, 4, 1): (D("33.33"), D("0.00")),
        date(2026, 5, 1): (D("80.00"), D("30.00")),
        date(2026, 6, 1): (D("145.00"), D("0.00")),
        date(2026, 7, 1): (D("0.00"), D("20.00")),
    }
    assert {row["currency"] for row in rows} == {"GBP"}


def _money(rows, key):
    return {row["label"]: round(row[key] or 0, 2) for row in rows}


def test_revenue_by_service_and_practitioner(money_world, therapist, other_therapist):
    first, last = date(2026, 1, 1), date(2026, 6, 30)
    by_service = selectors.revenue(first=first, last=last, by="service")
    assert _money(by_service, "invoiced") == {
        "Piano": D("150.00"),
        "Guitar": D("100.00"),
        None: D("28.33"),  # a line about no session (and the discount, which names none)
    }
    assert _money(by_service, "collected") == {"Piano": 0, "Guitar": D("30.00"), None: 0}
    by_person = selectors.revenue(first=first, last=last, by="practitioner")
    assert _money(by_person, "invoiced") == {
        therapist.get_full_name(): D("150.00"),
        other_therapist.get_full_name(): D("100.00"),
        None: D("28.33"),
    }
    only_piano = selectors.revenue(
        first=first, last=last, by="month", service_id=money_world["piano"].pk
    )
    assert sum(row["invoiced"] for row in only_piano) == D("150.00")


def test_revenue_shares_a_payment_over_its_lines(money_world, staff):

    piano_session, guitar_session = money_world["sessions"]
    relationship = RelationshipFactory()
    piano = SubscriptionFactory(relationship=relationship, session=piano_session)
    guitar = SubscriptionFactory(relationship=relationship, session=guitar_session)
    invoice = issued(
        relationship,
        "60.00",
        on=date(2026, 8, 1),
        due=date(2026, 8, 15),
        actor=staff,
        subscription=piano,
    )
    from billing import services as billing
    from opus.lib.actors import SYSTEM

    assert invoice.total == D("60.00")
    draft = billing.create_draft(actor=SYSTEM, payer=relationship.payer, relationship=relationship)
    billing.add_charge(
        actor=SYSTEM,
        invoice=draft,
        description="Piano",
        unit_price=D("10.00"),
        quantity=D(1),
        subscription=piano,
    )
    billing.add_charge(
        actor=SYSTEM,
        invoice=draft,
        description="Guitar",
        unit_price=D("20.00"),
        quantity=D(1),
        subscription=guitar,
    )
    both = billing.issue_invoice(
        invoice=draft, issued_on=date(2026, 8, 2), due_on=date(2026, 8, 20), actor=staff
    )
    paid(both, "15.00", on=date(2026, 8, 3), actor=staff)
    rows = selectors.revenue(first=date(2026, 8, 1), last=date(2026, 8, 31), by="service")
    assert _money(rows, "collected") == {"Piano": D("5.00"), "Guitar": D("10.00")}
    assert _money(rows, "invoiced") == {"Piano": D("70.00"), "Guitar": D("20.00")}


@pytest.fixture
def enrolment_world(staff):
    piano = ServiceFactory(name="Piano")
    guitar = ServiceFactory(name="Guitar")
    piano_session = SessionFactory(service=piano, first_date=date(2026, 1, 5))
    guitar_session = SessionFactory(service=guitar, first_date=date(2026, 1, 5))
    subs = [
        SubscriptionFactory(session=piano_session, first_date=date(2026, 3, 2)) for _ in range(4)
    ]
    # one withdraws for cost, one moves away (their last dates in April)
    for sub, reason in ((subs[0], "cost"), (subs[1], "moved_away")):
        sub.end_date = date(2026, 4, 14)
        sub.save()
        Withdrawal.objects.create(
            subscription=sub, last_date=date(2026, 4, 13), reason=reason, actor=staff
        )
    # one is transferred to guitar in April: not a withdrawal
    subs[2].end_date = date(2026, 4, 20)
    subs[2].save()
    moved = SubscriptionFactory(
        session=guitar_session, relationship=subs[2].relationship, first_date=date(2026, 4, 20)
    )
    Transfer.objects.create(
        from_subscription=subs[2],
        to_subscription=moved,
        transfer_date=date(2026, 4, 20),
        actor=staff,
    )
    # one just ends (its session ended) in May
    subs[3].end_date = date(2026, 5, 11)
    subs[3].save()
    return {"piano": piano, "guitar": guitar}


def test_enrolment_movement_counts_transfers_apart_from_withdrawals(enrolment_world):
    rows = selectors.enrolment_movement(first=date(2026, 1, 1), last=date(2026, 6, 30))
    by = {(row["month"], row["service"]): row for row in rows}
    march = by[(date(2026, 3, 1), "Piano")]
    assert (march["new"], march["net"]) == (4, 4)
    april_piano = by[(date(2026, 4, 1), "Piano")]
    assert april_piano["withdrawn_cost"] == 1
    assert april_piano["withdrawn_moved_away"] == 1
    assert april_piano["withdrawn"] == 2
    assert april_piano["transfer_out"] == 1
    assert april_piano["new"] == 0
    assert april_piano["net"] == -3
    april_guitar = by[(date(2026, 4, 1), "Guitar")]
    assert (april_guitar["new"], april_guitar["transfer_in"], april_guitar["withdrawn"]) == (
        0,
        1,
        0,
    )
    may = by[(date(2026, 5, 1), "Piano")]
    assert (may["other_end"], may["withdrawn"], may["net"]) == (1, 0, -1)
    table = build_enrolments(Filters(first=date(2026, 1, 1), last=date(2026, 6, 30), as_of=AS_OF))
    assert table.totals[0]["net"] == 4 - 3 + 1 - 1  # the transfer moves one, drops none
    only_guitar = selectors.enrolment_movement(
        first=date(2026, 1, 1), last=date(2026, 6, 30), service_id=enrolment_world["guitar"].pk
    )
    assert [row["service"] for row in only_guitar] == ["Guitar"]


def test_attendance_rate_per_session_and_practitioner(therapist, staff):
    session = SessionFactory(practitioner=therapist, first_date=date(2026, 3, 2))
    other = SessionFactory(practitioner=therapist, weekday=2, first_date=date(2026, 3, 4))
    marks = ["present", "present", "present", "no_show", "absent"]
    for weeks, mark in enumerate(marks):
        day = SessionDateFactory(session=session, date=date(2026, 3, 2) + timedelta(weeks=weeks))
        sub = SubscriptionFactory(session=session, first_date=date(2026, 3, 2))
        Attendance.objects.create(
            session_date=day,
            client=sub.client,
            subscription=sub,
            mark=mark,
            chargeable=mark != "absent",
            marked_at=at(day.date),
            marked_by=staff,
        )
    day = SessionDateFactory(session=other, date=date(2026, 3, 4))
    sub = SubscriptionFactory(session=other, first_date=date(2026, 3, 4))
    Attendance.objects.create(
        session_date=day,
        client=sub.client,
        subscription=sub,
        mark="present",
        chargeable=True,
        marked_at=at(day.date),
        marked_by=staff,
    )
    rows = selectors.attendance(first=date(2026, 3, 1), last=date(2026, 3, 31), by="session")
    assert [(row["session_id"], row["marked"], row["rate"]) for row in rows] in (
        [(session.pk, 5, D("60.0")), (other.pk, 1, D("100.0"))],
        [(other.pk, 1, D("100.0")), (session.pk, 5, D("60.0"))],
    )
    (person,) = selectors.attendance(
        first=date(2026, 3, 1), last=date(2026, 3, 31), by="practitioner"
    )
    assert (person["practitioner"], person["marked"], person["present"], person["rate"]) == (
        therapist.get_full_name(),
        6,
        4,
        D("66.7"),
    )
    assert selectors.attendance(first=date(2026, 4, 1), last=date(2026, 4, 30)) == []


def _card_request(client, *, created, sent=None, opened=None, used=None, expires_days=7):
    with time_machine.travel(created, tick=False):
        request = PaymentCardRequest.objects.create(
            client=client,
            reason="test",
            nonce=f"n{client.pk}",
            token_hash=f"h{client.pk}",
            expires_at=created + timedelta(days=expires_days),
            sent_at=sent,
            opened_at=opened,
        )
    if used:
        from tests.factories import PaymentMethodFactory

        PaymentCardRequest.objects.filter(pk=request.pk).update(
            used_at=used, payment_method=PaymentMethodFactory(client=client)
        )
    return request


def test_card_links_sent_opened_added_expired_and_time_to_card():
    march = at(date(2026, 3, 2))
    _card_request(
        ClientFactory(),
        created=march,
        sent=march,
        opened=march + timedelta(hours=1),
        used=march + timedelta(hours=2),
    )
    _card_request(
        ClientFactory(),
        created=march,
        sent=march,
        opened=march + timedelta(hours=1),
        used=march + timedelta(hours=6),
    )
    _card_request(ClientFactory(), created=march, sent=march)  # expired unused
    _card_request(ClientFactory(), created=at(date(2026, 4, 1)), sent=at(date(2026, 4, 1)))
    rows = selectors.card_links(
        first=date(2026, 3, 1), last=date(2026, 4, 30), now=at(date(2026, 4, 3))
    )
    by = {row["month"]: row for row in rows}
    mar, apr, total = by[date(2026, 3, 1)], by[date(2026, 4, 1)], by[None]
    assert (mar["sent"], mar["opened"], mar["card_added"], mar["expired"]) == (3, 2, 2, 1)
    assert mar["median_seconds"] == 4 * 3600
    assert (apr["sent"], apr["expired"], apr["card_added"]) == (1, 0, 0)
    assert (total["created"], total["sent"], total["card_added"]) == (4, 4, 2)


def test_the_default_range_is_the_twelve_months_to_today():
    from reports.forms import default_range

    assert default_range(date(2026, 11, 30)) == (date(2025, 12, 1), date(2026, 11, 30))
    assert default_range(date(2028, 2, 29)) == (date(2027, 3, 1), date(2028, 2, 29))
    assert default_range(date(2026, 12, 31)) == (date(2026, 1, 1), date(2026, 12, 31))
    assert timezone.is_aware(at(date(2026, 1, 1)))

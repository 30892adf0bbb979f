"""Issue 13, the billing run: what a calendar month bills, to whom, and never twice.
December 2026 has four Mondays (7, 14, 21, 28) and five Wednesdays (2 to 30)."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from billing import rebilling
from billing import services as billing
from billing.models import BillingRun, ChargedDate, Invoice, InvoiceLine
from billing.services import runs
from opus.lib.actors import SYSTEM
from opus.models import OutboundEmail
from relationships.models import Relationship
from scheduling.models import Attendance, DateAbsence, Service, SessionDate
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
)
from tests.support.threads import run_together

pytestmark = pytest.mark.django_db

DEC = date(2026, 12, 1)
MONDAYS = [date(2026, 12, d) for d in (7, 14, 21, 28)]
NOV_2 = date(2026, 11, 2)  # a Monday
NOV_4 = date(2026, 11, 4)  # a Wednesday
LONDON = ZoneInfo("Europe/London")


def session(*, weekday=0, first=NOV_2, **service):
    s = SessionFactory(
        weekday=weekday, first_date=first, service=ServiceFactory(**service), capacity=5
    )
    generate_session_dates(session=s, until=date(2027, 1, 31))
    return s


@pytest.fixture
def piano():
    return session(name="Piano")


def sub(sess, *, relationship=None, first=None, end=None, price="30.00"):
    return SubscriptionFactory(
        session=sess,
        relationship=relationship or RelationshipFactory(),
        first_date=first or sess.first_date,
        end_date=end,
        price=Decimal(price),
    )


def cancel(sess, day):
    SessionDate.objects.filter(session=sess, date=day).update(
        cancelled=True, cancel_reason="Holiday"
    )


def dates_billed(subscription):
    return sorted(
        ChargedDate.objects.filter(subscription=subscription, live=True).values_list(
            "date", flat=True
        )
    )


# --- per-session ---------------------------------------------------------------------------------
def test_a_per_session_service_bills_the_months_held_dates(piano):
    s = sub(piano)
    run = runs.prepare_run(period_start=DEC, actor=SYSTEM)
    (invoice,) = run.invoices.all()
    (line,) = invoice.lines.all()
    assert invoice.status == "draft" and invoice.payer == s.relationship.payer
    assert (line.quantity, line.unit_price, line.amount) == (4, Decimal(30), Decimal(120))
    assert line.description == "Piano: 4 sessions, 7 Dec to 28 Dec 2026"
    assert line.subscription == s and invoice.total == Decimal(120)
    assert dates_billed(s) == MONDAYS


def test_cancelled_dates_are_never_billed(piano):
    s = sub(piano)
    cancel(piano, MONDAYS[2])
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    assert dates_billed(s) == [MONDAYS[0], MONDAYS[1], MONDAYS[3]]
    assert InvoiceLine.objects.get().description == "Piano: 3 sessions, 7 Dec to 28 Dec 2026"


def test_absences_follow_the_cancellation_policy(piano):
    s = sub(piano)
    day = {d.date: d for d in SessionDate.objects.filter(session=piano)}
    DateAbsence.objects.create(subscription=s, session_date=day[MONDAYS[0]], in_time=True)
    DateAbsence.objects.create(subscription=s, session_date=day[MONDAYS[1]], in_time=False)
    Attendance.objects.create(
        session_date=day[MONDAYS[2]],
        client=s.client,
        subscription=s,
        mark="no_show",
        chargeable=False,
        marked_at=datetime(2026, 12, 21, 11, tzinfo=LONDON),
    )
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    # told in time: not billed; late: billed (the practice charges late cancellations);
    # the no-show was marked not chargeable; the last date is billed
    assert dates_billed(s) == [MONDAYS[1], MONDAYS[3]]


def test_a_service_that_does_not_charge_late_cancellations_leaves_them_out(piano):
    Service.objects.filter(pk=piano.service_id).update(charge_late_cancellations=False)
    s = sub(piano)
    late = SessionDate.objects.get(session=piano, date=MONDAYS[1])
    DateAbsence.objects.create(subscription=s, session_date=late, in_time=False)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    assert dates_billed(s) == [MONDAYS[0], MONDAYS[2], MONDAYS[3]]


# --- monthly -----------------------------------------------------------------------------------
def test_a_monthly_service_bills_its_flat_price_and_prorates_a_partial_month():
    group = session(name="Guitar group", billing_basis="monthly", sessions_per_month=4)
    full = sub(group, price="100.00")
    starting = sub(group, first=MONDAYS[1], price="100.00")
    ending = sub(group, end=MONDAYS[2], price="100.00")
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    line = {li.subscription_id: li for li in InvoiceLine.objects.all()}
    assert line[full.pk].amount == Decimal(100)
    assert line[full.pk].description == "Guitar group: December 2026 (4 sessions a month)"
    assert line[starting.pk].amount == Decimal(75)
    assert line[starting.pk].description == (
        "Guitar group: December 2026, 3 of 4 sessions (prorated: £100.00 x 3/4)"
    )
    assert line[ending.pk].amount == Decimal(50)
    assert dates_billed(ending) == MONDAYS[:2]


# --- who pays each date ---------------------------------------------------------------------------
def test_a_mid_month_migration_splits_the_month_between_the_two_payers(piano):
    attendee = ClientFactory(first_name="Sam", last_name="Rivera")
    organiser = ClientFactory(first_name="Oliver", last_name="Grant")
    old = RelationshipFactory(payer=organiser, attendee=attendee)
    new = RelationshipFactory(payer=attendee, attendee=attendee)
    Relationship.objects.filter(pk=old.pk).update(status="ended", ended_on=MONDAYS[1])
    before = sub(piano, relationship=old, end=MONDAYS[1])
    after = sub(piano, relationship=new, first=MONDAYS[1])
    run = runs.prepare_run(period_start=DEC, actor=SYSTEM)
    by_payer = {i.payer_id: i for i in run.invoices.all()}
    assert by_payer[organiser.pk].total == Decimal(30)
    assert by_payer[attendee.pk].total == Decimal(90)
    assert InvoiceLine.objects.get(invoice=by_payer[organiser.pk]).description == (
        "Piano for Sam Rivera: 1 session, 7 Dec 2026"
    )
    assert dates_billed(before) == MONDAYS[:1] and dates_billed(after) == MONDAYS[1:]


def test_a_mid_month_transfer_bills_what_its_first_invoice_did_not(piano):
    wednesday = session(weekday=2, first=NOV_4, name="Piano, Wednesdays")
    relationship = RelationshipFactory()
    old = sub(piano, relationship=relationship, end=MONDAYS[1])
    new = sub(wednesday, relationship=relationship, first=date(2026, 12, 16))
    first_invoice = billing.build_subscription_invoice(subscription=new, actor=SYSTEM)
    assert dates_billed(new) == [date(2026, 12, d) for d in (16, 23, 30)]
    run = runs.prepare_run(period_start=DEC, actor=SYSTEM)
    (invoice,) = run.invoices.all()
    (line,) = invoice.lines.all()
    assert line.subscription == old and dates_billed(old) == MONDAYS[:1]
    assert first_invoice not in run.invoices.all()


def test_a_monthly_first_invoice_covers_one_month_and_the_run_bills_the_rest():
    group = session(name="Choir", billing_basis="monthly", sessions_per_month=4)
    s = sub(group, first=date(2026, 11, 16), price="100.00")
    billing.build_subscription_invoice(subscription=s, actor=SYSTEM)
    # one month from 16 Nov: 16, 23, 30 Nov and 7, 14 Dec
    assert dates_billed(s)[-2:] == MONDAYS[:2]
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    line = InvoiceLine.objects.filter(invoice__billing_runs__isnull=False).get()
    assert line.amount == Decimal(50) and "2 of 4 sessions" in line.description


def test_one_draft_per_payer_with_every_subscription_they_pay_for(piano):
    parent = ClientFactory()
    for child in (ClientFactory(), ClientFactory()):
        sub(piano, relationship=RelationshipFactory(payer=parent, attendee=child))
    (invoice,) = runs.prepare_run(period_start=DEC, actor=SYSTEM).invoices.all()
    assert invoice.lines.count() == 2 and invoice.total == Decimal(240)
    assert invoice.relationship is None  # two relationships: the invoice names none


# --- never twice --------------------------------------------------------------------------
def test_running_twice_bills_nothing_twice_and_adds_what_is_new(piano):
    sub(piano)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    assert Invoice.objects.count() == 1 and ChargedDate.objects.count() == 4
    later = sub(piano, first=MONDAYS[2])
    run = runs.prepare_run(period_start=DEC, actor=SYSTEM)
    assert run.invoices.count() == 2 and dates_billed(later) == MONDAYS[2:]
    assert BillingRun.objects.count() == 1


def test_the_database_holds_one_live_charge_per_subscription_date(piano):
    s = sub(piano)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    first = ChargedDate.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargedDate.objects.create(
            line=first.line, subscription=s, session_date=first.session_date, date=first.date
        )


def test_a_void_invoice_releases_its_dates(piano):
    s = sub(piano)
    invoice = billing.build_subscription_invoice(subscription=s, actor=SYSTEM)
    invoice = billing.issue_invoice(invoice=invoice, actor=SYSTEM)
    billing.void_invoice(invoice=invoice, reason="Wrong month", actor=SYSTEM)
    assert dates_billed(s) == []
    assert ChargedDate.objects.filter(line__invoice=invoice, live=False).count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_bill_each_date_once():
    piano = session(name="Piano")
    subs = [sub(piano) for _ in range(3)]
    results = run_together(
        [lambda: runs.prepare_run(period_start=DEC, actor=SYSTEM) for _ in range(2)]
    )
    assert all(isinstance(r, BillingRun) for r in results), results
    assert Invoice.objects.count() == 3
    for s in subs:
        assert dates_billed(s) == MONDAYS


# --- approving and issuing -----------------------------------------------------------------------
@time_machine.travel(datetime(2026, 11, 25, 9, tzinfo=LONDON), tick=False)
def test_approve_issues_every_draft_through_the_issue_service_and_emails_them(
    piano, staff, django_capture_on_commit_callbacks
):
    s = sub(piano)
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = runs.approve_run(period_start=DEC, actor=staff)
    assert len(callbacks) == 1  # the task is started once the approval commits
    assert (run.status, run.to_issue, run.approved_by) == ("issuing", 1, staff)
    again = runs.approve_run(period_start=DEC, actor=staff)  # a double click: nothing more
    assert again.pk == run.pk and again.status == "issuing"
    run = runs.issue_run(run_id=run.pk, actor=SYSTEM)
    invoice = run.invoices.get()
    assert (invoice.status, invoice.issued_on, invoice.number) == ("open", date(2026, 11, 25), 1)
    assert OutboundEmail.objects.filter(template="invoice", client=s.relationship.payer).count()
    assert (run.status, run.issued_count) == ("issued", 1)
    assert run.summary == "1 invoice issued, £120.00 in all; 1 open, 0 paid (nothing due)."
    assert (
        runs.issue_run(run_id=run.pk, actor=SYSTEM).issued_count == 1
    )  # redelivered: nothing more
    assert runs.prepare_run(period_start=DEC, actor=SYSTEM).invoices.count() == 1


def test_a_practitioner_cannot_prepare_or_approve(piano, therapist):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        runs.prepare_run(period_start=DEC, actor=therapist)
    with pytest.raises(PermissionDenied):
        runs.approve_run(period_start=DEC, actor=therapist)
    assert not BillingRun.objects.exists()


def test_the_periodic_task_prepares_on_the_billing_day_and_waits_for_approval(piano):
    sub(piano)
    assert runs.prepare_if_due(today=date(2026, 11, 24)) is None
    run = runs.prepare_if_due(today=date(2026, 11, 25))
    assert (run.period_start, run.status) == (DEC, "prepared")


def test_automatic_approval_and_arrears_are_practice_settings(piano):
    from tests.support.practice import assume_practice

    sub(piano)
    assume_practice(billing_timing="arrears", billing_day=3, billing_auto_approve=True)
    run = runs.prepare_if_due(today=date(2027, 1, 3))
    assert (run.period_start, run.status) == (DEC, "issuing")


def test_flags_a_zero_invoice_and_a_total_that_moved_since_last_month(piano):
    s = sub(piano)
    free = sub(piano, price="0.00")
    nov = runs.prepare_run(period_start=date(2026, 11, 1), actor=SYSTEM)
    assert nov.invoices.count() == 2
    cancel(piano, MONDAYS[0])
    cancel(piano, MONDAYS[1])
    drafts = {d.payer.pk: d for d in runs.plan_month(DEC)}
    assert drafts[free.relationship.payer_id].flags == ["Nothing to pay: the invoice is for zero."]
    (flag,) = drafts[s.relationship.payer_id].flags
    assert flag == "Total down 60% since last month's run (£150.00)."


# --- the facts read back ------------------------------------------------------------------
def test_unused_value_reads_the_dates_a_paid_invoice_billed(piano, staff):
    s = sub(piano)
    run = runs.prepare_run(period_start=DEC, actor=SYSTEM)
    invoice = billing.issue_invoice(invoice=run.invoices.get(), actor=SYSTEM)
    billing.record_payment(invoice=invoice, amount=invoice.total, method="cash", actor=staff)
    s.first_date = MONDAYS[0]  # November was never billed: only December's dates count
    unused = rebilling.unused_value(s, MONDAYS[2])
    assert (unused.paid_sessions, unused.sessions, unused.value) == (4, 2, Decimal(60))


def test_the_data_migration_fills_the_dates_of_existing_lines(piano):
    from importlib import import_module

    from django.apps import apps

    fill = import_module("billing.migrations.0008_charged_dates_and_billing_runs")
    s = sub(piano)
    invoice = billing.create_draft(payer=s.relationship.payer, actor=SYSTEM)
    billing.add_charge(
        invoice=invoice,
        description="Lessons",
        quantity=3,
        unit_price=30,
        subscription=s,
        actor=SYSTEM,
    )
    assert not ChargedDate.objects.exists()
    fill.fill_charged_dates(apps, None)
    assert dates_billed(s) == [NOV_2, date(2026, 11, 9), date(2026, 11, 16)]


# --- the payer's account and card, seen before money moves -----------------------------------
def test_account_credit_is_flagged_in_the_preview_and_applied_when_issued(piano, staff):
    s = sub(piano)
    payer = s.relationship.payer
    billing.grant_account_credit(
        payer=payer, amount=Decimal("50.00"), currency="GBP", reason="Goodwill", actor=staff
    )
    (draft,) = runs.plan_month(DEC)
    assert draft.flags == ["Account credit: £50.00 is applied when the invoice is issued."]
    runs.prepare_run(period_start=DEC, actor=SYSTEM)
    run = runs.approve_run(period_start=DEC, actor=staff)
    run = runs.issue_run(run_id=run.pk, actor=SYSTEM)
    invoice = run.invoices.get()
    credit = invoice.lines.get(kind=InvoiceLine.Kind.CREDIT)
    assert credit.amount == Decimal("50.00")
    assert (invoice.total, invoice.status) == (Decimal("70.00"), "open")
    assert payer.accounts.get(currency="GBP").balance == 0


def test_a_payer_whose_card_expired_is_flagged_when_autopay_is_on(piano):
    from tests.factories import PaymentMethodFactory

    s = sub(piano)
    PaymentMethodFactory(client=s.relationship.payer, exp_month=1, exp_year=2020)
    (draft,) = runs.plan_month(DEC)
    assert draft.flags == [
        "Autopay is on but the card on file has expired or was removed: the invoice is "
        "emailed with its pay link instead."
    ]

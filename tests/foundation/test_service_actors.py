"""Function level (docs/quality.md Security 4), for every service that takes an actor
(issue 10): ``actor`` is a required keyword; None is refused (the system names
``SYSTEM``); a practitioner is refused what is not theirs; and a refusal changes
nothing. The services are found by reading the service modules, and the table
below must name each one, so a new service cannot be left out."""

import inspect
import uuid
from datetime import date, timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from billing import rebilling
from billing import services as billing
from billing.models import Payment
from billing.plans import InvoicePlan
from frontdesk import enrolments, imports, relationship_flows, transfers, withdrawals
from frontdesk import team as frontdesk_team
from frontdesk.models import ImportJob
from opus import team, two_factor
from opus.lib.actors import SYSTEM
from scheduling import closures, setup
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    PaymentMethodFactory,
    RelationshipFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    next_weekday,
)
from tests.support.billing import open_invoice

pytestmark = pytest.mark.django_db

SERVICE_MODULES = (
    "clients.services",
    "relationships.services",
    "scheduling.services",
    "scheduling.closures",
    "scheduling.attendance",
    "scheduling.setup",
    "billing.services.invoices",
    "billing.services.payments",
    "billing.services.card_requests",
    "billing.services.moved_sessions",
    "billing.services.runs",
    "billing.services.collection",
    "billing.services.followup",
    "billing.services.accounts",
    "billing.services.refunds",
    "billing.services.statements",
    "frontdesk.transfers",
    "frontdesk.relationship_flows",
    "frontdesk.client_flows",
    "frontdesk.enrolments",
    "frontdesk.withdrawals",
    "opus.team",
    "frontdesk.team",
    "opus.practice",
    "opus.two_factor",
    "frontdesk.imports",
)


def services_taking_an_actor() -> dict[str, object]:
    found = {}
    for name in SERVICE_MODULES:
        module = import_module(name)
        for attribute, function in vars(module).items():
            if (
                inspect.isfunction(function)
                and function.__module__ == name
                and not attribute.startswith("_")
                and "actor" in inspect.signature(function).parameters
            ):
                found[f"{name.split('.')[0]}.{attribute}"] = function
    return found


class World:
    """A client of T2 (the other therapist) in T2's session, under T2's
    relationship, with what each service needs to be called with."""

    def __init__(self, staff, other_therapist):
        today = timezone.localdate()
        self.session = SessionFactory(
            practitioner=other_therapist,
            weekday=(today.weekday() + 2) % 7,
            first_date=next_weekday((today.weekday() + 2) % 7, today - timedelta(weeks=2)),
        )
        self.target = SessionFactory(practitioner=other_therapist, service=self.session.service)
        for session in (self.session, self.target):
            generate_session_dates(session=session, until=today + timedelta(weeks=6))
        self.relationship = RelationshipFactory(
            attendee=ClientFactory(date_of_birth=today - timedelta(days=365 * 30)),
            practitioner=other_therapist,
        )
        self.client = self.relationship.attendee
        self.subscription = SubscriptionFactory(
            relationship=self.relationship,
            session=self.session,
            first_date=self.session.first_date,
        )
        self.date = self.session.dates.filter(date__gt=today).first()
        self.target_date = self.target.dates.filter(date__gt=today).first()
        self.card = PaymentMethodFactory(client=self.relationship.payer)
        self.invoice = open_invoice(relationship=self.relationship)
        self.draft = transfers.start_transfer(
            subscription=self.subscription, transfer_date=today, actor=staff
        )
        self.migration = relationship_flows.start_migration(
            relationship=self.relationship,
            actor=staff,
            requested_by="attendee",
            request_note="phoned",
        )

        self.draft_invoice = billing.create_draft(
            payer=self.relationship.payer, relationship=self.relationship, actor=SYSTEM
        )
        self.card_request = billing.request_payment_card(
            client=self.client, actor=SYSTEM, reason="Lessons"
        )
        self.closure = closures.close_dates(
            scope="practice",
            first_date=today + timedelta(weeks=30),
            last_date=today + timedelta(weeks=31),
            reason="Away",
            request_key=uuid.uuid4(),
            actor=staff,
        ).closure
        self.cancelled = self.session.dates.filter(date__gt=today).latest("date")
        closures.cancel_session_date(session_date=self.cancelled, reason="Snow", actor=staff)
        self.attempt = billing.start_card_attempt(
            invoice=self.invoice, payment_method=self.card, request_key="a", actor=SYSTEM
        )
        self.practitioner = other_therapist
        paid = open_invoice(relationship=self.relationship, amount="50")
        self.payment = billing.record_payment(
            invoice=paid, amount="20", method="cash", actor=SYSTEM
        )
        self.card_payment = Payment.objects.create(
            invoice=paid,
            amount=Decimal("30"),
            method="card",
            payment_method=self.card,
            gateway_charge_id="ch_sim_world",
            received_at=timezone.now(),
        )
        self.refund = billing.start_refund(
            payment=self.card_payment, amount="5", reason="x", method="card", actor=SYSTEM
        )
        billing.grant_account_credit(
            payer=self.relationship.payer, amount="5", currency="GBP", reason="x", actor=SYSTEM
        )
        self.invited = team.invite_user(
            first_name="Ivy",
            last_name="Vited",
            email="ivy@example.com",
            role="practitioner",
            actor=staff,
        ).user
        self.import_job = ImportJob.objects.create(
            kind="clients",
            filename="clients.csv",
            content="first_name,last_name,email\nNew,Client,new@example.com\n",
            total_rows=1,
            status="checked",
            created_by=staff,
        )


def _billing(name):
    return getattr(billing, name)


CALLS = {
    "clients.record_event": lambda w, a: import_module("clients.services").record_event(
        client=w.client, kind="updated", summary="x", actor=a
    ),
    "clients.update_contact_details": lambda w, a: import_module(
        "clients.services"
    ).update_contact_details(client=w.client, data={"phone": "07700 900123"}, actor=a),
    "clients.create_client": lambda w, a: import_module("clients.services").create_client(
        data={"first_name": "New", "last_name": "Client"}, actor=a
    ),
    "clients.set_external_id": lambda w, a: import_module("clients.services").set_external_id(
        client=w.client, external_id="X-1", actor=a
    ),
    "frontdesk.start_import": lambda w, a: imports.start_import(
        kind="clients", filename="c.csv", data=b"first_name,last_name,email\nA,B,a@x.com\n", actor=a
    ),
    "frontdesk.confirm_import": lambda w, a: imports.confirm_import(job=w.import_job, actor=a),
    "clients.archive_client": lambda w, a: import_module("clients.services").archive_client(
        client=w.client, actor=a
    ),
    "clients.restore_client": lambda w, a: import_module("clients.services").restore_client(
        client=w.client, actor=a
    ),
    "relationships.add_client": lambda w, a: import_module("relationships.services").add_client(
        details={"first_name": "New", "last_name": "Client"},
        who=import_module("relationships.services").WhoPays(),
        actor=a,
    ),
    "relationships.add_relationship": lambda w, a: import_module(
        "relationships.services"
    ).add_relationship(
        attendee=w.client, who=import_module("relationships.services").WhoPays(), actor=a
    ),
    "frontdesk.end_relationship": lambda w, a: relationship_flows.end_relationship(
        relationship=w.relationship,
        ended_on=timezone.localdate(),
        reason="Moved away",
        coming="end",
        actor=a,
    ),
    "frontdesk.delete_client": lambda w, a: import_module("frontdesk.client_flows").delete_client(
        client=w.relationship.payer, actor=a
    ),
    "relationships.create_relationship": lambda w, a: import_module(
        "relationships.services"
    ).create_relationship(payer=w.relationship.payer, attendee=w.client, actor=a),
    "scheduling.skip_dates": lambda w, a: import_module("scheduling.services").skip_dates(
        subscription=w.subscription, days=[w.date.date], actor=a
    ),
    "scheduling.enroll": lambda w, a: import_module("scheduling.services").enroll(
        relationship=w.relationship, session=w.target, first_date=w.target.first_date, actor=a
    ),
    "scheduling.unenroll_from_date": lambda w, a: import_module(
        "scheduling.services"
    ).unenroll_from_date(subscription=w.subscription, session_date=w.date, actor=a),
    "scheduling.undo_unenroll_from_date": lambda w, a: import_module(
        "scheduling.services"
    ).undo_unenroll_from_date(subscription=w.subscription, session_date=w.date, actor=a),
    "scheduling.preview_closure": lambda w, a: closures.preview_closure(
        scope="practice", first_date=w.date.date, last_date=w.date.date, reason="x", actor=a
    ),
    "scheduling.close_dates": lambda w, a: closures.close_dates(
        scope="practitioner",
        practitioner=w.session.practitioner,
        first_date=w.date.date,
        last_date=w.date.date,
        reason="x",
        request_key=uuid.uuid4(),
        actor=a,
    ),
    "scheduling.undo_closure": lambda w, a: closures.undo_closure(closure=w.closure, actor=a),
    "scheduling.cancel_session_date": lambda w, a: closures.cancel_session_date(
        session_date=w.date, reason="x", actor=a
    ),
    "scheduling.reopen_session_date": lambda w, a: closures.reopen_session_date(
        session_date=w.cancelled, actor=a
    ),
    # attendance (scheduling/attendance.py): staff and the session's practitioner
    "scheduling.mark_attendance": lambda w, a: import_module(
        "scheduling.attendance"
    ).mark_attendance(session_date=w.date, client=w.client, mark="present", actor=a),
    "scheduling.mark_all_present": lambda w, a: import_module(
        "scheduling.attendance"
    ).mark_all_present(session_date=w.date, actor=a),
    # the practice's setup (scheduling/setup.py): staff only
    "scheduling.save_service": lambda w, a: setup.save_service(
        data={"name": "New", "price": Decimal(1)}, actor=a
    ),
    "scheduling.set_service_active": lambda w, a: setup.set_service_active(
        service=w.session.service, active=False, actor=a
    ),
    "scheduling.save_room": lambda w, a: setup.save_room(name="New room", actor=a),
    "scheduling.set_room_active": lambda w, a: setup.set_room_active(
        room=w.session.room, active=False, actor=a
    ),
    "scheduling.create_session": lambda w, a: setup.create_session(
        service=w.session.service,
        practitioner=w.session.practitioner,
        room=None,
        start_time=w.session.start_time,
        duration_minutes=30,
        capacity=1,
        first_date=timezone.localdate() + timedelta(days=1),
        last_date=None,
        actor=a,
    ),
    "scheduling.change_session": lambda w, a: setup.change_session(
        session=w.session,
        effective_date=timezone.localdate(),
        start_time=w.session.start_time,
        duration_minutes=45,
        practitioner=w.session.practitioner,
        room=w.session.room,
        capacity=5,
        actor=a,
    ),
    "scheduling.preview_end": lambda w, a: setup.preview_end(
        session=w.session, last_date=timezone.localdate(), actor=a
    ),
    "scheduling.end_session": lambda w, a: setup.end_session(
        session=w.session, last_date=timezone.localdate(), actor=a
    ),
    "billing.create_draft": lambda w, a: _billing("create_draft")(
        payer=w.relationship.payer, relationship=w.relationship, actor=a
    ),
    "billing.add_charge": lambda w, a: _billing("add_charge")(
        invoice=w.draft_invoice, description="Lesson", unit_price="10", actor=a
    ),
    "billing.add_discount": lambda w, a: _billing("add_discount")(
        invoice=w.draft_invoice, amount="1", reason="x", actor=a
    ),
    "billing.add_credit": lambda w, a: _billing("add_credit")(
        invoice=w.draft_invoice, amount="1", reason="x", actor=a
    ),
    "billing.save_plan": lambda w, a: _billing("save_plan")(
        InvoicePlan(currency="GBP"), relationship=w.relationship, actor=a
    ),
    "billing.build_subscription_invoice": lambda w, a: _billing("build_subscription_invoice")(
        subscription=w.subscription, actor=a
    ),
    "billing.issue_invoice": lambda w, a: _billing("issue_invoice")(
        invoice=w.draft_invoice, actor=a
    ),
    "billing.record_payment": lambda w, a: _billing("record_payment")(
        invoice=w.invoice, amount="10", method="cash", actor=a
    ),
    "billing.start_card_attempt": lambda w, a: _billing("start_card_attempt")(
        invoice=w.invoice, payment_method=w.card, request_key="k", actor=a
    ),
    "billing.run_card_attempt": lambda w, a: _billing("run_card_attempt")(
        attempt=w.attempt, actor=a
    ),
    "billing.charge_card": lambda w, a: _billing("charge_card")(
        invoice=w.invoice, payment_method=w.card, request_key="k", actor=a
    ),
    "billing.credit_open_invoice": lambda w, a: _billing("credit_open_invoice")(
        invoice=w.invoice, amount="1", reason="x", description="x", actor=a
    ),
    "billing.grant_account_credit": lambda w, a: _billing("grant_account_credit")(
        payer=w.relationship.payer, amount="5", currency="GBP", reason="x", actor=a
    ),
    "billing.email_statement": lambda w, a: _billing("email_statement")(
        payer=w.relationship.payer, start=date(2026, 1, 1), end=date(2026, 1, 31), actor=a
    ),
    "billing.apply_account_credit": lambda w, a: _billing("apply_account_credit")(
        invoice=w.invoice, actor=a
    ),
    "billing.apply_credits_oldest_first": lambda w, a: _billing("apply_credits_oldest_first")(
        payer=w.relationship.payer, invoices=[w.draft_invoice], actor=a
    ),
    "billing.start_refund": lambda w, a: _billing("start_refund")(
        payment=w.payment, amount="1", reason="x", method="cash", actor=a
    ),
    "billing.refund_payment": lambda w, a: _billing("refund_payment")(
        payment=w.payment, amount="1", reason="x", method="cash", actor=a
    ),
    "billing.refund_account_credit": lambda w, a: _billing("refund_account_credit")(
        payer=w.relationship.payer,
        currency="GBP",
        amount="1",
        reason="x",
        payments=[w.payment],
        request_key="r",
        actor=a,
    ),
    "billing.run_refund": lambda w, a: _billing("run_refund")(refund=w.refund, actor=a),
    "billing.void_invoice": lambda w, a: _billing("void_invoice")(
        invoice=w.invoice, reason="x", actor=a
    ),
    "billing.close_invoice": lambda w, a: _billing("close_invoice")(
        invoice=w.invoice, reason="x", actor=a
    ),
    "billing.request_payment_card": lambda w, a: _billing("request_payment_card")(
        client=w.client, reason="Lessons", actor=a
    ),
    "billing.resend_payment_card_request": lambda w, a: _billing("resend_payment_card_request")(
        card_request=w.card_request, actor=a
    ),
    "billing.prepare_run": lambda w, a: billing.runs.prepare_run(
        period_start=date(2026, 12, 1), actor=a
    ),
    "billing.approve_run": lambda w, a: billing.runs.approve_run(
        period_start=date(2026, 12, 1), actor=a
    ),
    "billing.issue_run": lambda w, a: billing.runs.issue_run(run_id=0, actor=a),
    "billing.send_invoice": lambda w, a: _billing("send_invoice")(invoice=w.invoice, actor=a),
    "billing.set_autopay": lambda w, a: _billing("set_autopay")(
        client=w.client, enabled=False, actor=a
    ),
    "billing.settle_old_payer": lambda w, a: _billing("settle_old_payer")(
        rebilling.OldPayerMoney(payer=w.relationship.payer), actor=a
    ),
    "billing.bill_attendee": lambda w, a: _billing("bill_attendee")(
        rebilling.OldPayerMoney(payer=w.relationship.payer),
        relationship=w.relationship,
        subscriptions={},
        bookings={},
        actor=a,
    ),
    "frontdesk.start_transfer": lambda w, a: transfers.start_transfer(
        subscription=w.subscription, transfer_date=timezone.localdate(), actor=a
    ),
    "frontdesk.choose_target": lambda w, a: transfers.choose_target(
        draft=w.draft, session=w.target, actor=a
    ),
    "frontdesk.choose_dates": lambda w, a: transfers.choose_dates(
        draft=w.draft,
        first_date=w.target.first_date,
        end_date=timezone.localdate(),
        actor=a,
    ),
    "frontdesk.add_discount": lambda w, a: transfers.add_discount(
        draft=w.draft, amount=Decimal(1), reason="x", actor=a
    ),
    "frontdesk.remove_discount": lambda w, a: transfers.remove_discount(
        draft=w.draft, index=0, actor=a
    ),
    "frontdesk.set_credit": lambda w, a: transfers.set_credit(draft=w.draft, apply=True, actor=a),
    "frontdesk.finish_transfer": lambda w, a: transfers.finish_transfer(
        draft=w.draft, finish=transfers.Finish(how=transfers.FINISH_PAY_LATER), actor=a
    ),
    "frontdesk.start_migration": lambda w, a: relationship_flows.start_migration(
        relationship=w.relationship, requested_by="attendee", request_note="x", actor=a
    ),
    "frontdesk.save_migration_details": lambda w, a: relationship_flows.save_migration_details(
        migration=w.migration, details={"phone": "1"}, actor=a
    ),
    "frontdesk.confirm_migration": lambda w, a: relationship_flows.confirm_migration(
        migration=w.migration, actor=a
    ),
    "frontdesk.book_session": lambda w, a: relationship_flows.book_session(
        relationship=w.relationship, session_date=w.target_date, actor=a
    ),
    "frontdesk.rebook_coming_sessions": lambda w, a: relationship_flows.rebook_coming_sessions(
        relationship=w.relationship, booking_ids=[], subscription_ids=[], actor=a
    ),
    "frontdesk.subscribe_and_invoice": lambda w, a: relationship_flows.subscribe_and_invoice(
        relationship=w.relationship, session=w.target, first_date=w.target_date.date, actor=a
    ),
    "frontdesk.enrol_client": lambda w, a: enrolments.enrol_client(
        client=w.client,
        session=w.target,
        relationship=w.relationship,
        first_date=w.target_date.date,
        actor=a,
    ),
    "frontdesk.withdraw_subscription": lambda w, a: withdrawals.withdraw_subscription(
        subscription=w.subscription, last_date=timezone.localdate(), reason="cost", actor=a
    ),
    # the team (opus/team.py, frontdesk/team.py): staff only
    "opus.record_team_event": lambda w, a: team.record_team_event(
        user=w.practitioner, kind="role_changed", summary="x", actor=a
    ),
    "opus.invite_user": lambda w, a: team.invite_user(
        first_name="New", last_name="Person", email="new@example.com", role="staff", actor=a
    ),
    "opus.resend_invitation": lambda w, a: team.resend_invitation(user=w.invited, actor=a),
    "opus.change_role": lambda w, a: team.change_role(user=w.practitioner, role="staff", actor=a),
    "opus.check_can_deactivate": lambda w, a: team.check_can_deactivate(
        user=w.practitioner, actor=a
    ),
    "opus.deactivate_user": lambda w, a: team.deactivate_user(user=w.practitioner, actor=a),
    "opus.reactivate_user": lambda w, a: team.reactivate_user(user=w.invited, actor=a),
    "frontdesk.deactivate_team_member": lambda w, a: frontdesk_team.deactivate_team_member(
        user=w.practitioner, actor=a
    ),
    "opus.update_practice": lambda w, a: import_module("opus.practice").update_practice(
        data={"name": "Elsewhere", "invoice_due_days": 30, "card_link_days": 3}, actor=a
    ),
    # a person's own two-factor authentication: nobody else's, whatever their role
    "opus.confirm_two_factor": lambda w, a: two_factor.confirm_two_factor(
        user=w.session.practitioner, key=two_factor.new_secret(), code="123456", actor=a
    ),
    "opus.regenerate_backup_codes": lambda w, a: two_factor.regenerate_backup_codes(
        user=w.session.practitioner, actor=a
    ),
    "opus.turn_off_two_factor": lambda w, a: two_factor.turn_off_two_factor(
        user=w.session.practitioner, actor=a
    ),
}

# Called by a practitioner in a workflow that checked them (a rebooking writes the
# old payer's credits as Opus, and its history names the practitioner): they need
# an actor, and leave the check to their caller.
CHECKED_BY_THE_CALLER = {
    "clients.record_event",
    "billing.settle_old_payer",
    "opus.record_team_event",
}


@pytest.fixture
def world(staff, other_therapist):
    ServiceFactory()  # a second service: ids differ from the sessions'
    return World(staff, other_therapist)


def rows() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_every_service_with_an_actor_requires_it_by_name():
    found = services_taking_an_actor()
    assert len(found) >= 35
    assert set(found) == set(CALLS), "add the new service to CALLS (and its rule)"
    for name, function in found.items():
        parameter = inspect.signature(function).parameters["actor"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
        assert parameter.default is inspect.Parameter.empty, name


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_actor_is_refused_and_changes_nothing(name, world):
    before = rows()
    with pytest.raises(PermissionDenied):
        CALLS[name](world, None)
    assert rows() == before


@pytest.mark.parametrize("name", sorted(set(CALLS) - CHECKED_BY_THE_CALLER))
def test_a_practitioner_is_refused_what_is_not_theirs_and_nothing_changes(name, world, therapist):
    before = rows()
    with pytest.raises(PermissionDenied):
        CALLS[name](world, therapist)
    assert rows() == before

"""The session transfer's rules, whatever the UI sent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from billing import services as billing_services
from billing.gateway import CardDeclined
from billing.models import Invoice, Payment, PaymentAttempt
from billing.services import payments
from clients.models import ClientEvent
from devkit.models import SimulatedGatewayCharge
from frontdesk import transfers
from frontdesk.models import Transfer
from opus.lib.actors import SYSTEM
from opus.lib.errors import BusinessRuleError
from opus.models import OutboundEmail
from scheduling.models import Subscription
from tests.factories import RelationshipFactory, SubscriptionFactory, UserFactory, paid_invoice_for
from tests.support.billing import open_invoice, save_card
from tests.support.threads import run_together
from tests.support.transfer import PAY_LATER, draft_to

pytestmark = pytest.mark.django_db

CLOSE = transfers.Finish(transfers.FINISH_CLOSE_NOW, close_reason="Swap agreed, no charge")


def test_pay_later_ends_the_old_starts_the_new_and_bills_the_same_payer(world, staff):
    draft = draft_to(world, staff)
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    old = Subscription.objects.get(pk=world["subscription"].pk)
    new = outcome.transfer.to_subscription
    assert old.end_date == world["next_monday"]
    assert new.first_date == world["next_wednesday"] and new.end_date is None
    assert new.relationship == old.relationship  # the payer carries over
    assert new.price == Decimal("30.00")
    invoice = outcome.invoice
    assert invoice.status == "open" and invoice.payer == world["relationship"].payer
    assert invoice.number is not None and invoice.due_on > world["today"]
    transfer = Transfer.objects.get()
    assert (transfer.from_subscription, transfer.to_subscription, transfer.invoice) == (
        old,
        new,
        invoice,
    )
    assert transfer.actor == staff
    assert ClientEvent.objects.filter(client=old.client, kind="transferred").count() == 1
    assert OutboundEmail.objects.filter(template="invoice", client=invoice.payer).count() == 1


def test_close_now_closes_the_invoice_with_the_reason(world, staff):
    outcome = transfers.finish_transfer(draft=draft_to(world, staff), actor=staff, finish=CLOSE)
    assert outcome.invoice.status == "closed"
    assert outcome.invoice.close_reason == "Swap agreed, no charge"
    assert not OutboundEmail.objects.exists()


def test_pay_now_by_hand_records_the_payment(world, staff):
    finish = transfers.Finish(transfers.FINISH_PAY_NOW, method="cash", reference="Till 2")
    outcome = transfers.finish_transfer(draft=draft_to(world, staff), actor=staff, finish=finish)
    assert outcome.invoice.status == "paid"
    payment = Payment.objects.get()
    assert payment.method == "cash" and payment.amount == outcome.invoice.total


@pytest.mark.django_db(transaction=True)  # the card is charged after the commit
def test_pay_now_charges_the_payers_card_once(world, staff):
    save_card(world["relationship"].payer)
    finish = transfers.Finish(transfers.FINISH_PAY_NOW)
    draft = draft_to(world, staff)
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=finish)
    assert outcome.invoice.status == "paid" and outcome.charge_error is None
    attempt = PaymentAttempt.objects.get()
    assert attempt.request_key == f"transfer-{draft.public_id}"
    assert SimulatedGatewayCharge.objects.get().idempotency_key == attempt.idempotency_key
    again = transfers.finish_transfer(draft=draft, actor=staff, finish=finish)
    assert again.replayed and again.transfer == outcome.transfer
    assert SimulatedGatewayCharge.objects.count() == Payment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_declined_card_leaves_the_client_enrolled_and_the_invoice_open(world, staff):
    payer = world["relationship"].payer
    card = save_card(payer, number="4000000000009995")
    draft = draft_to(world, staff)
    outcome = transfers.finish_transfer(
        draft=draft, actor=staff, finish=transfers.Finish(transfers.FINISH_PAY_NOW)
    )
    # the transfer is done: the client is in the new session, the old one ends
    assert isinstance(outcome.charge_error, CardDeclined)
    assert Transfer.objects.get() == outcome.transfer
    assert Subscription.objects.get(pk=world["subscription"].pk).end_date == world["next_monday"]
    draft.refresh_from_db()
    assert draft.transfer == outcome.transfer
    # the invoice is open, due today; the decline is recorded and in the payer's history
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.due_on) == ("open", timezone.localdate())
    assert not Payment.objects.exists()
    attempt = outcome.attempt
    assert (attempt.status, attempt.decline_code) == ("declined", "insufficient_funds")
    assert ClientEvent.objects.filter(
        client=payer,
        summary=f"Visa ending 9995 declined (insufficient funds) on {invoice.display_number}",
    ).exists()
    # finishing again changes nothing and asks the processor nothing
    again = transfers.finish_transfer(
        draft=draft, actor=staff, finish=transfers.Finish(transfers.FINISH_PAY_NOW)
    )
    assert again.replayed and SimulatedGatewayCharge.objects.count() == 1
    # charging again from the invoice is a new attempt, with a new key
    with pytest.raises(CardDeclined):
        billing_services.charge_card(
            invoice=invoice, payment_method=card, request_key="invoice-page", actor=staff
        )
    keys = set(SimulatedGatewayCharge.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == 2 and attempt.idempotency_key in keys


def test_pay_now_without_a_card_on_file_says_what_to_do(world, staff):
    with pytest.raises(BusinessRuleError, match="no card on file"):
        transfers.finish_transfer(
            draft=draft_to(world, staff),
            actor=staff,
            finish=transfers.Finish(transfers.FINISH_PAY_NOW),
        )
    assert not Transfer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_killed_after_the_charge_the_transfer_stands_and_finishing_again_records_it_once(
    world, staff, monkeypatch
):
    save_card(world["relationship"].payer)
    draft = draft_to(world, staff)
    finish = transfers.Finish(transfers.FINISH_PAY_NOW)

    def killed(*args, **kwargs):
        raise SystemExit("the worker was killed after the processor charged")

    monkeypatch.setattr(payments, "_record_outcome", killed)
    with pytest.raises(SystemExit):
        transfers.finish_transfer(draft=draft, actor=staff, finish=finish)
    monkeypatch.undo()
    # committed before the charge: the transfer, its invoice and the attempt
    assert Transfer.objects.exists() and PaymentAttempt.objects.get().status == "pending"
    assert SimulatedGatewayCharge.objects.get().succeeded and not Payment.objects.exists()

    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=finish)
    assert outcome.replayed and outcome.invoice.status == "paid"
    assert SimulatedGatewayCharge.objects.count() == 1 and Payment.objects.count() == 1
    assert Payment.objects.get().idempotency_key == PaymentAttempt.objects.get().idempotency_key


# --- refusals -----------------------------------------------------------------------------
def test_a_full_first_date_is_refused(world, staff):
    SubscriptionFactory(session=world["wednesday"], first_date=world["wednesday"].first_date)
    with pytest.raises(BusinessRuleError, match="is full") as error:
        draft_to(world, staff)
    assert error.value.field == "first_date"


def test_a_first_date_filled_since_it_was_chosen_is_refused_at_the_end(world, staff):
    draft = draft_to(world, staff)
    SubscriptionFactory(session=world["wednesday"], first_date=world["wednesday"].first_date)
    with pytest.raises(BusinessRuleError, match="is full") as error:
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert error.value.field == "first_date"


def test_a_cancelled_first_date_is_refused(world, staff):
    day = world["wednesday"].dates.get(date=world["next_wednesday"])
    day.cancelled, day.cancel_reason = True, "Bank holiday"
    day.save()
    with pytest.raises(BusinessRuleError, match="cancelled"):
        transfers.finish_transfer(draft=draft_to(world, staff), actor=staff, finish=PAY_LATER)


def test_an_overlapping_subscription_in_the_target_is_refused(world, staff):
    SubscriptionFactory(
        relationship=world["relationship"],
        session=world["friday"],
        first_date=world["friday"].first_date,
    )
    draft = draft_to(world, staff, target="friday")
    with pytest.raises(BusinessRuleError, match="already has a subscription in that session"):
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert Subscription.objects.get(pk=world["subscription"].pk).end_date is None


def test_a_first_date_too_far_in_the_past_is_refused(world, staff, settings):
    settings.OPUS_TRANSFER_BACKDATE_DAYS = 7
    old_wednesday = world["next_wednesday"] - timedelta(weeks=3)
    with pytest.raises(BusinessRuleError, match="at most 7 days in the past"):
        draft_to(world, staff, first=old_wednesday)


def test_an_end_date_before_the_old_subscription_started_is_refused(world, staff):
    early = world["subscription"].first_date - timedelta(days=1)
    with pytest.raises(BusinessRuleError, match="cannot end before it started") as error:
        draft_to(world, staff, end=early)
    assert error.value.field == "end_date"


def test_the_same_session_is_refused(world, staff):
    draft = transfers.start_transfer(
        subscription=world["subscription"], transfer_date=world["next_monday"], actor=staff
    )
    with pytest.raises(BusinessRuleError, match="this is the one the client is in"):
        transfers.choose_target(draft=draft, session=world["monday"], actor=staff)


def test_a_practitioner_cannot_transfer(world, therapist):
    with pytest.raises(PermissionDenied, match="Only staff"):  # a permission (issue 10)
        transfers.start_transfer(
            subscription=world["subscription"], transfer_date=world["next_monday"], actor=therapist
        )


def test_the_final_step_rechecks_what_changed_since(world, staff):
    draft = draft_to(world, staff)
    Subscription.objects.filter(pk=world["subscription"].pk).update(
        first_date=world["next_monday"] + timedelta(weeks=1)
    )
    with pytest.raises(BusinessRuleError, match="cannot end before it started"):
        transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)


# --- checkout -------------------------------------------------------------------------------
def test_the_checkout_preview_is_the_invoice_that_will_be_issued(world, staff):
    draft = draft_to(world, staff)
    transfers.add_discount(actor=SYSTEM, draft=draft, percent=Decimal(10), reason="Loyalty")
    preview = transfers.preview(draft)
    assert not Invoice.objects.exists() and Subscription.objects.count() == 1  # rolled back
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert [(line.kind, line.amount) for line in preview.lines] == [
        (line.kind, line.amount) for line in outcome.invoice.lines.all()
    ]
    assert outcome.invoice.total == preview.totals["total"]


def test_a_discount_larger_than_the_invoice_is_refused_and_not_kept(world, staff):
    draft = draft_to(world, staff)
    with pytest.raises(BusinessRuleError):
        transfers.add_discount(
            actor=SYSTEM, draft=draft, amount=Decimal("100000"), reason="Too much"
        )
    draft.refresh_from_db()
    assert draft.discounts == []


def test_unused_paid_sessions_become_a_credit_only_when_asked(world, staff):
    sub = world["subscription"]
    paid_invoice_for(sub, 12, staff)
    open_invoice(relationship=world["relationship"], staff=staff)  # unpaid: not counted
    draft = draft_to(world, staff)
    unused = transfers.unused_value(sub, draft.end_date)
    assert unused.paid_sessions == 12
    assert unused.attended == 4  # the four Mondays before the transfer date
    assert unused.sessions == 8
    assert unused.value == Decimal("240.00")
    without = transfers.preview(draft)
    assert all(line.kind != "credit" for line in without.lines)
    transfers.set_credit(actor=SYSTEM, draft=draft, apply=True)
    with_credit = transfers.preview(draft)
    credit = [line for line in with_credit.lines if line.kind == "credit"]
    charges = with_credit.totals["charges"]
    assert credit and credit[0].amount == min(Decimal("240.00"), charges)
    assert with_credit.totals["total"] == max(charges - 240, 0)
    assert with_credit.unused.left_over == Decimal("240.00") - credit[0].amount


def test_pay_later_with_a_credit_that_covers_everything_issues_it_paid_and_sends_nothing(
    world, staff
):
    paid_invoice_for(world["subscription"], 12, staff)
    draft = draft_to(world, staff)
    transfers.set_credit(actor=SYSTEM, draft=draft, apply=True)
    outcome = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    assert outcome.invoice.total == 0 and outcome.invoice.status == Invoice.Status.PAID
    assert Transfer.objects.count() == 1
    assert not OutboundEmail.objects.filter(template="invoice").exists()


def test_absences_and_cancelled_dates_are_not_attended(world, staff):
    from scheduling.models import DateAbsence

    sub = world["subscription"]
    paid_invoice_for(sub, 6, staff)
    past = list(world["monday"].dates.filter(date__lt=world["next_monday"]).order_by("date"))
    DateAbsence.objects.create(subscription=sub, session_date=past[0])
    past[1].cancelled, past[1].cancel_reason = True, "Holiday"
    past[1].save()
    unused = transfers.unused_value(sub, world["next_monday"])
    assert unused.attended == len(past) - 2
    assert unused.sessions == 6 - unused.attended


# --- double submits and races ---------------------------------------------------------------------
def test_finishing_twice_makes_one_transfer(world, staff):
    draft = draft_to(world, staff)
    first = transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)
    second = transfers.finish_transfer(draft=draft, actor=staff, finish=CLOSE)
    assert second.replayed and second.transfer == first.transfer
    assert Transfer.objects.count() == 1 and Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_final_posts_makes_one_transfer(world, staff):
    draft = draft_to(world, staff)
    results = run_together(
        [lambda: transfers.finish_transfer(draft=draft, actor=staff, finish=PAY_LATER)] * 20
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert Transfer.objects.count() == 1 and Invoice.objects.count() == 1
    assert Subscription.objects.count() == 2
    assert Subscription.objects.filter(end_date__isnull=False).count() == 1
    assert OutboundEmail.objects.filter(template="invoice").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_subscription_to_two_sessions_at_once_one_wins(world, staff):
    one = draft_to(world, staff, target="wednesday")
    other = draft_to(world, staff, target="friday")
    results = run_together(
        [
            lambda: transfers.finish_transfer(draft=one, actor=staff, finish=PAY_LATER),
            lambda: transfers.finish_transfer(draft=other, actor=staff, finish=PAY_LATER),
        ]
    )
    errors = [r for r in results if isinstance(r, BusinessRuleError)]
    assert len(errors) == 1 and "already been transferred" in errors[0].message
    assert Transfer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_staff_into_the_last_seat_one_is_told_it_is_full(world, staff):
    """Friday has two seats and one is taken: Ava and another client race for the last."""
    SubscriptionFactory(
        relationship=RelationshipFactory(),
        session=world["friday"],
        first_date=world["friday"].first_date,
    )
    other_staff = UserFactory(role="staff")
    ours = draft_to(world, staff, target="friday")
    their_sub = SubscriptionFactory(
        relationship=RelationshipFactory(),
        session=world["wednesday"],
        first_date=world["wednesday"].first_date,
    )
    theirs = transfers.start_transfer(
        subscription=their_sub, transfer_date=world["next_wednesday"], actor=other_staff
    )
    transfers.choose_target(draft=theirs, session=world["friday"], actor=other_staff)
    transfers.choose_dates(
        draft=theirs,
        first_date=world["next_friday"],
        end_date=world["next_wednesday"],
        actor=other_staff,
    )
    results = run_together(
        [
            lambda: transfers.finish_transfer(draft=ours, actor=staff, finish=PAY_LATER),
            lambda: transfers.finish_transfer(draft=theirs, actor=other_staff, finish=PAY_LATER),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and "is full" in str(errors[0])
    assert Transfer.objects.count() == 1


def test_checkout_amounts_are_never_negative(world, staff):
    draft = draft_to(world, staff)
    transfers.add_discount(actor=SYSTEM, draft=draft, percent=Decimal(100), reason="Free month")
    assert transfers.preview(draft).totals["total"] == 0
    outcome = transfers.finish_transfer(
        draft=draft, actor=staff, finish=transfers.Finish(transfers.FINISH_PAY_NOW)
    )
    assert outcome.invoice.total == 0 and outcome.invoice.status == "paid"
    assert timezone.localdate() == outcome.invoice.issued_on


@pytest.mark.django_db(transaction=True)
def test_200_final_posts_from_20_browsers_make_one_transfer_and_no_500(world, staff):
    """docs/quality.md Reliability 1, through the real view: CSRF-free test clients, each
    its own logged-in session and database connection, ten posts each."""
    from django.test import Client as Browser
    from django.urls import reverse

    draft = draft_to(world, staff)
    finish = reverse("scheduling:transfer-finish", args=[draft.public_id])

    def ten_posts():
        browser = Browser()
        browser.force_login(staff)
        return [browser.post(finish, {"how": "pay_later"}).status_code for _ in range(10)]

    results = run_together([ten_posts] * 20)
    assert not [r for r in results if isinstance(r, Exception)]
    statuses = [status for posts in results for status in posts]
    assert len(statuses) == 200 and set(statuses) == {302}
    assert Transfer.objects.count() == 1 and Invoice.objects.count() == 1
    assert Subscription.objects.count() == 2
    assert Subscription.objects.filter(end_date__isnull=False).count() == 1
    assert OutboundEmail.objects.filter(template="invoice").count() == 1

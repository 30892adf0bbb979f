"""Withdrawal (frontdesk.withdrawals): every rule and refusal, the money left unused."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from billing.rebilling import unused_value
from clients.models import ClientEvent
from frontdesk.models import Transfer, Withdrawal
from frontdesk.withdrawals import end_date_after, plan_withdrawal, withdraw_subscription
from opus.lib.errors import BusinessRuleError
from opus.mail import EMAIL_KINDS, build_message
from opus.models import OutboundEmail
from scheduling.models import DateAbsence, SessionDate, Subscription
from tests.factories import SubscriptionFactory, paid_invoice_for

pytestmark = pytest.mark.django_db

NOV_2 = date(2026, 11, 2)
NOV_30 = date(2026, 11, 30)
DEC_7 = date(2026, 12, 7)


@pytest.fixture
def sub(w):
    """Sam, paid for by Oliver, in the Monday session since 2 Nov."""
    return SubscriptionFactory(relationship=w.sam_rel, session=w.session, first_date=NOV_2)


def _withdraw(sub, actor, **extra):
    extra.setdefault("last_date", NOV_30)
    extra.setdefault("reason", Withdrawal.Reason.MOVED_AWAY)
    return withdraw_subscription(subscription=sub, actor=actor, **extra)


def test_withdrawing_ends_the_subscription_after_the_last_date(w, sub, staff):
    result = _withdraw(sub, staff, note="To Leeds")
    sub.refresh_from_db()
    assert sub.end_date == DEC_7  # the first date no longer attended
    withdrawal = Withdrawal.objects.get()
    assert withdrawal == result.withdrawal and withdrawal.subscription == sub
    assert (withdrawal.last_date, withdrawal.reason, withdrawal.note) == (
        NOV_30,
        "moved_away",
        "To Leeds",
    )
    assert withdrawal.actor == staff and not withdrawal.payer_emailed
    event = ClientEvent.objects.get(client=w.sam, kind=ClientEvent.Kind.WITHDRAWN)
    assert "after Mon 30 Nov 2026 (moved away)" in event.summary
    assert not OutboundEmail.objects.exists()


def test_the_end_date_is_the_next_session_date_or_the_day_after(w, sub):
    assert end_date_after(sub, NOV_30) == DEC_7
    assert end_date_after(sub, date(2026, 12, 1)) == DEC_7
    assert end_date_after(sub, date(2027, 2, 22)) == date(2027, 2, 23)  # none generated after


def test_what_is_left_paid_and_unused_is_the_transfers_money_function(w, sub, staff):
    paid_invoice_for(sub, 8, staff)  # 2 Nov to 21 Dec
    plan = plan_withdrawal(subscription=sub, last_date=NOV_30)
    assert plan.unused == unused_value(sub, DEC_7)
    assert plan.unused.sessions == 3 and plan.unused.value == Decimal("90.00")
    assert plan.unused_dates == [DEC_7, date(2026, 12, 14), date(2026, 12, 21)]
    assert plan.preview == [
        "£90.00 paid by Oliver Grant will be left unused: 3 sessions "
        "(Mon 7 Dec, Mon 14 Dec and Mon 21 Dec 2026).",
        "It is to be refunded or credited by staff: Opus does not move that money yet.",
    ]
    result = _withdraw(sub, staff)
    assert result.plan.unused.value == Decimal("90.00")
    event = ClientEvent.objects.get(client=w.sam, kind=ClientEvent.Kind.WITHDRAWN)
    assert "£90.00 paid by Oliver Grant is left unused" in event.summary


def test_nothing_unused_is_said_so(w, sub):
    plan = plan_withdrawal(subscription=sub, last_date=NOV_30)
    assert plan.preview == ["Nothing Oliver Grant paid is left unused after the last date."]


def test_a_cancelled_date_is_not_among_the_unused_dates(w, sub, staff):
    paid_invoice_for(sub, 7, staff)
    SessionDate.objects.filter(session=w.session, date=DEC_7).update(
        cancelled=True, cancel_reason="Closed"
    )
    plan = plan_withdrawal(subscription=sub, last_date=NOV_30)
    assert plan.unused.sessions == 2
    assert plan.unused_dates == [date(2026, 12, 14), date(2026, 12, 21)]


def test_the_payer_may_be_emailed_through_the_outbox(w, sub, staff):
    _withdraw(sub, staff, email_payer=True)
    row = OutboundEmail.objects.get()
    assert row.template == "withdrawal" and row.to_address == w.oliver.email
    assert row.client == w.oliver
    assert Withdrawal.objects.get().payer_emailed


def test_the_email_says_who_no_longer_attends(w, sub, staff):
    _withdraw(sub, staff, email_payer=True)
    row = OutboundEmail.objects.get()
    context = EMAIL_KINDS["withdrawal"].context(row)
    message = build_message("withdrawal", to=row.to_address, context=context)
    assert (
        message.subject == "Sam Rivera's Piano, 30 min private sessions end after 30 November 2026"
    )
    assert "Sam Rivera no longer attends Piano, 30 min private on Mondays" in message.body


def test_a_payer_without_email_cannot_be_emailed(w, sub, staff):
    w.oliver.email = ""
    w.oliver.save()
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(sub, staff, email_payer=True)
    assert refused.value.field == "email_payer"
    assert refused.value.message == (
        "Oliver Grant has no email address: add one on their profile, or withdraw without "
        "the email."
    )
    assert not Withdrawal.objects.exists()
    assert Subscription.objects.get(pk=sub.pk).end_date is None


def test_other_needs_a_note(w, sub, staff):
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(sub, staff, reason=Withdrawal.Reason.OTHER, note="  ")
    assert (refused.value.field, refused.value.message) == (
        "note",
        "Say why, in a note, when the reason is Other.",
    )
    assert _withdraw(sub, staff, reason="other", note="Exams").withdrawal.note == "Exams"


def test_an_unknown_reason_is_refused(w, sub, staff):
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(sub, staff, reason="bored")
    assert refused.value.message == "Choose the reason for the withdrawal."


def test_a_last_date_before_the_first_date_is_refused(w, staff):
    later = SubscriptionFactory(relationship=w.ava_rel, session=w.session, first_date=DEC_7)
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(later, staff, last_date=NOV_30)
    assert refused.value.field == "last_date"
    assert refused.value.message == (
        "The last date cannot be before the subscription's first date (Mon 7 Dec 2026)."
    )


def test_a_last_date_further_back_than_allowed_is_refused(w, sub, staff, settings):
    settings.OPUS_ENROL_BACKDATE_DAYS = 14
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(sub, staff, last_date=date(2026, 11, 16))
    assert refused.value.message == (
        "The last date can be at most 14 days in the past (no earlier than 18 Nov 2026)."
    )
    assert _withdraw(sub, staff, last_date=date(2026, 11, 23)).withdrawal


def test_an_ended_subscription_is_refused(w, staff):
    ended = SubscriptionFactory(
        relationship=w.ava_rel, session=w.session, first_date=NOV_2, end_date=NOV_30
    )
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(ended, staff, last_date=date(2026, 11, 23))
    assert refused.value.message == (
        "This subscription has already ended (30 Nov 2026 was the first date no longer "
        "attended): there is nothing to withdraw from."
    )


def test_a_later_last_date_than_the_subscription_already_ends_is_refused(w, staff):
    ending = SubscriptionFactory(
        relationship=w.ava_rel, session=w.session, first_date=NOV_2, end_date=DEC_7
    )
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(ending, staff, last_date=date(2026, 12, 14))
    assert "already ends before then" in refused.value.message


def test_a_transferred_subscription_is_not_withdrawn(w, sub, staff):
    to = SubscriptionFactory(relationship=w.sam_rel, first_date=DEC_7)
    Transfer.objects.create(
        from_subscription=sub, to_subscription=to, transfer_date=DEC_7, actor=staff
    )
    with pytest.raises(BusinessRuleError) as refused:
        _withdraw(sub, staff)
    assert "This subscription was transferred" in refused.value.message
    assert not Withdrawal.objects.exists()


def test_withdrawing_twice_withdraws_once(w, sub, staff):
    first = _withdraw(sub, staff, email_payer=True)
    again = _withdraw(sub, staff, email_payer=True, last_date=date(2026, 12, 14))
    assert again.replayed and again.withdrawal == first.withdrawal
    assert Subscription.objects.get(pk=sub.pk).end_date == DEC_7
    assert OutboundEmail.objects.count() == 1
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.WITHDRAWN).count() == 1


def test_absences_after_the_end_are_dropped(w, sub, staff):
    later = SessionDate.objects.get(session=w.session, date=DEC_7 + timedelta(weeks=2))
    DateAbsence.objects.create(subscription=sub, session_date=later)
    _withdraw(sub, staff)
    assert not DateAbsence.objects.exists()


def test_the_sessions_practitioner_may_withdraw_another_may_not(w, sub, therapist, other_therapist):
    with pytest.raises(PermissionDenied):
        _withdraw(sub, other_therapist)
    assert not Withdrawal.objects.exists()
    assert _withdraw(sub, therapist).withdrawal.actor == therapist


def test_no_actor_is_refused(w, sub):
    with pytest.raises(PermissionDenied):
        _withdraw(sub, None)

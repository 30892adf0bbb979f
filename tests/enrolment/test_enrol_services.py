"""Enrolment at the front desk (frontdesk.enrolments): every rule and refusal."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError

from billing.models import Invoice, InvoiceLine
from clients.models import ClientEvent
from clients.services import archive_client
from frontdesk import enrolments
from frontdesk.enrolments import default_relationship, enrol_client, relationships_for
from frontdesk.models import Enrolment
from opus.lib.errors import BusinessRuleError
from relationships.models import Relationship
from scheduling.models import DateAbsence, SessionDate, Subscription
from scheduling.services import FullDates
from tests.factories import ClientFactory, RelationshipFactory, SessionFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _enrol(w, actor, *, client=None, relationship=None, first_date=None, **extra):
    return enrol_client(
        client=client or w.ava,
        session=extra.pop("session", w.session),
        relationship=relationship or w.ava_rel,
        first_date=first_date or w.next_monday,
        actor=actor,
        **extra,
    )


def _fill(w, day: date, count: int = 2) -> None:
    """One-date subscriptions of other clients that take ``count`` places on ``day``."""
    for _ in range(count):
        SubscriptionFactory(session=w.session, first_date=day, end_date=day + timedelta(days=1))


def test_enrolling_subscribes_invoices_the_payer_and_records_it(w, staff):
    result = _enrol(w, staff, client=w.sam, relationship=w.sam_rel)
    subscription = result.subscription
    assert (subscription.client, subscription.relationship) == (w.sam, w.sam_rel)
    assert subscription.first_date == w.next_monday and subscription.end_date is None
    assert subscription.price == Decimal("30.00")
    invoice = result.invoice
    assert invoice.payer == w.oliver and invoice.status == Invoice.Status.OPEN
    line = invoice.lines.get()
    assert line.subscription == subscription and line.kind == InvoiceLine.Kind.CHARGE
    assert line.description == "Piano, 30 min private: first session"
    record = Enrolment.objects.get()
    assert (record.subscription, record.invoice, record.actor) == (subscription, invoice, staff)
    event = ClientEvent.objects.get(client=w.sam, kind=ClientEvent.Kind.ENROLLED)
    assert "Piano, 30 min private" in event.summary and event.actor == staff
    assert not result.replayed and result.skipped == []


def test_the_same_submission_twice_enrols_once(w, staff):
    first = _enrol(w, staff, request_key="k1")
    again = _enrol(w, staff, request_key="k1")
    assert again.replayed and again.subscription == first.subscription
    assert again.invoice == first.invoice
    assert Subscription.objects.count() == 1 and Invoice.objects.count() == 1
    assert ClientEvent.objects.filter(kind=ClientEvent.Kind.ENROLLED).count() == 1


def test_an_overlapping_subscription_in_the_same_session_is_refused(w, staff):
    _enrol(w, staff)
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, first_date=w.next_monday + timedelta(weeks=3))
    assert refused.value.field == "first_date"
    assert "Ava is already enrolled in this session on or after that date" in refused.value.message
    assert Subscription.objects.count() == 1 and Invoice.objects.count() == 1


def test_an_earlier_subscription_that_ended_does_not_overlap(w, staff):
    SubscriptionFactory(
        relationship=w.ava_rel,
        session=w.session,
        first_date=w.session.first_date,
        end_date=w.next_monday,
    )
    assert _enrol(w, staff).subscription.first_date == w.next_monday


def test_an_overlap_made_since_the_check_is_refused_by_the_database(w, staff, monkeypatch):
    _enrol(w, staff)
    monkeypatch.setattr(enrolments, "_check_enrolment", lambda **kwargs: None)
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, first_date=w.next_monday + timedelta(weeks=1))
    assert "already enrolled in this session" in refused.value.message
    assert Subscription.objects.count() == 1


def test_the_database_itself_refuses_an_overlap(w, staff):
    _enrol(w, staff)
    with pytest.raises(IntegrityError):
        SubscriptionFactory(relationship=w.ava_rel, session=w.session, first_date=w.next_monday)


def test_a_full_first_date_is_refused(w, staff):
    _fill(w, w.next_monday)
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert refused.value.message == "Mon 7 Dec 2026 is full: choose another first date or session."
    assert not Subscription.objects.filter(client=w.ava).exists()
    assert not Invoice.objects.exists()


def test_a_session_full_for_good_is_refused(w, staff):
    for _ in range(2):
        SubscriptionFactory(session=w.session, first_date=w.next_monday + timedelta(weeks=1))
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert refused.value.message == (
        "Piano, 30 min private on Mondays has no place free for good: every place is taken by "
        "subscriptions with no end. Choose another session."
    )
    assert not Subscription.objects.filter(client=w.ava).exists()


def test_later_full_dates_are_listed_and_can_be_skipped(w, staff):
    full = [w.next_monday + timedelta(weeks=2), w.next_monday + timedelta(weeks=4)]
    for day in full:
        _fill(w, day)
    with pytest.raises(FullDates) as refused:
        _enrol(w, staff)
    assert refused.value.dates == full
    assert refused.value.message == (
        "Full on Mon 21 Dec and Mon 4 Jan 2027: choose a later first date, or accept with "
        "those dates skipped."
    )
    assert not Subscription.objects.filter(client=w.ava).exists()
    result = _enrol(w, staff, skip=full)
    assert result.skipped == full
    assert (
        sorted(
            DateAbsence.objects.filter(subscription=result.subscription).values_list(
                "session_date__date", flat=True
            )
        )
        == full
    )


def test_a_first_date_in_the_past_within_the_backdate_is_accepted(w, staff, settings):
    settings.OPUS_ENROL_BACKDATE_DAYS = 14
    assert _enrol(w, staff, first_date=w.last_monday).subscription.first_date == w.last_monday


def test_a_first_date_further_in_the_past_than_the_practice_allows_is_refused(w, staff, settings):
    settings.OPUS_ENROL_BACKDATE_DAYS = 7
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, first_date=w.last_monday - timedelta(weeks=1))
    assert refused.value.field == "first_date"
    assert refused.value.message == (
        "The first date can be at most 7 days in the past (no earlier than 25 Nov 2026)."
    )


def test_a_day_the_session_does_not_run_is_refused(w, staff):
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, first_date=w.next_monday + timedelta(days=1))
    assert refused.value.message == (
        "The session does not run on Tue 8 Dec 2026: it runs on Mondays."
    )


def test_a_cancelled_first_date_is_refused(w, staff):
    SessionDate.objects.filter(session=w.session, date=w.next_monday).update(
        cancelled=True, cancel_reason="Snow"
    )
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert refused.value.message == "Mon 7 Dec 2026 is cancelled (Snow): choose another first date."


def test_a_first_date_after_the_session_ends_is_refused(w, staff):
    w.session.last_date = w.next_monday
    w.session.save()
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, first_date=w.next_monday + timedelta(weeks=1))
    assert "This session ends on 7 Dec 2026" in refused.value.message


def test_a_retired_service_takes_no_enrolment(w, staff):
    w.service.is_active = False
    w.service.save()
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert refused.value.message == "Piano, 30 min private is retired: it takes no new enrolments."


def test_another_clients_relationship_is_refused(w, staff):
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff, client=w.ava, relationship=w.sam_rel)
    assert refused.value.field == "relationship"
    assert "This relationship is not Ava's" in refused.value.message


def test_an_ended_relationship_is_refused(w, staff):
    Relationship.objects.filter(pk=w.ava_rel.pk).update(
        status=Relationship.Status.ENDED, ended_on=w.last_monday
    )
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert "This relationship has ended" in refused.value.message


def test_an_archived_client_is_refused(w, staff):
    archive_client(client=w.ava, actor=staff)
    with pytest.raises(BusinessRuleError) as refused:
        _enrol(w, staff)
    assert refused.value.message == "Ava Adams is archived: nobody can enrol them."


def test_the_sessions_practitioner_may_enrol_another_may_not(w, therapist, other_therapist):
    assert _enrol(w, therapist).subscription.created_by == therapist
    with pytest.raises(PermissionDenied):
        _enrol(w, other_therapist, client=w.sam, relationship=w.sam_rel)
    assert not Subscription.objects.filter(client=w.sam).exists()


def test_a_practitioner_may_not_use_a_relationship_they_cannot_see(w, therapist, other_therapist):
    hidden = RelationshipFactory(payer=ClientFactory(), practitioner=other_therapist)
    with pytest.raises(PermissionDenied):
        _enrol(w, therapist, client=hidden.attendee, relationship=hidden)


def test_the_default_payer_is_the_first_party_one_or_the_single_active_one(w, staff):
    assert default_relationship(relationships_for(w.ava, staff)) == w.ava_rel
    assert default_relationship(relationships_for(w.sam, staff)) == w.sam_rel
    RelationshipFactory(payer=ClientFactory(), attendee=w.sam)
    assert default_relationship(relationships_for(w.sam, staff)) is None  # choose
    RelationshipFactory(payer=w.sam, attendee=w.sam)
    assert default_relationship(relationships_for(w.sam, staff)).payer == w.sam


def test_the_sessions_offered_are_active_ones_the_user_sees(w, staff, therapist, other_therapist):
    retired = SessionFactory(practitioner=therapist)
    retired.service.is_active = False
    retired.service.save()
    ended = SessionFactory(
        practitioner=therapist, last_date=date(2026, 11, 2), first_date=date(2026, 10, 5)
    )
    others = SessionFactory(practitioner=other_therapist)
    offered = set(enrolments.enrollable_sessions(therapist, today=date(2026, 12, 2)))
    assert offered == {w.session}
    assert others in set(enrolments.enrollable_sessions(staff, today=date(2026, 12, 2)))
    assert ended not in set(enrolments.enrollable_sessions(staff, today=date(2026, 12, 2)))

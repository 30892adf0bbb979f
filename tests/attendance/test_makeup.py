"""Make-up credits (issue 12): a cancellation in time earns one when the service's
policy gives them; "Book once" spends it on a session of the same service before
it expires, invoicing nothing; the profile shows it with its expiry."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing.models import Invoice
from clients.models import ClientEvent
from frontdesk.relationship_flows import book_session, end_relationship
from opus.lib.errors import BusinessRuleError
from scheduling.attendance import mark_attendance
from scheduling.models import Booking, MakeupCredit
from scheduling.services import undo_unenroll_from_date, unenroll_from_date
from tests.factories import RelationshipFactory, SessionDateFactory, SessionFactory
from tests.support.practice import assume_practice
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def makeups(lesson):
    """The piano service gives a make-up credit for 3 weeks; a Thursday session of
    the same service has a place on 12 March (and on 2 April, past the expiry of
    a credit for 10 March)."""
    lesson.service.makeup_credits = True
    lesson.service.makeup_weeks = 3
    lesson.service.save()
    thursday = SessionFactory(
        service=lesson.service,
        practitioner=lesson.session.practitioner,
        weekday=3,
        first_date=date(2026, 3, 5),
    )
    lesson.thursday = SessionDateFactory(session=thursday, date=date(2026, 3, 12))
    lesson.too_late = SessionDateFactory(session=thursday, date=date(2026, 4, 2))
    return lesson


def _credit_for_next_tuesday(w, staff):
    unenroll_from_date(subscription=w.sam_sub, session_date=w.coming, actor=staff)
    return MakeupCredit.objects.get(client=w.sam)


# --- earning ---------------------------------------------------------------------------------
def test_a_cancellation_in_time_earns_a_credit_for_the_policys_weeks(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    assert (credit.service, credit.missed) == (makeups.service, makeups.coming)
    assert credit.expires_on == date(2026, 3, 31)  # 10 March + 3 weeks
    summary = ClientEvent.objects.filter(client=makeups.sam).latest("pk").summary
    assert summary.endswith(
        "(absent by request, told in time; a make-up credit, to use by Tue 31 Mar 2026)"
    )


def test_a_late_cancellation_earns_none(makeups, staff, frozen):
    frozen.move_to(datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Europe/London")))  # 1 h ahead
    unenroll_from_date(subscription=makeups.sam_sub, session_date=makeups.coming, actor=staff)
    assert not MakeupCredit.objects.exists()


def test_no_credit_when_the_policy_gives_none(lesson, staff):
    assume_practice(makeup_credits=False)
    unenroll_from_date(subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff)
    assert not MakeupCredit.objects.exists()


def test_the_practice_default_gives_credits_to_a_service_without_its_own_rule(lesson, staff):
    lesson.service.makeup_credits = None
    lesson.service.makeup_weeks = None
    lesson.service.save()
    assume_practice(makeup_credits=True, makeup_weeks=2)
    unenroll_from_date(subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff)
    assert MakeupCredit.objects.get().expires_on == date(2026, 3, 24)


def test_the_attendance_mark_absent_in_time_earns_one_and_changing_it_withdraws_it(makeups, staff):
    mark_attendance(session_date=makeups.today, client=makeups.ava, mark="absent", actor=staff)
    credit = MakeupCredit.objects.get(client=makeups.ava)
    assert credit.expires_on == date(2026, 3, 24) and credit.withdrawn_at is None
    mark_attendance(session_date=makeups.today, client=makeups.ava, mark="no_show", actor=staff)
    credit.refresh_from_db()
    assert credit.withdrawn_at is not None
    last = ClientEvent.objects.filter(client=makeups.ava).latest("pk").summary
    assert last.endswith("; its make-up credit withdrawn")
    # absent again: the same credit comes back, not a second one
    mark_attendance(session_date=makeups.today, client=makeups.ava, mark="absent", actor=staff)
    assert MakeupCredit.objects.filter(client=makeups.ava).count() == 1
    assert MakeupCredit.objects.get(client=makeups.ava).withdrawn_at is None


def test_undoing_the_unenrollment_withdraws_the_unused_credit(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    assert undo_unenroll_from_date(
        subscription=makeups.sam_sub, session_date=makeups.coming, actor=staff
    )
    credit.refresh_from_db()
    assert credit.withdrawn_at is not None
    assert "its make-up credit withdrawn" in ClientEvent.objects.latest("pk").summary


# --- spending ---------------------------------------------------------------------------------
def test_book_once_with_the_credit_invoices_nothing_and_uses_it(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    invoices = Invoice.objects.count()
    booking = book_session(
        relationship=makeups.third_party,
        session_date=makeups.thursday,
        actor=staff,
        use_makeup=True,
    )
    credit.refresh_from_db()
    assert credit.used_by == booking and credit.used_at is not None
    assert booking.price == 0 and Invoice.objects.count() == invoices
    assert (
        ClientEvent.objects.filter(client=makeups.sam)
        .latest("pk")
        .summary.endswith("with the make-up credit from Tue 10 Mar 2026")
    )
    # the credit is spent: a second make-up booking is refused, nothing changes
    other = SessionDateFactory(session=makeups.thursday.session, date=date(2026, 3, 19))
    with pytest.raises(BusinessRuleError, match="no make-up credit"):
        book_session(
            relationship=makeups.third_party, session_date=other, actor=staff, use_makeup=True
        )
    assert Booking.objects.filter(session_date=other).count() == 0


def test_a_used_credit_blocks_undoing_the_cancellation_that_earned_it(makeups, staff):
    _credit_for_next_tuesday(makeups, staff)
    book_session(
        relationship=makeups.third_party,
        session_date=makeups.thursday,
        actor=staff,
        use_makeup=True,
    )
    with pytest.raises(BusinessRuleError, match="used on Thu 12 Mar 2026: cancel that booking"):
        undo_unenroll_from_date(
            subscription=makeups.sam_sub, session_date=makeups.coming, actor=staff
        )
    assert makeups.sam_sub.absences.filter(session_date=makeups.coming).exists()


def test_a_credit_is_not_usable_after_it_expires_nor_for_another_service(makeups, staff):
    _credit_for_next_tuesday(makeups, staff)
    with pytest.raises(BusinessRuleError, match="no make-up credit"):
        book_session(
            relationship=makeups.third_party,
            session_date=makeups.too_late,
            actor=staff,
            use_makeup=True,
        )
    guitar = SessionDateFactory(
        session=SessionFactory(weekday=3, first_date=date(2026, 3, 5)), date=date(2026, 3, 12)
    )
    with pytest.raises(BusinessRuleError, match="no make-up credit"):
        book_session(
            relationship=makeups.third_party, session_date=guitar, actor=staff, use_makeup=True
        )
    assert MakeupCredit.objects.get().used_by is None


def test_one_credit_per_client_and_missed_date_is_held_by_the_database(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        MakeupCredit.objects.create(
            client=credit.client,
            service=credit.service,
            missed=credit.missed,
            expires_on=credit.expires_on,
        )


def test_a_used_credit_must_say_when_and_cannot_be_withdrawn(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    booking = book_session(
        relationship=makeups.third_party,
        session_date=makeups.thursday,
        actor=staff,
        use_makeup=True,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        MakeupCredit.objects.filter(pk=credit.pk).update(used_at=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        MakeupCredit.objects.filter(pk=credit.pk).update(withdrawn_at=booking.created_at)


# --- the pages --------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "fragment"])
def test_book_once_offers_the_credit_and_uses_it(makeups, staff, headers):
    _credit_for_next_tuesday(makeups, staff)
    desk = logged_in(staff)
    url = reverse("scheduling:book-once", args=[makeups.thursday.pk])
    page = desk.get(url, {"client": makeups.sam.pk}, **headers).content.decode()
    assert ("<html" in page) is not bool(headers)
    assert "Use a make-up credit" in page
    assert "For the date missed on Tue 10 Mar 2026, valid until Tue 31 Mar 2026" in page
    assert 'name="use_makeup"' in page and "checked" in page
    response = desk.post(
        url,
        {"client": makeups.sam.pk, "relationship": makeups.third_party.pk, "use_makeup": "on"},
        **headers,
        follow=not headers,
    )
    assert response.status_code == 200
    if headers:
        assert response["HX-Redirect"] == reverse(
            "scheduling:session-date", args=[makeups.thursday.pk]
        )
    booking = Booking.objects.get(session_date=makeups.thursday)
    assert booking.makeup_credit.missed == makeups.coming and booking.price == 0
    if not headers:
        assert "with a make-up credit: nothing invoiced" in response.content.decode()


def test_book_once_without_a_credit_does_not_offer_one(lesson, staff):
    page = logged_in(staff).get(
        reverse("scheduling:book-once", args=[lesson.coming.pk]), {"client": lesson.sam.pk}
    )
    assert "make-up credit" not in page.content.decode()


def test_asking_for_a_credit_that_is_gone_books_nothing_and_says_so(makeups, staff):
    credit = _credit_for_next_tuesday(makeups, staff)
    credit.withdrawn_at = credit.created_at + timedelta(seconds=1)
    credit.save()
    url = reverse("scheduling:book-once", args=[makeups.thursday.pk])
    page = logged_in(staff).post(
        url,
        {"client": makeups.sam.pk, "relationship": makeups.third_party.pk, "use_makeup": "on"},
        **HX,
    )
    assert "The make-up credit is no longer available" in page.content.decode()
    assert "<html" not in page.content.decode()
    assert not Booking.objects.filter(session_date=makeups.thursday).exists()


def test_the_profile_shows_the_credits_with_their_expiry(makeups, staff, therapist):
    _credit_for_next_tuesday(makeups, staff)
    page = logged_in(staff).get(reverse("clients:detail", args=[makeups.sam.pk])).content.decode()
    assert "Make-up credits" in page
    assert "missed Tue 10 Mar 2026" in page and "use by Tue 31 Mar 2026" in page
    book_session(
        relationship=makeups.third_party,
        session_date=makeups.thursday,
        actor=staff,
        use_makeup=True,
    )
    page = logged_in(therapist).get(reverse("clients:detail", args=[makeups.sam.pk]))
    assert "Used" in page.content.decode() and "Thu 12 Mar 2026" in page.content.decode()


# --- a make-up booking cancelled or moved --------------------------------------------------
def _made_up(w, staff) -> Booking:
    _credit_for_next_tuesday(w, staff)
    return book_session(
        relationship=w.third_party, session_date=w.thursday, actor=staff, use_makeup=True
    )


def test_a_cancelled_make_up_booking_gives_the_credit_back(makeups, staff):
    booking = _made_up(makeups, staff)
    end_relationship(
        relationship=makeups.third_party,
        ended_on=date(2026, 3, 3),
        reason="Moving away",
        actor=staff,
        coming="end",
    )
    booking.refresh_from_db()
    credit = MakeupCredit.objects.get()
    assert booking.status == Booking.Status.CANCELLED
    assert credit.used_by is None and credit.used_at is None
    assert "its make-up credit is back, a make-up credit, to use by Tue 31 Mar 2026" in (
        ClientEvent.objects.filter(kind=ClientEvent.Kind.BOOKING_CANCELLED).get().summary
    )


def test_a_rebooked_make_up_booking_keeps_its_credit(makeups, staff):
    booking = _made_up(makeups, staff)
    own = RelationshipFactory(payer=makeups.sam, attendee=makeups.sam)
    end_relationship(
        relationship=makeups.third_party,
        ended_on=date(2026, 3, 3),
        reason="Sam pays now",
        actor=staff,
        coming="move",
        move_to=own,
    )
    booking.refresh_from_db()
    credit = MakeupCredit.objects.get()
    assert credit.used_by == booking.rebooked_as and credit.used_by.relationship == own
    assert credit.used_by.price == 0

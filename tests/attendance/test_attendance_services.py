"""Marking attendance: the rules, the policy applied, the history, the refusals."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.models import ClientEvent
from opus.lib.errors import BusinessRuleError
from scheduling.attendance import mark_all_present, mark_attendance
from scheduling.models import Attendance, DateAbsence, SessionDate
from scheduling.selectors import attendance_summary, roster_for
from scheduling.services import unenroll_from_date
from tests.factories import ClientFactory
from tests.support.practice import assume_practice

pytestmark = pytest.mark.django_db

LATE = Attendance.Mark.LATE_CANCELLED


def events(client):
    return ClientEvent.objects.filter(client=client, kind=ClientEvent.Kind.ATTENDANCE)


def test_marking_records_who_when_and_a_history_line(lesson, staff):
    attendance = mark_attendance(
        session_date=lesson.today, client=lesson.sam, mark="present", actor=staff
    )
    assert attendance.marked_by == staff and attendance.subscription == lesson.sam_sub
    assert attendance.chargeable is True
    event = events(lesson.sam).get()
    assert event.summary == "Marked present on Piano, 30 min private, Tue 3 Mar 2026"
    assert event.actor == staff and event.practitioner_id == lesson.session.practitioner_id


def test_changing_a_mark_keeps_the_change_in_history(lesson, staff):
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=staff)
    attendance = mark_attendance(
        session_date=lesson.today, client=lesson.sam, mark=LATE, actor=staff
    )
    assert Attendance.objects.get().mark == LATE and attendance.chargeable is True
    assert events(lesson.sam).first().summary == (
        "Marked late-cancelled on Piano, 30 min private, Tue 3 Mar 2026 (was present): "
        "charged by the policy"
    )
    assert events(lesson.sam).count() == 2


def test_the_same_mark_twice_does_one_thing(lesson, staff):
    for _ in range(2):
        mark_attendance(session_date=lesson.today, client=lesson.sam, mark="no_show", actor=staff)
    assert Attendance.objects.count() == 1 and events(lesson.sam).count() == 1


def test_a_booking_is_marked_through_it(lesson, therapist):
    attendance = mark_attendance(
        session_date=lesson.today, client=lesson.mia, mark="absent", actor=therapist
    )
    assert attendance.booking == lesson.mia_booking and attendance.subscription is None
    assert attendance.chargeable is False


@pytest.mark.parametrize(
    "service_policy, mark, chargeable",
    [
        ({}, "late_cancelled", True),
        ({}, "no_show", True),
        ({"charge_late_cancellations": False}, "late_cancelled", False),
        ({"charge_no_shows": False}, "no_show", False),
        ({"charge_no_shows": False}, "late_cancelled", True),
        ({}, "absent", False),
    ],
)
def test_the_mark_applies_the_services_policy(lesson, staff, service_policy, mark, chargeable):
    for name, value in service_policy.items():
        setattr(lesson.service, name, value)
    lesson.service.save()
    attendance = mark_attendance(
        session_date=lesson.today, client=lesson.ava, mark=mark, actor=staff
    )
    assert attendance.chargeable is chargeable


def test_the_practice_default_applies_where_the_service_sets_none(lesson, staff):
    assume_practice(charge_no_shows=False)
    attendance = mark_attendance(
        session_date=lesson.today, client=lesson.ava, mark="no_show", actor=staff
    )
    assert attendance.chargeable is False
    assert "not charged by the policy" in events(lesson.ava).get().summary


def test_all_present_marks_the_unmarked_attending_clients_only(lesson, staff):
    unenroll_from_date(subscription=lesson.ava_sub, session_date=lesson.coming, actor=staff)
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="no_show", actor=staff)
    assert mark_all_present(session_date=lesson.today, actor=staff) == 2  # Ava and Mia
    marks = dict(Attendance.objects.values_list("client__first_name", "mark"))
    assert marks == {"Sam": "no_show", "Ava": "present", "Mia": "present"}
    assert mark_all_present(session_date=lesson.today, actor=staff) == 0
    assert events(lesson.mia).count() == 1


def test_all_present_skips_the_absent_by_request(lesson, staff, frozen):
    frozen.move_to(lesson.coming.starts_at - timedelta(days=2))
    unenroll_from_date(subscription=lesson.ava_sub, session_date=lesson.coming, actor=staff)
    frozen.move_to(lesson.coming.starts_at + timedelta(minutes=1))
    assert mark_all_present(session_date=lesson.coming, actor=staff) == 1  # Sam
    assert not Attendance.objects.filter(client=lesson.ava).exists()
    # Ava can still be marked, as an absence told in time
    mark_attendance(session_date=lesson.coming, client=lesson.ava, mark="absent", actor=staff)


def test_a_date_not_started_yet_is_refused(lesson, staff):
    with pytest.raises(BusinessRuleError, match=r"has not started yet.*Tue 10 Mar at 10:00"):
        mark_attendance(session_date=lesson.coming, client=lesson.sam, mark="present", actor=staff)
    with pytest.raises(BusinessRuleError, match="has not started yet"):
        mark_all_present(session_date=lesson.coming, actor=staff)
    assert not Attendance.objects.exists()


def test_a_cancelled_date_is_refused(lesson, staff):
    SessionDate.objects.filter(pk=lesson.today.pk).update(cancelled=True, cancel_reason="Snow")
    with pytest.raises(BusinessRuleError, match="cancelled \\(Snow\\)"):
        mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=staff)
    with pytest.raises(BusinessRuleError, match="cancelled"):
        mark_all_present(session_date=lesson.today, actor=staff)


def test_a_client_not_on_the_roster_is_refused(lesson, staff):
    stranger = ClientFactory(first_name="Stan", last_name="Ger")
    with pytest.raises(BusinessRuleError, match="Stan Ger is not on this date's roster"):
        mark_attendance(session_date=lesson.today, client=stranger, mark="present", actor=staff)
    lesson.sam_sub.end_date = lesson.today.date
    lesson.sam_sub.save()
    with pytest.raises(BusinessRuleError, match="not on this date's roster"):
        mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=staff)


def test_an_unknown_mark_is_refused_by_the_field(lesson, staff):
    with pytest.raises(BusinessRuleError) as caught:
        mark_attendance(session_date=lesson.today, client=lesson.sam, mark="asleep", actor=staff)
    assert caught.value.field == "mark"


def test_only_staff_and_the_sessions_practitioner_may_mark(lesson, therapist, other_therapist):
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=therapist)
    with pytest.raises(PermissionDenied):
        mark_attendance(
            session_date=lesson.today, client=lesson.sam, mark="no_show", actor=other_therapist
        )
    with pytest.raises(PermissionDenied):
        mark_all_present(session_date=lesson.today, actor=other_therapist)
    assert Attendance.objects.get().mark == "present"


def test_the_database_keeps_one_mark_per_client_and_date(lesson, staff):
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=staff)
    with pytest.raises(IntegrityError), transaction.atomic():
        Attendance.objects.create(
            session_date=lesson.today,
            client=lesson.sam,
            subscription=lesson.sam_sub,
            mark="no_show",
            chargeable=True,
            marked_at=timezone.now(),
        )


def test_the_database_refuses_a_charged_in_time_absence(lesson):
    with pytest.raises(IntegrityError), transaction.atomic():
        Attendance.objects.create(
            session_date=lesson.today,
            client=lesson.sam,
            subscription=lesson.sam_sub,
            mark="absent",
            chargeable=True,
            marked_at=timezone.now(),
        )


def test_the_roster_carries_each_clients_mark(lesson, staff):
    mark_attendance(session_date=lesson.today, client=lesson.mia, mark="no_show", actor=staff)
    roster = roster_for(lesson.today)
    marks = {e.client.first_name: e.attendance and e.attendance.mark for e in roster.attending}
    assert marks == {"Ava": None, "Mia": "no_show", "Sam": None}


def test_the_summary_rate_and_last_marks(lesson, staff, therapist, other_therapist):
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=staff)
    summary = attendance_summary(lesson.sam.pk, staff)
    assert summary.rate == 100 and summary.rate_text == "100% present (1 of 1 marked)"
    assert [a.mark for a in summary.recent] == ["present"]
    assert attendance_summary(lesson.sam.pk, therapist).marked == 1
    # another practitioner sees none of the therapist's sessions' marks
    assert attendance_summary(lesson.sam.pk, other_therapist).marked == 0
    assert attendance_summary(lesson.ava.pk, staff).rate is None


# --- "Unenroll from this date only" records whether it was in time --------------------------


def test_an_unenrollment_ahead_of_the_notice_is_in_time(lesson, staff):
    absence = unenroll_from_date(
        subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff
    )
    assert absence.in_time is True and absence.notice_text == "told in time"
    event = ClientEvent.objects.get(client=lesson.sam, kind=ClientEvent.Kind.UNENROLLED_DATE)
    assert "told in time" in event.summary


def test_an_unenrollment_inside_the_notice_is_late(lesson, staff, frozen):
    frozen.move_to(lesson.coming.starts_at - timedelta(hours=23))
    absence = unenroll_from_date(
        subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff
    )
    assert DateAbsence.objects.get(pk=absence.pk).in_time is False
    assert absence.notice_text == "late"
    event = ClientEvent.objects.get(client=lesson.sam, kind=ClientEvent.Kind.UNENROLLED_DATE)
    assert "late: less than 24 hours before its start" in event.summary
    assert roster_for(lesson.coming).absent[0].absence_in_time is False


def test_the_services_notice_hours_decide_in_time(lesson, staff, frozen):
    lesson.service.cancel_notice_hours = 48
    lesson.service.save()
    frozen.move_to(lesson.coming.starts_at - timedelta(hours=30))
    absence = unenroll_from_date(
        subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff
    )
    assert absence.in_time is False

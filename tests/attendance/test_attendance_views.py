"""The roster's attendance marks, "All present", and where marks show: both
renderings, the refusals, and query counts constant in size."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.attendance import mark_attendance
from scheduling.models import Attendance, SessionDate, Subscription
from scheduling.services import unenroll_from_date
from tests.factories import ClientFactory, RelationshipFactory, SubscriptionFactory
from tests.support.web import logged_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def mark_url(lesson, client):
    return reverse("scheduling:attendance-mark", args=[lesson.today.pk, client.pk])


def page_url(lesson, date=None):
    return reverse("scheduling:session-date", args=[(date or lesson.today).pk])


def test_the_roster_offers_the_four_marks_and_all_present(lesson, therapist_client):
    html = therapist_client.get(page_url(lesson)).content.decode()
    for label in ("Present", "Absent (told in time)", "Late-cancelled", "No-show"):
        assert f'{label}<span class="visually-hidden"> for Sam Rivera</span>' in html
    assert "All present" in html
    assert (
        "Cancellation policy: in time 24 h ahead; charged: late cancellations and no-shows" in html
    )


def test_a_date_to_come_offers_no_marks(lesson, therapist_client):
    html = therapist_client.get(page_url(lesson, lesson.coming)).content.decode()
    assert "All present" not in html and "No-show" not in html


def test_another_practitioner_neither_sees_nor_marks(lesson, other_client):
    assert other_client.get(page_url(lesson)).status_code == 404
    response = other_client.post(mark_url(lesson, lesson.sam), {"mark": "present"})
    assert response.status_code == 404
    assert not Attendance.objects.exists()


def test_marking_without_javascript_redirects_with_a_message(lesson, therapist_client):
    response = therapist_client.post(
        mark_url(lesson, lesson.sam), {"mark": "late_cancelled"}, follow=True
    )
    assert response.redirect_chain[-1][0] == page_url(lesson)
    html = response.content.decode()
    assert "Sam Rivera: late-cancelled, charged." in html
    assert Attendance.objects.get().mark == "late_cancelled"


def test_marking_with_htmx_swaps_the_row(lesson, therapist_client):
    response = therapist_client.post(mark_url(lesson, lesson.sam), {"mark": "no_show"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith(f'<li id="row-{lesson.today.pk}-{lesson.sam.pk}"')
    assert "Ava Adams" not in html and 'aria-pressed="true"' in html
    assert ">No-show</span>" in html and ">Charged</span>" in html


def test_a_refused_mark_says_why(lesson, therapist_client):
    response = therapist_client.post(mark_url(lesson, lesson.sam), {"mark": "asleep"}, **HTMX)
    assert "Choose present, absent (told in time), late-cancelled or no-show." in (
        response.content.decode()
    )
    future = reverse("scheduling:attendance-mark", args=[lesson.coming.pk, lesson.sam.pk])
    response = therapist_client.post(future, {"mark": "present"}, follow=True)
    assert "has not started yet" in response.content.decode()
    assert not Attendance.objects.exists()


def test_all_present_both_renderings(lesson, therapist_client):
    url = reverse("scheduling:attendance-all-present", args=[lesson.today.pk])
    response = therapist_client.post(url, **HTMX)
    html = response.content.decode()
    assert html.strip().startswith(f'<section id="roster-{lesson.today.pk}"')
    assert "3 marked present." in html
    response = therapist_client.post(url, follow=True)
    assert "Everyone attending has a mark already: nothing changed." in response.content.decode()
    assert Attendance.objects.filter(mark="present").count() == 3


def test_get_on_a_mark_is_refused(lesson, therapist_client):
    assert therapist_client.get(mark_url(lesson, lesson.sam)).status_code == 405


def test_the_profile_shows_the_rate_and_the_last_marks(lesson, therapist, staff_client):
    mark_attendance(
        session_date=lesson.today, client=lesson.sam, mark="late_cancelled", actor=therapist
    )
    html = staff_client.get(reverse("clients:detail", args=[lesson.sam.pk])).content.decode()
    assert "0% present (0 of 1 marked)" in html
    assert ">Late-cancelled</span>" in html and ">Charged</span>" in html


def test_the_relationship_page_shows_the_attendees_rate(lesson, therapist, staff_client):
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=therapist)
    html = staff_client.get(lesson.third_party.get_absolute_url()).content.decode()
    assert "100% present (1 of 1 marked)" in html


def _more_clients(lesson, count):
    for n in range(count):
        client = ClientFactory(first_name=f"Extra{n}", last_name="Person")
        SubscriptionFactory(relationship=RelationshipFactory(payer=client), session=lesson.session)
        mark_attendance(
            session_date=lesson.today,
            client=client,
            mark="present",
            actor=lesson.session.practitioner,
        )


def _count(http, url):
    http.get(url)  # warm: the session and the user's first lookups
    with CaptureQueriesContext(connection) as queries:
        assert http.get(url).status_code == 200
    return len(queries)


def test_the_session_date_page_runs_the_same_queries_whatever_the_roster(lesson, staff_client):
    lesson.session.capacity = 20
    lesson.session.save()
    _more_clients(lesson, 1)
    small = _count(staff_client, page_url(lesson))
    _more_clients(lesson, 8)
    assert _count(staff_client, page_url(lesson)) == small


def test_the_profile_runs_the_same_queries_whatever_the_marks(lesson, therapist, staff_client):
    url = reverse("clients:detail", args=[lesson.sam.pk])
    Subscription.objects.filter(pk=lesson.sam_sub.pk).update(
        first_date=lesson.today.date - timedelta(weeks=20)
    )
    mark_attendance(session_date=lesson.today, client=lesson.sam, mark="present", actor=therapist)
    small = _count(staff_client, url)
    for weeks in range(1, 13):
        past = SessionDate.objects.create(
            session=lesson.session,
            date=lesson.today.date - timedelta(weeks=weeks),
            starts_at=lesson.today.starts_at - timedelta(weeks=weeks),
            ends_at=lesson.today.ends_at - timedelta(weeks=weeks),
        )
        mark_attendance(session_date=past, client=lesson.sam, mark="no_show", actor=therapist)
    assert _count(staff_client, url) == small


def test_the_roster_says_whether_an_absence_was_told_in_time(lesson, staff, frozen):
    frozen.move_to(lesson.coming.starts_at - timedelta(hours=2))
    unenroll_from_date(subscription=lesson.sam_sub, session_date=lesson.coming, actor=staff)
    html = logged_in(staff).get(page_url(lesson, lesson.coming)).content.decode()
    assert "Absent by request, late" in html

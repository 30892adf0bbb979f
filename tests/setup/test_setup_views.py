"""The setup pages (staff only): forms that re-show what was typed with the
service's message by its field, the end-of-session confirmation as a page and as
an htmx fragment, who may reach what, and query counts constant in size."""

import re
from datetime import date, time

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.models import Room, Service, Session, SetupChange, Subscription
from scheduling.services import generate_session_dates
from tests.factories import (
    ClientFactory,
    RelationshipFactory,
    RoomFactory,
    ServiceFactory,
    SessionFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
PAID_BY = re.compile(rb"Kit Kid, paid by\s+Pat Payer")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel("2026-12-02 08:00 +00:00", tick=False):
        yield


def session_form(**changes) -> dict:
    return {
        "service": ServiceFactory().pk,
        "practitioner": UserFactory(first_name="Anna", last_name="Bell").pk,
        "room": RoomFactory().pk,
        "start_time": "17:00",
        "duration_minutes": "30",
        "capacity": "2",
        "first_date": "2026-12-07",
        "last_date": "",
        **changes,
    }


def test_the_nav_has_setup_for_staff_only(staff_client, therapist_client):
    assert b">Setup</span></a>" in staff_client.get(reverse("scheduling:schedule")).content
    assert b">Setup</span></a>" not in therapist_client.get(reverse("scheduling:schedule")).content


def test_a_service_is_added_and_a_monthly_one_needs_its_sessions(staff_client):
    url = reverse("scheduling:setup-service-new")
    page = staff_client.get(url)
    assert b"A new price applies to new subscriptions only" in page.content
    data = {"name": "Choir", "billing_basis": "monthly", "price": "40", "sessions_per_month": ""}
    refused = staff_client.post(url, data)
    assert refused.status_code == 200
    assert b"how many sessions a month its price covers" in refused.content
    assert b'value="Choir"' in refused.content  # what was typed stays
    done = staff_client.post(url, {**data, "sessions_per_month": "4"})
    assert done.status_code == 302
    assert Service.objects.get(name="Choir").sessions_per_month == 4


def test_a_service_is_edited_and_retired(staff_client):
    service = ServiceFactory(name="Piano")
    edit = reverse("scheduling:setup-service-edit", args=[service.pk])
    data = {"name": "Piano", "billing_basis": "per_session", "price": "35"}
    assert staff_client.post(edit, data).status_code == 302
    page = staff_client.get(edit)
    assert "Price: 30.00 → 35.00".encode() in page.content  # the history
    retire = reverse("scheduling:setup-service-active", args=[service.pk])
    assert staff_client.get(retire).status_code == 405
    staff_client.post(retire, {"active": "0"})
    assert not Service.objects.get(pk=service.pk).is_active
    listed = staff_client.get(reverse("scheduling:setup-services"))
    assert b"Bring back Piano" in listed.content
    new_session = staff_client.get(reverse("scheduling:setup-session-new"))
    assert b">Piano</option>" not in new_session.content  # not offered any more


def test_a_room_name_taken_is_shown_by_the_field(staff_client):
    RoomFactory(name="Studio 1")
    refused = staff_client.post(reverse("scheduling:setup-room-new"), {"name": "studio 1"})
    assert b"A room named studio 1 exists already." in refused.content
    assert (
        staff_client.post(reverse("scheduling:setup-room-new"), {"name": "Hall"}).status_code == 302
    )
    hall = Room.objects.get(name="Hall")
    staff_client.post(reverse("scheduling:setup-room-active", args=[hall.pk]), {"active": "0"})
    assert not Room.objects.get(pk=hall.pk).is_active


def test_a_session_is_created_and_its_dates_are_on_the_schedule(staff_client):
    response = staff_client.post(reverse("scheduling:setup-session-new"), session_form())
    session = Session.objects.get()
    assert response["Location"] == reverse("scheduling:setup-session", args=[session.pk])
    assert session.weekday == 0 and session.dates.count() == 26
    page = staff_client.get(response["Location"])
    assert b"Session created" in page.content
    week = staff_client.get(reverse("scheduling:schedule"), {"date": "2026-12-07"})
    assert b"Anna Bell" in week.content


def test_a_one_off_appointment_is_one_date(staff_client):
    staff_client.post(reverse("scheduling:setup-session-new"), session_form(one_off="on"))
    session = Session.objects.get()
    assert session.last_date == session.first_date == date(2026, 12, 7)
    assert session.dates.count() == 1


def test_a_clash_is_refused_with_the_form_as_typed(staff_client):
    studio = RoomFactory(name="Studio 1")
    staff_client.post(reverse("scheduling:setup-session-new"), session_form(room=studio.pk))
    again = staff_client.post(
        reverse("scheduling:setup-session-new"),
        session_form(room=studio.pk, start_time="17:15", capacity="7"),
    )
    assert again.status_code == 200
    assert b"Studio 1 is taken on Mon 7 Dec 2026 at 17:00" in again.content
    assert b'value="7"' in again.content
    assert Session.objects.count() == 1


def test_a_session_is_changed_from_a_date(staff_client):
    session = SessionFactory(first_date=date(2026, 12, 7), weekday=0, start_time=time(17))
    url = reverse("scheduling:setup-session-edit", args=[session.pk])
    assert b'value="17:00"' in staff_client.get(url).content
    data = {
        "effective_date": "2026-12-14",
        "start_time": "18:00",
        "duration_minutes": "30",
        "practitioner": session.practitioner_id,
        "room": session.room_id,
        "capacity": "2",
    }
    assert staff_client.post(url, data).status_code == 302
    assert Session.objects.get(pk=session.pk).start_time == time(18)
    page = staff_client.get(reverse("scheduling:setup-session", args=[session.pk]))
    assert "From Mon 14 Dec 2026: Time: 17:00 → 18:00".encode() in page.content


def end_world():
    session = SessionFactory(first_date=date(2026, 12, 7), weekday=0)
    payer = ClientFactory(first_name="Pat", last_name="Payer")
    child = ClientFactory(first_name="Kit", last_name="Kid")
    SubscriptionFactory(
        session=session, relationship=RelationshipFactory(payer=payer, attendee=child)
    )

    generate_session_dates(session=session, until=date(2027, 3, 1))
    return session


def test_ending_a_session_shows_who_it_reaches_then_ends_it(staff_client):
    session = end_world()
    url = reverse("scheduling:setup-session-end", args=[session.pk])
    assert b"See who this reaches" in staff_client.get(url).content
    preview = staff_client.post(url, {"last_date": "2026-12-21"})
    assert PAID_BY.search(preview.content)
    assert b"<html" in preview.content
    assert Subscription.objects.get().end_date is None
    fragment = staff_client.post(url, {"last_date": "2026-12-21"}, headers=HX)
    assert PAID_BY.search(fragment.content)
    assert b"<html" not in fragment.content and b'id="end"' in fragment.content
    done = staff_client.post(url, {"last_date": "2026-12-21", "confirm": "1"}, headers=HX)
    assert done["HX-Redirect"] == reverse("scheduling:setup-session", args=[session.pk])
    assert Subscription.objects.get().end_date == date(2026, 12, 22)
    again = staff_client.post(url, {"last_date": "2026-12-21", "confirm": "1"})
    assert again.status_code == 302  # a double submit ends nothing more
    assert SetupChange.objects.filter(session=session).count() == 1


def test_ending_in_the_past_is_refused_by_the_field(staff_client):
    session = end_world()
    url = reverse("scheduling:setup-session-end", args=[session.pk])
    refused = staff_client.post(url, {"last_date": "2026-11-30"}, headers=HX)
    assert b"The last date cannot be in the past" in refused.content


def test_a_practitioner_is_refused_every_setup_page(therapist, therapist_client):
    session = SessionFactory(practitioner=therapist)
    before = Service.objects.values_list("name", "is_active").get(pk=session.service_id)
    for name in ("setup-sessions", "setup-session-new", "setup-services", "setup-rooms"):
        assert therapist_client.get(reverse(f"scheduling:{name}")).status_code == 403
    assert (
        therapist_client.post(reverse("scheduling:setup-service-new"), {"name": "X"}).status_code
        == 403
    )
    for name, pk in (
        ("setup-session", session.pk),
        ("setup-session-edit", session.pk),
        ("setup-session-end", session.pk),
        ("setup-service-edit", session.service_id),
        ("setup-room-edit", session.room_id),
    ):
        assert therapist_client.get(reverse(f"scheduling:{name}", args=[pk])).status_code == 404
    retire = reverse("scheduling:setup-service-active", args=[session.service_id])
    assert therapist_client.post(retire, {"active": "0"}).status_code == 404
    assert Service.objects.values_list("name", "is_active").get(pk=session.service_id) == before
    assert not Service.objects.filter(name="X").exists()


@pytest.mark.parametrize(
    "name", ["setup-sessions", "setup-services", "setup-rooms", "setup-session-new"]
)
def test_the_list_pages_run_as_many_queries_for_3_or_30_rows(staff_client, name):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(reverse(f"scheduling:{name}")).status_code == 200
        return len(queries)

    for _ in range(3):
        SessionFactory()
    count()  # the first request warms the login session up
    few = count()
    for _ in range(27):
        SessionFactory(practitioner=UserFactory())
    assert count() == few
